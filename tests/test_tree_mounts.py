"""The one mount API of the tree (``dibpy.host.mounts.TreeMounts``, ``ctx.mounts``): real
mounts into a real tree, released once and last first, targets resolved inside the tree,
repeated requests handled; and a tiny element using ``ctx.cache`` and ``ctx.mounts`` in a
real build whose driver steps run in the order ``dibpy plan`` lists them. Needs root.
"""

from __future__ import annotations

import errno
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, clean_env, make_element, mount_lines, needs_root

import dibpy
from dibpy.errors import BuildError
from dibpy.host.mounts import TreeMounts, mounts_under
from dibpy.host.run import Runner
from dibpy.phases import Phase
from dibpy.planning.steps import DriverStep

pytestmark = [pytest.mark.root, needs_root]


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[TreeMounts]:
    root = tmp_path / "root"
    root.mkdir()
    mounts = TreeMounts(Runner(), root)
    try:
        yield mounts
    finally:
        mounts.release(leftovers=True)
        assert mount_lines(tmp_path) == []


def umounts(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The umount commands the runner logged, their target relative to nothing."""
    return [r.getMessage().split()[-1] for r in caplog.records if "$ umount" in r.getMessage()]


def test_binds_are_real_and_released_once_last_first(
    tree: TreeMounts, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dibpy.host.run")
    outer, inner = tmp_path / "outer", tmp_path / "inner"
    outer.mkdir()
    inner.mkdir()
    (inner / "deb").write_text("a package")
    a = tree.bind(outer, "mnt/a")
    b = tree.bind(inner, "mnt/a/b")  # inside the first: it must go first
    assert (tree.root / "mnt/a/b/deb").read_text() == "a package"
    assert mounts_under(tree.root) == [b, a]
    tree.release()
    assert umounts(caplog) == [str(b), str(a)]
    assert mounts_under(tree.root) == []
    tree.release()
    assert umounts(caplog) == [str(b), str(a)]  # nothing is released twice


def test_a_target_through_an_absolute_symlink_is_resolved_inside_the_tree(
    tree: TreeMounts, tmp_path: Path
) -> None:
    host = tmp_path / "host-scratch"
    host.mkdir()
    (tree.root / "var").symlink_to(host)  # absolute: a chroot reads it as <tree>/<host>
    source = tmp_path / "cache"
    source.mkdir()
    where = tree.bind(source, "var/cache/apt/archives")
    assert where == tree.root / str(host).lstrip("/") / "cache/apt/archives"
    assert mounts_under(tree.root) == [where]
    assert list(host.iterdir()) == []  # the host's directory is untouched


def test_the_same_mount_twice_is_one_mount(tree: TreeMounts, tmp_path: Path) -> None:
    source = tmp_path / "ccache"
    source.mkdir()
    first = tree.bind(source, "tmp/ccache")
    assert tree.bind(source, "/tmp/ccache") == first
    assert mounts_under(tree.root) == [first]
    assert tree.held("tmp/ccache") == str(source)


def test_a_different_mount_where_one_is_is_refused(tree: TreeMounts, tmp_path: Path) -> None:
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir()
    other.mkdir()
    tree.bind(one, "tmp/ccache")
    with pytest.raises(BuildError, match=f"{one} is mounted there already"):
        tree.bind(other, "tmp/ccache")
    with pytest.raises(BuildError, match=f"{one} is mounted there already"):
        tree.bind(one, "tmp/ccache", read_only=True)
    foreign = tree.root / "srv"
    foreign.mkdir()
    Runner().run(["mount", "--bind", other, foreign])  # not through the API
    with pytest.raises(BuildError, match="something dibpy did not mount"):
        tree.bind(one, "srv")
    assert len(mounts_under(tree.root)) == 2


def test_a_read_only_bind_cannot_be_written(tree: TreeMounts, tmp_path: Path) -> None:
    source = tmp_path / "hooks"
    source.mkdir()
    where = tree.bind(source, "tmp/in_target.d", read_only=True)
    with pytest.raises(OSError) as info:
        (where / "planted").write_text("x")
    assert info.value.errno == errno.EROFS


def test_a_scope_releases_its_own_mounts_only(tree: TreeMounts, tmp_path: Path) -> None:
    source = tmp_path / "cache"
    source.mkdir()
    kept = tree.bind(source, "var/cache")
    with tree.scope() as scope:
        proc = scope.mount("proc", "proc", fstype="proc")
        assert (proc / "self").exists()
        assert tree.bind(source, "var/cache") == kept  # made outside the scope: kept
    assert mounts_under(tree.root) == [kept]


# --- in a build --------------------------------------------------------------------------------

CACHE_USER = '''
"""Keeps a file in its own image cache area, written from inside the chroot."""
from dibpy import BuildContext, install_hook, root_hook

DEPENDS = ["tiny-busybox"]


@root_hook(order=20)
def share(ctx: BuildContext) -> None:
    ctx.cache.mount(ctx.cache.area("cache-user"), "var/cache/cache-user")
    ctx.cache.mount(ctx.cache.area("cache-user"), "var/cache/cache-user")  # again: no-op


@install_hook(order=30)
def write_from_the_chroot(ctx: BuildContext) -> None:
    ctx.chroot.run(["/bin/busybox", "sh", "-c", "echo kept > /var/cache/cache-user/made"])
'''


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox-static")
def test_an_element_shares_a_cache_area_and_the_build_follows_the_plan(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elements = tmp_path / "elements"
    make_element(elements, "cache-user", CACHE_USER)
    shutil.copy(EXAMPLES / "tiny-busybox.py", elements)
    caplog.set_level(logging.DEBUG, "dibpy.build")
    env = clean_env(tmp_path)
    result = dibpy.build(
        ["cache-user"],
        output=tmp_path / "out",
        formats=["tar"],
        element_paths=[elements],
        skip_base=True,
        env=env,
    )
    assert (tmp_path / "cache/cache-user/made").read_text() == "kept\n"
    assert result.outputs == [tmp_path / "out.tar"]
    listing = Runner().run(["tar", "-tf", tmp_path / "out.tar"], capture=True).stdout
    assert "./var/cache/cache-user/" in listing.splitlines()
    assert "./var/cache/cache-user/made" not in listing  # the area was unmounted first
    assert mount_lines(tmp_path) == []

    plan = dibpy.plan(["cache-user"], element_paths=[elements], skip_base=True, env=env)
    expected = [
        item.name if isinstance(item, DriverStep) else f"phase {item.value}"
        for item in plan.run_order()
        if not isinstance(item, Phase) or plan.phases[item]
    ]
    ran = []
    for record in caplog.records:
        message = record.getMessage()
        if message.startswith("Driver step "):
            ran.append(message.removeprefix("Driver step "))
        elif message.startswith("Running the ") and message.endswith(" hooks)"):
            ran.append(f"phase {message.split()[2]}")
    assert ran == expected
