"""The GraphiQL page, served by /graphql itself with only same-origin assets.

Strawberry's own page loads GraphiQL and React from unpkg.com, which a closed network cannot
reach; `OfflineGraphQLRouter` keeps Strawberry's routing (the page on GET with Accept: text/html)
and renders this page instead. In demo mode it opens with the demo admin client's credentials in
the Headers editor and a query of a demo customer's wallet.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from strawberry.fastapi import GraphQLRouter

from app.ide.assets import Lock, assets_present, load_lock, vendor_dir
from app.settings import Settings

STATIC_PREFIX = "/ide/static"
STATIC_DIR = Path(__file__).with_name("static")

# Same-origin only. GraphiQL sets inline styles, hence 'unsafe-inline' for styles (not scripts).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

GENERIC_QUERY = """# Promo Wallet Gateway
#
# Every operation needs credentials: put an API client's username and secret in the
# Headers tab below, e.g. {"Authorization": "Basic <base64 of username:secret>"},
# or a token from POST /oauth/token as {"Authorization": "Bearer <token>"}.
#
# Run a query with Ctrl-Enter or the ▶ button.

query Promotions {
  promotions(first: 10) {
    totalCount
    edges { node { id name type status } }
  }
}
"""


def _demo_query(customer_id: int, org_id: int) -> str:
    return f"""# Promo Wallet Gateway: demo org {org_id}
#
# The Headers tab below holds the demo admin client's credentials
# (demo-admin, scopes admin, wallet:read, wallet:write).
# Run this query with Ctrl-Enter or the ▶ button to see a demo customer's wallet.

query DemoWallet {{
  customer(id: {customer_id}) {{
    id
    email
    wallet(first: 10) {{
      totalCount
      edges {{
        node {{
          status
          validTillISO
          redemptionsAllowed
          redemptionsUsed
          promotion {{ name type }}
        }}
      }}
    }}
  }}
}}
"""


def ide_config(settings: Settings, endpoint: str = "/graphql") -> dict[str, Any]:
    if not settings.demo_mode:
        return {"endpoint": endpoint, "defaultQuery": GENERIC_QUERY, "defaultHeaders": ""}
    from app.services.demo import DEMO_ADMIN, DEMO_CUSTOMERS, DEMO_ORG_ID

    basic = base64.b64encode(f"{DEMO_ADMIN[0]}:{DEMO_ADMIN[1]}".encode()).decode()
    return {
        "endpoint": endpoint,
        "defaultQuery": _demo_query(DEMO_CUSTOMERS[0].id, DEMO_ORG_ID),
        "defaultHeaders": json.dumps({"Authorization": f"Basic {basic}"}, indent=2),
    }


def _json_for_script(value: dict[str, Any]) -> str:
    # Inside <script type="application/json"> only "</" could end the element early.
    return json.dumps(value).replace("</", "<\\/")


def render_page(settings: Settings, lock: Lock | None = None, endpoint: str = "/graphql") -> str:
    lock = lock or load_lock()

    def asset(name: str, file: str) -> str:
        return html.escape(f"{STATIC_PREFIX}/{lock.url_path(name, file)}")

    config = _json_for_script(ide_config(settings, endpoint))
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Promo Wallet Gateway · GraphiQL</title>
    <link rel="icon" href="data:,">
    <link rel="stylesheet" href="{asset("graphiql", "graphiql.min.css")}">
    <link rel="stylesheet" href="{STATIC_PREFIX}/ide.css">
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
    <script type="application/json" id="ide-config">{config}</script>
    <script src="{asset("react", "umd/react.production.min.js")}"></script>
    <script src="{asset("react-dom", "umd/react-dom.production.min.js")}"></script>
    <script src="{asset("graphiql", "graphiql.min.js")}"></script>
    <script src="{STATIC_PREFIX}/ide.js"></script>
  </body>
</html>
"""


MISSING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GraphiQL assets missing</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/ide/static/ide.css"></head>
<body><div class="ide-missing"><h1>GraphiQL's assets are not installed</h1>
<p>The IDE serves GraphiQL and React from this service, at the versions pinned in
<code>app/ide/assets.lock.json</code>. Fetch them from the npm registry with
<code>python scripts/fetch_ide_assets.py</code> (<code>promo-wallet serve</code> does this by itself),
then reload this page. GraphQL requests to this endpoint work without them.</p></div></body></html>
"""


def ide_response(settings: Settings) -> HTMLResponse:
    headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"}
    lock = load_lock()
    if not assets_present(vendor_dir(settings), lock):
        return HTMLResponse(MISSING_PAGE, status_code=503, headers=headers)
    return HTMLResponse(render_page(settings, lock), headers=headers)


class OfflineGraphQLRouter(GraphQLRouter):
    """Strawberry's router, with GraphiQL rendered from this service's own assets."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return ide_response(request.app.state.settings)


def mount_ide_assets(app: FastAPI, settings: Settings) -> None:
    """Serve /ide/static/ (the page's script and style) and /ide/static/vendor/ (GraphiQL, React),
    gzip-compressed: graphiql.min.js is 3.5 MB raw, under 1 MB compressed. Nothing is fetched
    here: this runs in every worker, so `promo-wallet serve` fetches them once before the workers
    start (`prepare_ide_assets`), and the page says how to fetch them if they are missing."""
    if not settings.graphql_ide:
        return
    vendor = GZipMiddleware(StaticFiles(directory=vendor_dir(settings), check_dir=False))
    app.mount(f"{STATIC_PREFIX}/vendor", vendor, name="ide-vendor")
    app.mount(STATIC_PREFIX, GZipMiddleware(StaticFiles(directory=STATIC_DIR)), name="ide-static")
