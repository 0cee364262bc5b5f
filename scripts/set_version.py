#!/usr/bin/env python3
"""The project's version: print it, or set it everywhere it has to be written.

    scripts/set_version.py             # prints the version (from library/VERSION)
    scripts/set_version.py 0.2.0       # sets it

``library/VERSION`` is the version of both distributions: the library
``wxstation`` (library/pyproject.toml reads it) and the bridge
``wxstation-bridge`` (setup.py reads it, and pins the library at it). The
integration's manifest.json cannot read it, so it is written there too, as the
manifest's ``version`` and as its requirement ``wxstation==<version>``, which
Home Assistant installs from PyPI, and in the add-on's config.yaml, whose
version the Supervisor builds the add-on at (from PyPI too). The tests check
that all of them agree with the wheels that are built, and the release
workflow that the tag is ``v<version>``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION_FILE = ROOT / "library" / "VERSION"
MANIFEST = ROOT / "custom_components" / "wxstation" / "manifest.json"
ADDON_CONFIG = ROOT / "addon" / "config.yaml"
DISTRIBUTION = "wxstation"

# A plain release version (PEP 440 public version without epoch or local part):
# what a tag v<version> and a PyPI upload of it can carry.
VERSION_RE = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?")
MANIFEST_VERSION_RE = re.compile(r'("version": ")[^"]*(")')
MANIFEST_REQUIREMENT_RE = re.compile(rf'("{DISTRIBUTION}==)[^"]*(")')
ADDON_VERSION_RE = re.compile(r'^(version: ")[^"]*(")$', re.MULTILINE)


def current_version() -> str:
    return VERSION_FILE.read_text(encoding="utf-8").strip()


def _replace_once(pattern: re.Pattern[str], text: str, version: str, path: Path) -> str:
    new, count = pattern.subn(rf"\g<1>{version}\g<2>", text)
    if count != 1:
        raise SystemExit(f"{path}: expected one match of {pattern.pattern!r}, found {count}")
    return new


def set_version(version: str) -> None:
    if not VERSION_RE.fullmatch(version):
        raise SystemExit(f"not a release version: {version!r} (e.g. 0.2.0, 1.0.0rc1)")
    manifest = MANIFEST.read_text()
    manifest = _replace_once(MANIFEST_VERSION_RE, manifest, version, MANIFEST)
    manifest = _replace_once(MANIFEST_REQUIREMENT_RE, manifest, version, MANIFEST)
    json.loads(manifest)  # still JSON
    addon = _replace_once(ADDON_VERSION_RE, ADDON_CONFIG.read_text(), version, ADDON_CONFIG)
    VERSION_FILE.write_text(version + "\n", encoding="utf-8")
    MANIFEST.write_text(manifest)
    ADDON_CONFIG.write_text(addon)
    if current_version() != version:
        raise SystemExit(f"{VERSION_FILE}: the version did not change to {version}")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise SystemExit(__doc__)
    if argv:
        set_version(argv[0])
    print(current_version())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
