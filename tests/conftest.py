"""Shared test helpers: element files written into tmp_path, a clean environment for the CLI,
and the ``root`` marker (tests marked ``@pytest.mark.root`` are skipped unless run as root).

The helpers are plain functions so that test modules can import them
(``from conftest import make_element``); the fixtures wrap the ones that need ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from dibpy.blockdev.config import FALLBACK
from dibpy.building.context import BuildContext
from dibpy.elements import ElementIndex
from dibpy.host.run import Runner
from dibpy.host.workspace import Workspace

ContextFactory = Callable[..., BuildContext]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "elements"
IS_ROOT = os.geteuid() == 0

# Root tests carry both marks: ``pytestmark = [pytest.mark.root, needs_root]``. (Anything
# marked ``root`` is skipped for other users anyway, by the collection hook below.)
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (mount, chroot)")

# Variables of the host that would change what a build or a plan does.
LEAKY_PREFIXES = ("DIB_", "TINY_", "ELEMENTS_PATH", "ARCH", "TMP_DIR", "IMAGE_NAME")

# A minimal operating-system element for resolution and plan tests.
OS_ELEMENT = '''
"""A test operating system."""
PROVIDES = ["operating-system"]
'''


# The test command runs two workers (pytest-xdist, ``--dist loadfile``: one module's tests,
# and so its module-scoped build, stay on one worker). Modules are handed out in collection
# order, so the longest ones (measured: each builds and boots images under TCG for minutes)
# go first, then the other slow modules, then the fast ones; the two workers then end together
# rather than one finishing a long boot alone.
LONGEST_FIRST = (
    "test_vm_images.py",
    "test_arm64.py",
    "test_legacy_vm.py",
    "test_differential_services.py",
    "test_differential_init.py",
)


def _schedule(item: pytest.Item) -> tuple[int, int]:
    name = item.path.name
    if name in LONGEST_FIRST:
        return (0, LONGEST_FIRST.index(name))
    return (1, 0) if item.get_closest_marker("slow") is not None else (2, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A module ranks as its earliest-scheduled test; its items stay together (stable sort).
    rank: dict[Path, tuple[int, int]] = {}
    for item in items:
        rank[item.path] = min(rank.get(item.path, (3, 0)), _schedule(item))
    items.sort(key=lambda item: rank[item.path])
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root (mount, chroot)")
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(skip)


def builtin_element(name: str) -> ModuleType:
    """A built-in element's module (a package element's submodules are its attributes)."""
    return ElementIndex.discover([]).get(name).module


def block_device_defaults() -> SimpleNamespace:
    """The default layouts: the block-device-* elements' own (DIB's block-device-default.yaml)
    as ``MBR``, ``GPT`` and ``EFI``, and disk-image-create's ``FALLBACK``."""
    return SimpleNamespace(
        **{
            label.upper(): builtin_element(f"block-device-{label}").BLOCK_DEVICE_CONFIG
            for label in ("mbr", "gpt", "efi")
        },
        FALLBACK=FALLBACK,
    )


def make_element(directory: Path, name: str, text: str = "", *, package: bool = False) -> Path:
    """Write element ``name`` into ``directory`` (``NAME.py``, or ``NAME/__init__.py`` with
    ``package``); ``text`` is dedented. Returns the file written."""
    directory.mkdir(parents=True, exist_ok=True)
    if package:
        path = directory / name / "__init__.py"
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path = directory / f"{name}.py"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment without anything that steers dibpy, confined to ``tmp_path``:
    its own TMP_DIR and DIB_IMAGE_CACHE."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    env["TMP_DIR"] = str(tmp_path / "tmp")
    env["DIB_IMAGE_CACHE"] = str(tmp_path / "cache")
    env.update(extra)
    return env


def run_dibpy(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m dibpy ARGS`` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "dibpy", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def virtual_size(image: Path) -> int:
    """A disk image's virtual size in bytes, as ``qemu-img info`` reads it."""
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(image)],
        capture_output=True,
        text=True,
        check=True,
    )
    size: int = json.loads(info.stdout)["virtual-size"]
    return size


def dibpy_show(name: str) -> str:
    """What ``dibpy show NAME`` prints (it must succeed)."""
    return subprocess.run(
        [sys.executable, "-m", "dibpy", "show", name], capture_output=True, text=True, check=True
    ).stdout


def mount_lines(path: Path) -> list[str]:
    """Lines of this namespace's mount table that mention ``path``."""
    text = Path("/proc/self/mountinfo").read_text()
    return [line for line in text.splitlines() if str(path) in line]


def build_dirs(tmp_dir: Path) -> list[Path]:
    """The ``dibpy_build.*`` directories a build left in its TMP_DIR."""
    return sorted(tmp_dir.glob("dibpy_build.*")) if tmp_dir.is_dir() else []


def processes_under(path: Path) -> list[str]:
    """Processes whose root directory is ``path`` or below (deleted or not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            root = os.readlink(entry / "root")
        except OSError:
            continue
        if root.startswith(str(path)):
            found.append(f"{entry.name} {root}")
    return found


@pytest.fixture
def element_dir(tmp_path: Path) -> Path:
    """An empty element directory with one operating-system element, ``test-os``."""
    directory = tmp_path / "elements"
    make_element(directory, "test-os", OS_ELEMENT)
    return directory


@pytest.fixture(scope="session")
def debian_image_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DIB_IMAGE_CACHE for the session's real Debian builds that share no module fixture
    (differential pairs on REAL_DEBIAN, boots of ported elements): the first build's
    debootstrap tarball and apt archives serve every later one. Under pytest-xdist the
    workers share it (the image cache locks what it fills)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's directory, above each worker's own
    cache = base / "debian-image-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def context_factory(tmp_path: Path) -> Iterator[ContextFactory]:
    """Real build contexts on workspaces under tmp_path, each closed afterwards:
    ``context_factory(elements=("dpkg",), env={...}, runner_env={...}, arch=..., offline=...)``
    (arch: amd64 unless given); with ``hooks=True`` the hooks tree exists (empty)."""
    workspaces: list[Workspace] = []

    def make(
        *,
        elements: Sequence[str] = ("base",),
        env: Mapping[str, str] | None = None,
        runner_env: Mapping[str, str] | None = None,
        hooks: bool = False,
        **fields: Any,
    ) -> BuildContext:
        runner = Runner(env=dict(runner_env or {"PATH": os.environ["PATH"]}))
        workspace = Workspace(tmp_path / "builds", runner)
        workspaces.append(workspace)
        fields.setdefault("image_name", "img")
        fields.setdefault("arch", "amd64")
        ctx = BuildContext.create(
            workspace,
            elements=tuple(elements),
            image_cache=tmp_path / "cache",
            env=dict(env or {}),
            **fields,
        )
        if hooks:
            ctx.hooks_path.mkdir()
        return ctx

    yield make
    for workspace in workspaces:
        workspace.close(remove=True)
