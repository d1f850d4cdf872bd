"""The IDE's third-party assets: GraphiQL and React, fetched from the npm registry at the pinned
versions of `assets.lock.json` and checked against the registry's `dist.integrity` (sha512).

Nothing here is committed except the lock file: `ensure_assets()` downloads each package's tarball
once, verifies it, and extracts only the files the page uses into
`<vendor dir>/<name>@<version>/` (`vendor_dir()`: PROMO_WALLET_IDE_ASSETS_DIR, else
app/ide/static/vendor). A stamp file records which lock the directory was built from, so a
version bump in the lock refetches. `promo-wallet serve` calls `ensure_assets()` when the IDE is
enabled, once, before its workers start; `python scripts/fetch_ide_assets.py` does the same by hand
(`--lock` refreshes the integrity hashes after a version change). The app's own start-up never
fetches: it would run once per worker, concurrently, and warn once per worker.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

logger = logging.getLogger("app.ide")

LOCK_FILE = Path(__file__).with_name("assets.lock.json")
DEFAULT_VENDOR_DIR = Path(__file__).with_name("static") / "vendor"
STAMP = ".lock.json"
TIMEOUT_SECONDS = 60


def vendor_dir(settings: Settings) -> Path:
    """Where the server looks for the assets, hence where they are fetched to."""
    return settings.ide_assets_dir or DEFAULT_VENDOR_DIR


class AssetFetchError(RuntimeError):
    """The registry could not be reached, or a tarball did not match its pinned integrity."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str
    files: tuple[str, ...]

    @property
    def folder(self) -> str:
        return f"{self.name}@{self.version}"

    def tarball_url(self, registry: str) -> str:
        # Scoped packages: @scope/name -> @scope/name/-/name-1.2.3.tgz
        short = self.name.rsplit("/", 1)[-1]
        return f"{registry.rstrip('/')}/{self.name}/-/{short}-{self.version}.tgz"


@dataclass(frozen=True)
class Lock:
    registry: str
    packages: tuple[Package, ...]
    raw: dict[str, Any]

    def package(self, name: str) -> Package:
        return next(p for p in self.packages if p.name == name)

    def url_path(self, name: str, file: str) -> str:
        """The path, under the static mount, of one vendored file (e.g. for the page's <script>)."""
        package = self.package(name)
        if file not in package.files:
            raise KeyError(f"{file} is not vendored from {name}")
        return f"vendor/{package.folder}/{Path(file).name}"


def load_lock(path: Path = LOCK_FILE) -> Lock:
    raw = json.loads(path.read_text())
    packages = tuple(
        Package(name=p["name"], version=p["version"], integrity=p["integrity"], files=tuple(p["files"]))
        for p in raw["packages"]
    )
    return Lock(registry=raw["registry"], packages=packages, raw=raw)


def _registry(lock: Lock) -> str:
    # npm's own variable, so a mirror configured for npm is used here too.
    return os.environ.get("NPM_CONFIG_REGISTRY") or lock.registry


def _stamp_of(lock: Lock) -> str:
    packages = [[p.name, p.version, p.integrity, list(p.files)] for p in lock.packages]
    return json.dumps(packages, sort_keys=True)


def assets_present(vendor_dir: Path = DEFAULT_VENDOR_DIR, lock: Lock | None = None) -> bool:
    lock = lock or load_lock()
    stamp = vendor_dir / STAMP
    if not stamp.is_file() or stamp.read_text() != _stamp_of(lock):
        return False
    return all((vendor_dir / p.folder / Path(file).name).is_file() for p in lock.packages for file in p.files)


def _download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "promo-wallet-gateway/ide-assets"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.read()
    except OSError as error:
        raise AssetFetchError(f"could not download {url}: {error}") from error


def check_integrity(data: bytes, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha512", "sha384", "sha256"}:
        raise AssetFetchError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise AssetFetchError(f"integrity mismatch: expected {integrity}, got {algorithm}-{actual}")


def _extract(package: Package, data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for file in package.files:
            try:
                member = archive.getmember(f"package/{file}")
            except KeyError as error:
                raise AssetFetchError(f"{package.folder} has no {file}") from error
            source = archive.extractfile(member)
            if source is None:
                raise AssetFetchError(f"{package.folder}: {file} is not a regular file")
            (target / Path(file).name).write_bytes(source.read())


def fetch_assets(vendor_dir: Path = DEFAULT_VENDOR_DIR, lock: Lock | None = None) -> None:
    """Download, verify and extract every pinned package; replaces `vendor_dir` atomically."""
    lock = lock or load_lock()
    registry = _registry(lock)
    vendor_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".vendor-", dir=vendor_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the files are public assets
    try:
        for package in lock.packages:
            url = package.tarball_url(registry)
            logger.info("fetching %s from %s", package.folder, url)
            data = _download(url)
            try:
                check_integrity(data, package.integrity)
            except AssetFetchError as error:
                raise AssetFetchError(f"{package.folder}: {error}") from error
            _extract(package, data, staging / package.folder)
        (staging / STAMP).write_text(_stamp_of(lock))
        if vendor_dir.exists():
            old = vendor_dir.with_name(f".old-{vendor_dir.name}-{os.getpid()}")
            vendor_dir.rename(old)
            staging.rename(vendor_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(vendor_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_assets(vendor_dir: Path = DEFAULT_VENDOR_DIR) -> bool:
    """Fetch the assets unless they are already there; True if they were fetched now."""
    lock = load_lock()
    if assets_present(vendor_dir, lock):
        return False
    fetch_assets(vendor_dir, lock)
    return True


def relock(path: Path = LOCK_FILE) -> list[str]:
    """Refresh each package's integrity from the registry's metadata for its pinned version."""
    lock = load_lock(path)
    registry = _registry(lock)
    changed = []
    for entry in lock.raw["packages"]:
        metadata = json.loads(_download(f"{registry.rstrip('/')}/{entry['name']}/{entry['version']}"))
        integrity = metadata["dist"]["integrity"]
        if integrity != entry["integrity"]:
            changed.append(f"{entry['name']}@{entry['version']}: {integrity}")
            entry["integrity"] = integrity
    path.write_text(json.dumps(lock.raw, indent=2) + "\n")
    return changed


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Fetch GraphiQL and React for the offline IDE page.")
    parser.add_argument("--force", action="store_true", help="refetch even if the assets are present")
    parser.add_argument("--lock", action="store_true", help="refresh the lock's integrity hashes first")
    parser.add_argument(
        "--dir", type=Path, help="where to put them (default: PROMO_WALLET_IDE_ASSETS_DIR, as the server)"
    )
    args = parser.parse_args(argv)
    from app.settings import get_settings

    target: Path = args.dir or vendor_dir(get_settings())
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.lock:
            for line in relock():
                print(f"updated {line}")
        if args.force:
            fetch_assets(target)
            print(f"fetched IDE assets into {target}")
        elif ensure_assets(target):
            print(f"fetched IDE assets into {target}")
        else:
            print(f"IDE assets already present in {target}")
    except AssetFetchError as error:
        print(f"error: {error}")
        return 1
    return 0
