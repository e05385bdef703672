"""NAME.manifest.json: what a build was made from and what it produced.

The manifest is plain JSON (``schema`` 1)::

    {"schema": 1, "dibpy_version": "...", "command": [...], "image_name": "...",
     "arch": "amd64", "formats": [...], "started": "...Z", "seconds": 12.3,
     "elements": [{"name", "origin", "location"}],
     "hooks": [{"phase", "element", "hook", "seconds"}],
     "settings": {"DIB_RELEASE": "bookworm", "http_proxy": "http://u:***@proxy:3128", ...},
     "packages": [{"package", "arch", "version", "status"}] or null,
     "outputs": [{"path", "format", "size", "sha256"}]}

``packages`` comes from the dpkg element's manifest in the finished tree (null when the
image has no dpkg). Settings are the ``DIB_*`` variables and the proxy variables the build
used; passwords in URLs (in any setting, and in the command) and the values of variables
named like secrets are redacted.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dibpy.planning.plan import Plan
from dibpy.redact import MASK as REDACTED
from dibpy.redact import redact_url
from dibpy.tree.paths import in_root

SCHEMA = 1
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "ftp_proxy", "all_proxy")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL", re.IGNORECASE)
DPKG_MANIFEST_DIR = "/etc/dib-manifests"  # DIB_MANIFEST_IMAGE_DIR's default (elements/dpkg)
DPKG_MANIFEST_PREFIX = "dib-manifest-dpkg-"


@dataclass(frozen=True)
class OutputRecord:
    """One output file as the manifest lists it."""

    path: Path
    format: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "size": self.size,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class HookRun:
    """One hook the build ran, and for how long."""

    phase: str
    element: str
    hook: str
    seconds: float


def manifest_path(image_name: str, formats: Sequence[str]) -> Path:
    """``NAME.manifest.json`` beside the outputs (a ``.FMT`` on ``-o NAME`` dropped, as DIB)."""
    name = image_name
    if len(formats) == 1 and name.endswith(f".{formats[0]}"):
        name = name[: -len(formats[0]) - 1]
    return Path(f"{name}.manifest.json")


def settings_used(env: Mapping[str, str]) -> dict[str, str]:
    """The ``DIB_*`` and proxy variables of ``env``, sorted, with secrets redacted."""
    chosen = {}
    for name, value in env.items():
        if not (name.startswith("DIB_") or name.lower() in PROXY_VARIABLES) or value == "":
            continue
        chosen[name] = REDACTED if SECRET_NAME.search(name) else redact_url(value)
    return dict(sorted(chosen.items()))


def installed_packages(
    target_root: Path, env: Mapping[str, str], image_name: str
) -> list[dict[str, str]] | None:
    """The packages the dpkg element recorded in the finished tree, or None if it did not."""
    directory = (env.get("DIB_MANIFEST_IMAGE_DIR") or DPKG_MANIFEST_DIR).strip("/")
    try:
        found = in_root(target_root, f"{directory}/{DPKG_MANIFEST_PREFIX}{Path(image_name).name}")
        data = json.loads(found.read_text())
    except (OSError, ValueError):
        return None
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, list):
        return None
    return [
        {key: str(entry.get(key, "")) for key in ("package", "arch", "version", "status")}
        for entry in packages
        if isinstance(entry, dict)
    ]


def make_manifest(
    *,
    version: str,
    command: Sequence[str],
    plan: Plan,
    image_name: str,
    arch: str,
    formats: Sequence[str],
    started: float,
    seconds: float,
    hooks: Sequence[HookRun],
    env: Mapping[str, str],
    packages: list[dict[str, str]] | None,
    outputs: Sequence[OutputRecord],
) -> dict[str, Any]:
    """The manifest as a JSON-ready dict."""
    return {
        "schema": SCHEMA,
        "dibpy_version": version,
        "command": [redact_url(arg) for arg in command],
        "image_name": image_name,
        "arch": arch,
        "formats": list(formats),
        "started": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(
            timespec="seconds"
        ),
        "seconds": round(seconds, 3),
        "elements": [
            {
                "name": element.name,
                "origin": element.origin.kind,
                "location": element.origin.location,
            }
            for element in plan.element_set.elements
        ],
        "hooks": [
            {"phase": h.phase, "element": h.element, "hook": h.hook, "seconds": round(h.seconds, 3)}
            for h in hooks
        ],
        "settings": settings_used(env),
        "packages": packages,
        "outputs": [output.to_dict() for output in outputs],
    }


def write_manifest(path: Path, manifest: Mapping[str, Any]) -> None:
    """Write ``manifest`` to ``path`` atomically (a hidden temporary file, then a rename)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
