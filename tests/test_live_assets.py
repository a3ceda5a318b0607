"""The pages' live-code script: pinned npm packages, bundled at build time, nothing from a CDN."""

from __future__ import annotations

import json
import re

from k2l_course.site import live_assets

LIVE = live_assets.LIVE


def test_the_script_depends_on_exact_versions_only():
    package = json.loads((LIVE / "package.json").read_text())
    for group in ("dependencies", "devDependencies"):
        for name, version in package.get(group, {}).items():
            assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}@{version} is not an exact version"


def test_every_locked_package_comes_from_the_npm_registry_with_an_integrity_hash():
    lock = json.loads((LIVE / "package-lock.json").read_text())
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages, "empty lock"
    for path, entry in packages.items():
        if entry.get("link"):
            continue
        # no "resolved": fetched from the configured registry (npm's), by name and version
        assert entry.get("resolved", "https://registry.npmjs.org/").startswith("https://registry.npmjs.org/"), path
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/=]+", entry.get("integrity", "")), f"{path}: no integrity hash"
    root = lock["packages"][""]
    package = json.loads((LIVE / "package.json").read_text())
    assert root.get("dependencies") == package.get("dependencies"), "package-lock.json is stale: run npm install in live/"
    assert root.get("devDependencies") == package.get("devDependencies"), "package-lock.json is stale"


def test_the_script_imports_only_from_its_locked_packages():
    source = (LIVE / "src" / "k2l-live.js").read_text()
    imported = set(re.findall(r'^import .* from "([^"]+)";', source, re.M))
    assert imported
    package = json.loads((LIVE / "package.json").read_text())
    for module in imported:
        name = "/".join(module.split("/")[:2]) if module.startswith("@") else module.split("/")[0]
        assert name in package["dependencies"], module
    assert not re.search(r"https?://", source.split("*/", 1)[1]), "the script names another site"
