"""/docs (Swagger UI) and /redoc (ReDoc) in headless Chromium with every request refused except
those to the loopback server under test: both render the REST operations from vendored files
alone (issue #21: they used to be blank pages without internet, loaded from a CDN)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.ide.api_docs import VENDOR_DIR, VENDORED
from tests.browser.test_graphiql import CHROMIUM, CHROMIUM_ARGS, LOOPBACK
from tests.support import ROOT, live_server

SCREENSHOTS = ROOT / "artifacts"
# ReDoc's "API docs by Redocly" footer has an <img> from its CDN, with no option to leave it out:
# the page's Content-Security-Policy (img-src 'self' data:) stops it inside the browser, so it is
# never requested (the route below, which sees every request that would leave, sees none).
REDOC_LOGO_REFUSED_BY_CSP = "https://cdn.redoc.ly/redoc/logo-mini.svg: csp"
browser_test = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(),
    reason=f"Chromium not found at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
)


def test_the_vendored_files_are_the_pinned_ones() -> None:
    for package in VENDORED:
        folder = VENDOR_DIR / package.folder
        assert sorted(p.name for p in folder.iterdir()) == sorted(package.files), folder
        for name, sha256 in package.files.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha256, name


@browser_test
@pytest.mark.parametrize(
    ("path", "operation_selector", "summary_text"),
    [
        pytest.param("/docs", ".opblock-summary", "Issue a cart promotion to customers", id="swagger-ui"),
        pytest.param(
            "/redoc", "[data-section-id^='operation/']", "Issue a cart promotion to customers", id="redoc"
        ),
    ],
)
def test_the_api_docs_page_lists_the_rest_operations_offline_in_headless_chromium(
    database_url: str, path: str, operation_selector: str, summary_text: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    failures: list[str] = []
    blocked: list[str] = []
    console_errors: list[str] = []
    with live_server(database_url) as base_url, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 900})

            def only_loopback(route: object) -> None:
                url = route.request.url  # type: ignore[attr-defined]
                if url.startswith(("data:", "blob:")) or (urlsplit(url).hostname or "") in LOOPBACK:
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

            # when the page opens
            page.goto(f"{base_url}{path}", wait_until="networkidle")
            page.wait_for_selector(operation_selector, timeout=30_000)

            # then it lists the REST operations of the OpenAPI document
            operations = page.locator(operation_selector)
            assert operations.count() >= 8, operations.count()
            assert page.locator(f"text={summary_text} >> visible=true").count() >= 1
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"api-docs{path.replace('/', '-')}.png"))
        finally:
            browser.close()

    assert [f for f in failures if f != REDOC_LOGO_REFUSED_BY_CSP] == [], failures
    assert blocked == [], f"the page asked for non-loopback URLs: {blocked}"
    assert [e for e in console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == [], console_errors
