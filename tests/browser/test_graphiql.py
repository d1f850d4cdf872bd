"""GraphiQL in a real browser: Debian's headless Chromium, driven by Playwright, with every
network request refused except those to the loopback server under test."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
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


def _seed_demo(database_url: str) -> None:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]

    async def seed() -> None:
        try:
            await seed_demo(SqlUnitOfWorkFactory(database))
        finally:
            await database.dispose()

    asyncio.run(seed())


def _watched_page(context: Any, failures: list[str], blocked: list[str], console_errors: list[str]) -> Any:
    """A page of `context` that may reach the loopback server only, every failure noted."""

    def only_loopback(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("requestfailed", lambda r: failures.append(f"{r.url}: {r.failure}"))
    page.on("response", lambda r: r.status >= 400 and failures.append(f"HTTP {r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
    page.on("pageerror", lambda e: console_errors.append(f"page error: {e}"))
    return page


def _run_in_editor(page: Any, document: str) -> None:
    """Replace the query editor's text with `document` and run it."""
    page.click(".graphiql-query-editor .CodeMirror-code")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(document)  # replaces the selected demo query
    assert _editor_text(page, ".graphiql-query-editor .CodeMirror") == document
    # GraphiQL takes the operation name from the editor after a 150 ms debounce; running
    # sooner sends the previous one ("DemoWallet") and the server refuses it.
    page.keyboard.press("Shift+Control+P")  # prettify, for a readable screenshot
    page.wait_for_timeout(600)
    page.keyboard.press("Escape")  # close the autocomplete hint the edit opened
    page.click("button.graphiql-execute-button")


def _editor_text(page: object, selector: str) -> str:
    return page.evaluate(  # type: ignore[attr-defined,no-any-return]
        "(s) => document.querySelector(s).CodeMirror.getValue()", selector
    )


@contextmanager
def _ide_in_chromium(database_url: str) -> Iterator[tuple[Any, str]]:
    """The IDE opened in headless Chromium on a demo server: (page, the server's base URL). After
    the block: no failed request, no request off loopback, no console error."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    ensure_assets()
    _seed_demo(database_url)
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
            page = _watched_page(context, failures, blocked, console_errors)
            page.goto(f"{base_url}/graphql", wait_until="networkidle")
            page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=20_000)
            yield page, base_url
        finally:
            browser.close()
    assert failures == [], failures
    assert blocked == [], f"the page asked for non-loopback URLs: {blocked}"
    assert console_errors == [], console_errors


def test_graphiql_runs_a_typed_wallet_query_offline_in_headless_chromium(
    database_url: str,
) -> None:
    # given the IDE's assets, the demo data and a real server in demo mode
    # when the IDE opens
    with _ide_in_chromium(database_url) as (page, _):
        # then it opened with the demo query and the demo admin's credentials
        assert "query DemoWallet" in _editor_text(page, ".graphiql-query-editor .CodeMirror")
        page.wait_for_selector(".graphiql-editor-tool .CodeMirror", state="attached")
        headers = page.evaluate(
            """() => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
                   .map(e => e.CodeMirror.getValue()).join('\\n')"""
        )
        assert '"Authorization": "Basic ' in headers

        # when a wallet query is typed into the editor and run
        _run_in_editor(page, WALLET_QUERY)
        assert "TypedWallet {\n" in _editor_text(page, ".graphiql-query-editor .CodeMirror")

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


WALLET_CHANGED = (
    "subscription LiveWallet { walletChanged(customerId: 5668819330) { promotionId status "
    "redemptionsAllowed promotion { name } } }"
)
CREATE_PROMOTION = """mutation($input: CreatePromotionInput!) { createPromotion(input: $input) {
  ... on CreatePromotionSuccess { promotion { id } } } }"""
NEW_PROMOTION = {
    "input": {
        "name": "Live in GraphiQL",
        "type": "CUSTOMER",
        "startDate": 1700000000000,
        "endDate": 4102444800000,
    }
}
ISSUE = """mutation($p: String!) { issuePromotion(promotionId: $p, contextId: "graphiql-live",
  customerIds: [5668819330]) { __typename } }"""


def test_graphiql_runs_a_subscription_that_shows_a_change_made_elsewhere(
    database_url: str,
) -> None:
    # given the IDE, open on a demo server with the demo admin's credentials in its Headers tab
    with _ide_in_chromium(database_url) as (page, base_url):
        # when it runs walletChanged for the demo customer, and another client then issues a
        # new promotion to that customer
        _run_in_editor(page, WALLET_CHANGED)
        admin = httpx.Client(base_url=base_url, auth=("demo-admin", "demo-admin-secret"), timeout=30)

        def issue_a_new_promotion() -> None:
            created = admin.post("/graphql", json={"query": CREATE_PROMOTION, "variables": NEW_PROMOTION})
            promotion = created.json()["data"]["createPromotion"]["promotion"]["id"]
            issued = admin.post("/graphql", json={"query": ISSUE, "variables": {"p": promotion}})
            assert issued.json()["data"]["issuePromotion"]["__typename"] == "IssuePromotionSuccess"

        shown = False
        # Again until it is shown: the subscription starts following a moment after it is sent.
        for _ in range(20):
            issue_a_new_promotion()
            shown = page.evaluate(
                """() => { const e = document.querySelector('.graphiql-response .CodeMirror');
                           return !!e && e.CodeMirror.getValue().includes('Live in GraphiQL'); }"""
            )
            if shown:
                break
            page.wait_for_timeout(500)
        admin.close()

        # then the result pane shows the pushed entry
        assert shown, _editor_text(page, ".graphiql-response .CodeMirror")
        result = _editor_text(page, ".graphiql-response .CodeMirror")
        assert '"walletChanged"' in result and '"errors"' not in result, result
