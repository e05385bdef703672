"""Helpers for testing elements: a real BuildContext without a build.

A hook is a function of one argument, so an element's test calls it with a context made
here and looks at the tree afterwards. With pyfakefs (``fs`` fixture) the tree lives in the
fake file system, so a test needs neither root nor a disk::

    from dibpy.testing import make_context

    def test_motd(fs):
        ctx = make_context(env={"HELLO_TEXT": "hi"})
        hello_motd.write_motd(ctx)
        assert (ctx.target_root / "etc/motd").read_text() == "hi\\n"

Hooks that run commands (``ctx.run``, ``ctx.chroot.run``) need a real tree and root: test
those with a real build (``dibpy.build(..., formats=["tar"])``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from dibpy.building.context import BuildContext
from dibpy.host.run import Runner
from dibpy.host.workspace import Workspace


def make_context(
    tmp_dir: Path | str = "/tmp",  # noqa: S108 (the build dir in it is made by mkdtemp)
    *,
    env: Mapping[str, str] | None = None,
    arch: str = "amd64",
    image_name: str = "image",
    elements: Sequence[str] = (),
    modules: Mapping[str, ModuleType] | None = None,
    image_cache: Path | str | None = None,
    offline: bool = False,
) -> BuildContext:
    """A BuildContext over a fresh build directory in ``tmp_dir`` (its tree is empty).

    ``env`` is the environment snapshot hooks read their settings from (default: empty, so
    every setting has its default). ``modules`` maps element names to modules, for hooks
    that read other elements' data (``ctx.element_data("PACKAGES")``).
    """
    environment = dict(env or {})
    workspace = Workspace(Path(tmp_dir), Runner(env=environment))
    return BuildContext.create(
        workspace,
        modules=modules,
        arch=arch,
        image_name=image_name,
        elements=tuple(elements),
        image_cache=Path(image_cache) if image_cache else Path(tmp_dir) / "cache",
        offline=offline,
        env=environment,
    )
