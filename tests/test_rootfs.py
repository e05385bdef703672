"""dibpy.tree.paths: paths in the tree resolve as a chroot resolves them, never on the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dibpy.errors import BuildError
from dibpy.tree.paths import MAX_SYMLINKS, in_root, remove_file, write_file


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "root"
    (tree / "usr/sbin").mkdir(parents=True)
    (tree / "usr/lib").mkdir(parents=True)
    (tree / "etc").mkdir()
    return tree


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A directory outside the tree standing for the build host's files: a canary."""
    outside = tmp_path / "host"
    (outside / "sbin").mkdir(parents=True)
    (outside / "sbin/tool").write_text("host tool\n")
    return outside


def snapshot(directory: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            found[str(p.relative_to(directory))] = (
                os.readlink(p) if p.is_symlink() else p.read_text() if p.is_file() else "<dir>"
            )
    return found


# --- in_root ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["usr/sbin/tool", "/usr/sbin/tool", "//usr/./sbin//tool"])
def test_plain_paths_land_in_the_root(root: Path, path: str) -> None:
    assert in_root(root, path) == root / "usr/sbin/tool"


def test_relative_symlink_is_followed_inside_the_root(root: Path) -> None:
    (root / "sbin").symlink_to("usr/sbin")
    assert in_root(root, "sbin/start-stop-daemon") == root / "usr/sbin/start-stop-daemon"


def test_relative_symlink_in_a_subdirectory_is_relative_to_its_directory(root: Path) -> None:
    (root / "usr/lib/os-release").write_text("ID=x\n")
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    assert in_root(root, "/etc/os-release") == root / "usr/lib/os-release"


def test_absolute_symlink_restarts_at_the_root_not_the_host(root: Path) -> None:
    (root / "sbin").symlink_to("/usr/sbin")
    resolved = in_root(root, "sbin/start-stop-daemon")
    assert resolved == root / "usr/sbin/start-stop-daemon"
    assert resolved != Path("/usr/sbin/start-stop-daemon")


def test_absolute_symlink_to_a_host_directory_is_mapped_into_the_root(
    root: Path, host: Path
) -> None:
    (root / "etc/apt").symlink_to(host)  # absolute: tmp_path/host
    resolved = in_root(root, "etc/apt/tool")
    assert resolved == root / host.relative_to("/") / "tool"
    assert root in resolved.parents


def test_chained_symlinks_are_all_followed(root: Path) -> None:
    (root / "etc/alternatives").mkdir()
    (root / "usr/sbin/real").write_text("x")
    (root / "etc/alternatives/tool").symlink_to("/usr/sbin/real")
    (root / "usr/sbin/tool").symlink_to("/etc/alternatives/tool")
    assert in_root(root, "/usr/sbin/tool") == root / "usr/sbin/real"


def test_dot_dot_after_a_symlink_climbs_from_its_target(root: Path) -> None:
    (root / "sbin").symlink_to("usr/sbin")
    # As the kernel does: sbin/.. is the parent of usr/sbin, i.e. usr.
    assert in_root(root, "sbin/../lib") == root / "usr/lib"


@pytest.mark.parametrize(
    "path", ["../../../../etc/passwd", "/../etc/passwd", "usr/../../../etc/passwd"]
)
def test_dot_dot_cannot_climb_above_the_root(root: Path, path: str) -> None:
    assert in_root(root, path) == root / "etc/passwd"


def test_symlink_with_dot_dots_cannot_climb_above_the_root(root: Path) -> None:
    (root / "usr/lib/escape").symlink_to("../../../../../../etc")
    (root / "usr/lib/abs-escape").symlink_to("/../../etc")
    assert in_root(root, "usr/lib/escape/passwd") == root / "etc/passwd"
    assert in_root(root, "usr/lib/abs-escape/passwd") == root / "etc/passwd"


def test_symlink_loop_raises(root: Path) -> None:
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("/a")
    with pytest.raises(BuildError, match="Too many levels of symlinks"):
        in_root(root, "a/file")
    with pytest.raises(BuildError, match="Too many levels of symlinks"):
        in_root(root, "/b")


def test_self_loop_raises(root: Path) -> None:
    (root / "self").symlink_to("self")
    with pytest.raises(BuildError):
        in_root(root, "self")


def test_a_long_chain_within_the_limit_resolves(root: Path) -> None:
    (root / "usr/lib/end").write_text("x")
    (root / "l0").symlink_to("/usr/lib/end")
    for i in range(1, MAX_SYMLINKS):
        (root / f"l{i}").symlink_to(f"l{i - 1}")
    assert in_root(root, f"l{MAX_SYMLINKS - 1}") == root / "usr/lib/end"
    (root / f"l{MAX_SYMLINKS}").symlink_to(f"l{MAX_SYMLINKS - 1}")
    with pytest.raises(BuildError):
        in_root(root, f"l{MAX_SYMLINKS}")


def test_follow_final_false_keeps_the_final_link(root: Path) -> None:
    (root / "sbin").symlink_to("/usr/sbin")
    (root / "usr/sbin/policy").symlink_to("/bin/true")
    assert in_root(root, "sbin", follow_final=False) == root / "sbin"
    # Intermediate links are still followed; only the last component is kept.
    assert in_root(root, "sbin/policy", follow_final=False) == root / "usr/sbin/policy"
    assert in_root(root, "sbin/policy") == root / "bin/true"


def test_follow_final_false_does_not_trip_on_a_final_loop(root: Path) -> None:
    (root / "loop").symlink_to("loop")
    assert in_root(root, "loop", follow_final=False) == root / "loop"


def test_dangling_symlink_resolves_to_where_it_points(root: Path) -> None:
    (root / "etc/mtab").symlink_to("/proc/self/mounts")
    assert in_root(root, "etc/mtab") == root / "proc/self/mounts"


# --- write_file ------------------------------------------------------------------------------


def test_write_file_creates_parents_with_the_mode(root: Path) -> None:
    written = write_file(root, "/etc/apt/apt.conf.d/10x", "hello\n", 0o600)
    assert written == root / "etc/apt/apt.conf.d/10x"
    assert written.read_text() == "hello\n"
    assert written.stat().st_mode & 0o7777 == 0o600


def test_write_file_default_mode_is_0644(root: Path) -> None:
    os.umask(0o077)
    try:
        written = write_file(root, "etc/x", "y")
    finally:
        os.umask(0o022)
    assert written.stat().st_mode & 0o7777 == 0o644


def test_write_file_through_an_absolute_directory_symlink_stays_in_the_tree(
    root: Path, host: Path
) -> None:
    before = snapshot(host)
    (root / "sbin").symlink_to(host / "sbin")  # absolute, pointing at the "host"
    written = write_file(root, "sbin/tool", "tree tool\n", 0o755)
    assert snapshot(host) == before
    assert (host / "sbin/tool").read_text() == "host tool\n"
    assert written == root / (host / "sbin/tool").relative_to("/")
    assert written.read_text() == "tree tool\n"
    assert root in written.parents


def test_write_file_through_an_absolute_final_symlink_stays_in_the_tree(
    root: Path, host: Path
) -> None:
    before = snapshot(host)
    (root / "etc/tool.conf").symlink_to(host / "sbin/tool")
    written = write_file(root, "etc/tool.conf", "conf\n")
    assert snapshot(host) == before
    assert written.read_text() == "conf\n"
    assert root in written.parents
    # The link itself is kept, still pointing where it pointed.
    assert os.readlink(root / "etc/tool.conf") == str(host / "sbin/tool")


def test_write_file_replaces_an_existing_file(root: Path) -> None:
    (root / "etc/motd").write_text("old")
    write_file(root, "etc/motd", "new")
    assert (root / "etc/motd").read_text() == "new"


# --- remove_file -----------------------------------------------------------------------------


def test_remove_file_removes_a_symlink_not_its_target(root: Path, host: Path) -> None:
    (root / "usr/sbin/real").write_text("real")
    (root / "usr/sbin/link").symlink_to("real")
    (root / "usr/sbin/hostlink").symlink_to(host / "sbin/tool")
    assert remove_file(root, "usr/sbin/link") is True
    assert not (root / "usr/sbin/link").is_symlink()
    assert (root / "usr/sbin/real").read_text() == "real"
    assert remove_file(root, "/usr/sbin/hostlink") is True
    assert not (root / "usr/sbin/hostlink").is_symlink()
    assert (host / "sbin/tool").read_text() == "host tool\n"


def test_remove_file_removes_a_dangling_symlink(root: Path) -> None:
    (root / "etc/gone").symlink_to("/nowhere")
    assert remove_file(root, "etc/gone") is True
    assert not os.path.lexists(root / "etc/gone")


def test_remove_file_follows_intermediate_links_inside_the_tree(root: Path, host: Path) -> None:
    (root / "sbin").symlink_to(host / "sbin")  # absolute: maps to root/<host>/sbin
    inside = root / (host / "sbin").relative_to("/")
    inside.mkdir(parents=True)
    (inside / "tool").write_text("tree copy")
    assert remove_file(root, "sbin/tool") is True
    assert not (inside / "tool").exists()
    assert (host / "sbin/tool").read_text() == "host tool\n"


def test_remove_file_of_a_missing_path_is_false(root: Path) -> None:
    assert remove_file(root, "etc/nothing") is False
    assert remove_file(root, "no/such/dir/file") is False
