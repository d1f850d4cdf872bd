"""The offline GraphiQL page: only same-origin assets, served by the service itself."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.ide import prepare_ide_assets
from app.ide.assets import DEFAULT_VENDOR_DIR, AssetFetchError, check_integrity, ensure_assets, load_lock
from app.main import create_app
from app.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_ide_assets.py"
HTML = {"Accept": "text/html,application/xhtml+xml"}
AppClient = Callable[..., Any]


@pytest.fixture(scope="module", autouse=True)
def ide_assets() -> None:
    ensure_assets()  # from the npm registry, once; pinned versions and integrity in the lock


@pytest.fixture
def client(database_url: str) -> AppClient:
    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = Settings(database_url=database_url, _env_file=None, **overrides)  # type: ignore[call-arg]
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                yield http

    return make


def _asset_urls(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]*)"', page)


async def test_the_demo_page_uses_only_local_assets_and_prefills_the_demo_credentials(
    client: AppClient,
) -> None:
    async with client(demo_mode=True) as http:
        # when a browser opens /graphql in demo mode
        response = await http.get("/graphql", headers=HTML)

        # then the page comes from this service, with nothing from another host
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page = response.text
        assert "unpkg" not in page and "cdn" not in page.lower()
        assert not re.search(r"https?://", page)
        urls = _asset_urls(page)
        assert urls and all(url.startswith(("/ide/static/", "data:")) for url in urls), urls
        # and it opens with the demo admin's credentials and a demo wallet query
        assert '\\"Authorization\\": \\"Basic ZGVtby1hZG1pbjpkZW1vLWFkbWluLXNlY3JldA==\\"' in page
        assert "query DemoWallet" in page and "customer(id: 566881933)" in page


async def test_every_asset_of_the_page_is_served_with_its_content_type(client: AppClient) -> None:
    async with client(demo_mode=True) as http:
        page = (await http.get("/graphql", headers=HTML)).text
        local = [url for url in _asset_urls(page) if url.startswith("/")]
        lock = load_lock()
        for package in lock.packages:
            assert any(f"/{package.name}@{package.version}/" in url for url in local), package
        for url in local:
            response = await http.get(url)
            assert response.status_code == 200, url
            expected = "text/css" if url.endswith(".css") else "text/javascript"
            assert response.headers["content-type"].startswith(expected), (url, response.headers)
            assert len(response.content) > 100


async def test_graphiql_js_is_sent_gzipped(client: AppClient) -> None:
    async with client(demo_mode=True) as http:
        path = f"/ide/static/{load_lock().url_path('graphiql', 'graphiql.min.js')}"
        response = await http.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"


async def test_the_ide_is_off_by_default_outside_demo_mode(client: AppClient) -> None:
    async with client(demo_mode=False) as http:
        page = await http.get("/graphql", headers=HTML)
        asset = await http.get("/ide/static/ide.js")
    assert page.status_code == 401
    assert asset.status_code == 404


async def test_an_enabled_ide_outside_demo_mode_prefills_no_credentials(client: AppClient) -> None:
    async with client(demo_mode=False, graphql_ide=True) as http:
        response = await http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert "Authorization" in response.text  # the explanation in the default query
    assert "Basic ZGVtby1hZG1pbj" not in response.text
    assert '"defaultHeaders": ""' in response.text


async def test_assets_that_cannot_be_fetched_give_one_warning_and_a_503_page_that_says_how_to_fetch_them(
    client: AppClient,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a registry that cannot be reached (port 9 on loopback: connection refused)
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://127.0.0.1:9")
    overrides: dict[str, Any] = {"demo_mode": True, "ide_assets_dir": tmp_path / "empty"}
    # when `serve` prepares the assets before its workers start
    prepare_ide_assets(Settings(database_url=database_url, _env_file=None, **overrides))  # type: ignore[call-arg]
    # then it warns, once
    assert capsys.readouterr().err.count("GraphiQL assets could not be fetched") == 1
    # and a worker's start-up neither fetches again nor warns again, and its page says how
    async with client(**overrides) as http:
        response = await http.get("/graphql", headers=HTML)
    assert "could not be fetched" not in capsys.readouterr().err
    assert not (tmp_path / "empty").exists()
    assert response.status_code == 503
    assert "scripts/fetch_ide_assets.py" in response.text


def test_the_fetch_script_uses_the_folder_the_server_reads_from(tmp_path: Path) -> None:
    # given the assets present in the default folder (the module's fixture), a copy of them in
    # another folder, an empty third folder, and no registry
    present, empty = tmp_path / "present", tmp_path / "empty"
    shutil.copytree(DEFAULT_VENDOR_DIR, present)
    environment = os.environ | {"NPM_CONFIG_REGISTRY": "http://127.0.0.1:9"}

    def script(folder: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(SCRIPT)],
            env=environment | {"PROMO_WALLET_IDE_ASSETS_DIR": str(folder)},
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    # when the script runs with PROMO_WALLET_IDE_ASSETS_DIR set, as the server would be
    found, missing = script(present), script(empty)
    # then it checks that folder, not the default one
    assert found.returncode == 0 and found.stdout.strip() == f"IDE assets already present in {present}"
    assert missing.returncode == 1 and "could not download" in missing.stdout, missing.stdout


def test_a_tarball_that_does_not_match_its_pinned_integrity_is_refused() -> None:
    integrity = load_lock().package("react").integrity
    with pytest.raises(AssetFetchError, match="integrity mismatch"):
        check_integrity(b"not react", integrity)
