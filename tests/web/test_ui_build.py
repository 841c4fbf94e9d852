"""The UI's built assets (src/dicomkit/web/static, committed) are those of its sources
(web-ui/): the hash tools/build_ui.sh records in static/BUILD is recomputed here by the same
rule as web-ui/build.mjs (each source file's path relative to web-ui/, a newline, its bytes, a
newline; files sorted by path), so a change to the sources without a rebuild fails."""

from __future__ import annotations

import hashlib
import tomllib

from tests.support.paths import ROOT

WEB_UI = ROOT / "web-ui"
STATIC = ROOT / "src" / "dicomkit" / "web" / "static"
TOP_FILES = ("build.mjs", "package.json", "package-lock.json", "tsconfig.json")


def source_files() -> list[str]:
    names = [str(p.relative_to(WEB_UI)) for folder in ("src", "public")
             for p in (WEB_UI / folder).rglob("*") if p.is_file()]
    return sorted(names + list(TOP_FILES))


def source_hash() -> str:
    digest = hashlib.sha256()
    for name in source_files():
        digest.update(name.encode() + b"\n")
        digest.update((WEB_UI / name).read_bytes())
        digest.update(b"\n")
    return digest.hexdigest()


def test_committed_build_matches_the_sources() -> None:
    recorded = (STATIC / "BUILD").read_text().strip()
    assert recorded == source_hash(), (
        "src/dicomkit/web/static is out of date with web-ui/: run tools/build_ui.sh and "
        "commit the result")


def test_build_has_the_pages_and_bundles() -> None:
    for name in ("index.html", "viewer.html", "app.js", "viewer.js", "ui.css"):
        assert (STATIC / name).stat().st_size > 0, name
    # no CDN at run time: every script and stylesheet is served by the archive itself
    for page in ("index.html", "viewer.html"):
        text = (STATIC / page).read_text()
        assert "http://" not in text and "https://" not in text, page


def test_static_files_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "web/static/*" in config["tool"]["setuptools"]["package-data"]["dicomkit"]
