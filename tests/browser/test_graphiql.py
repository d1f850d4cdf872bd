"""GraphiQL in a real browser: Debian's headless Chromium, driven by Playwright, with every
network request refused except those to the loopback server under test."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.ide.assets import ensure_assets
from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services.demo import seed_demo
from app.settings import Settings
from tests.support import ROOT, live_server

CHROMIUM = os.environ.get("PROMO_WALLET_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "artifacts" / "graphiql.png"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The browser resolves no host name except the loopback server's address.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
WALLET_QUERY = (
    "query TypedWallet { wallet(customerId: 5668819330) { totalCount "
    "edges { node { customerId status promotion { name type } } } } }"
)

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)


def _editor_text(page: object, selector: str) -> str:
    return page.evaluate(  # type: ignore[attr-defined,no-any-return]
        "(s) => document.querySelector(s).CodeMirror.getValue()", selector
    )


def test_graphiql_runs_a_typed_wallet_query_offline_in_headless_chromium(
    database_url: str, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")

    # given the IDE's assets, the demo data and a real server in demo mode
    ensure_assets()
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]

    async def seed() -> None:
        try:
            await seed_demo(SqlUnitOfWorkFactory(database))
        finally:
            await database.dispose()

    asyncio.run(seed())
    failures: list[str] = []
    blocked: list[str] = []
    console_errors: list[str] = []

    with (
        live_server(database_url, PROMO_WALLET_DEMO_MODE="true") as base_url,
        sync_api.sync_playwright() as pw,
    ):
        # Playwright starts Chromium with a new, empty profile directory of its own.
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})

            def only_loopback(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                host = urlsplit(url).hostname or ""
                if url.startswith(("data:", "blob:")) or host in LOOPBACK:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    blocked.append(url)
                    route.abort()  # type: ignore[attr-defined]

            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("requestfailed", lambda r: failures.append(f"{r.url}: {r.failure}"))
            page.on("response", lambda r: r.status >= 400 and failures.append(f"HTTP {r.status} {r.url}"))
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))

            # when the IDE opens
            page.goto(f"{base_url}/graphql", wait_until="networkidle")
            page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=20_000)

            # then it opened with the demo query and the demo admin's credentials
            assert "query DemoWallet" in _editor_text(page, ".graphiql-query-editor .CodeMirror")
            page.wait_for_selector(".graphiql-editor-tool .CodeMirror", state="attached")
            headers = page.evaluate(
                """() => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
                       .map(e => e.CodeMirror.getValue()).join('\\n')"""
            )
            assert '"Authorization": "Basic ' in headers

            # when a wallet query is typed into the editor and run
            page.click(".graphiql-query-editor .CodeMirror-code")
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(WALLET_QUERY)  # replaces the selected demo query
            assert _editor_text(page, ".graphiql-query-editor .CodeMirror") == WALLET_QUERY
            # GraphiQL takes the operation name from the editor after a 150 ms debounce; running
            # sooner sends the previous one ("DemoWallet") and the server refuses it.
            page.keyboard.press("Shift+Control+P")  # prettify, for a readable screenshot
            page.wait_for_timeout(600)
            page.keyboard.press("Escape")  # close the autocomplete hint the edit opened
            assert "TypedWallet {\n" in _editor_text(page, ".graphiql-query-editor .CodeMirror")
            page.click("button.graphiql-execute-button")

            # then the result pane shows the demo customer's wallet
            page.wait_for_function(
                """() => { const e = document.querySelector('.graphiql-response .CodeMirror');
                           return e && e.CodeMirror.getValue().includes('totalCount'); }""",
                timeout=20_000,
            )
            result = _editor_text(page, ".graphiql-response .CodeMirror")
            assert '"totalCount": 2' in result, result
            assert "Welcome 200 off" in result and "Festive reward" in result, result
            assert '"errors"' not in result, result

            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT))
        finally:
            browser.close()

    assert failures == [], failures
    assert blocked == [], f"the page asked for non-loopback URLs: {blocked}"
    assert console_errors == [], console_errors
