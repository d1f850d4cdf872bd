"""/docs (Swagger UI) and /redoc (ReDoc) from this service's own files, no CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsdelivr (and ReDoc's fonts from Google), so
without internet they are blank. The files are vendored: copied from the npm registry's tarballs
at the versions below into `api_docs_vendor/<name>@<version>/` and committed (3 MB), so a fresh
clone serves the pages with no fetch at all, unlike GraphiQL's assets (`assets.py`), which are
fetched on first `serve`. `VENDORED` pins each file's sha256 and
`tests/browser/test_api_docs.py` checks them. To upgrade: `npm pack swagger-ui-dist@X redoc@Y`,
copy the same files out of `package/` into a folder of the new version, update `VENDORED` (the
tarball's `npm view <name>@<version> dist.integrity` and the files' `sha256sum`), and delete the
old folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

VENDOR_DIR = Path(__file__).with_name("api_docs_vendor")
STATIC_PREFIX = "/api-docs/static"

# The pages' inline start-up script is FastAPI's, hence 'unsafe-inline' for scripts; everything
# else is same-origin only, so a page that would reach for a CDN fails loudly in the browser test.
# ReDoc runs its search index in a worker it creates from a blob.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class VendoredPackage:
    name: str
    version: str
    integrity: str  # the npm registry's dist.integrity of the tarball the files came from
    files: dict[str, str]  # file -> sha256

    @property
    def folder(self) -> str:
        return f"{self.name}@{self.version}"

    def url(self, file: str) -> str:
        if file not in self.files:
            raise KeyError(f"{file} is not vendored from {self.name}")
        return f"{STATIC_PREFIX}/{self.folder}/{file}"


SWAGGER_UI = VendoredPackage(
    name="swagger-ui-dist",
    version="5.35.0",
    integrity="sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
    files={
        "swagger-ui-bundle.js": "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2",
        "swagger-ui.css": "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d",
        "favicon-32x32.png": "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
        "LICENSE": "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
        "NOTICE": "0d20d1adef18aee3f40dd258172155521ce702ac445cb5f7b7d60ed32dad2fb2",
        "swagger-ui-bundle.js.LICENSE.txt": (
            "37eb6e7e59aed57b2c1acf076574b818ea07b74265717e0bd67b59e0baf9abbb"
        ),
    },
)
REDOC = VendoredPackage(
    name="redoc",
    version="2.5.4",
    integrity="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
    files={
        "redoc.standalone.js": "dcaf76612bc4a3fbcc923a8966dee2f6146a5f32e5ce1b6f02dd60cbbf89500b",
        "LICENSE": "d3026d549cf68ab7355bcfa85877bf8f845b3334a7efbfdc63936432fb34ff0e",
        "redoc.standalone.js.LICENSE.txt": "eed602ec32e00b2b9df1984fbcc26a687b1b3193ec01961389c4b8439e6edf73",
    },
)
VENDORED = (SWAGGER_UI, REDOC)


def _page(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def mount_api_docs(app: FastAPI) -> None:
    """/docs and /redoc over the app's OpenAPI document; create the app with docs_url=None and
    redoc_url=None so that FastAPI's CDN pages are not registered first."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} - REST API"
    app.mount(STATIC_PREFIX, StaticFiles(directory=VENDOR_DIR), name="api-docs-static")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return _page(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=SWAGGER_UI.url("swagger-ui-bundle.js"),
                swagger_css_url=SWAGGER_UI.url("swagger-ui.css"),
                swagger_favicon_url=SWAGGER_UI.url("favicon-32x32.png"),
                # Swagger UI's default sends the document to validator.swagger.io for a badge.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _page(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=REDOC.url("redoc.standalone.js"),
                redoc_favicon_url=SWAGGER_UI.url("favicon-32x32.png"),
                with_google_fonts=False,
            )
        )
