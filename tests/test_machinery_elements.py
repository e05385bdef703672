"""install-bin, install-static, dib-init-system and install-types, on real trees in tmp_path.

Each test writes the merged hooks tree (``ctx.hooks_path``) itself, as the build assembles
it from the elements, calls the element's hook with a real BuildContext, and looks at the
tree. Symlinks in the tree that point at the host (absolute paths into tmp_path) check that
nothing is ever written through them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import ContextFactory

from dibpy.building.context import BuildContext
from dibpy.building.install_types import install_type_of, link_selected, selected_install_dirs
from dibpy.elements import ElementIndex
from dibpy.errors import BuildError, SettingsError
from dibpy.tree.copying import CVS_IGNORE, copy_into_root, cvs_excluded

MakeContext = Callable[..., BuildContext]


def element(name: str) -> ModuleType:
    module = ElementIndex.discover([]).get(name).module
    assert module is not None, f"{name} is not a Python element"
    return module


@pytest.fixture(scope="module")
def install_bin() -> ModuleType:
    return element("install-bin")


@pytest.fixture(scope="module")
def install_static() -> ModuleType:
    return element("install-static")


@pytest.fixture(scope="module")
def init_system() -> ModuleType:
    return element("dib-init-system")


@pytest.fixture
def make_ctx(context_factory: ContextFactory) -> MakeContext:
    return lambda **env: context_factory(env=env, hooks=True)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A directory of the build host that tree symlinks point at; must stay untouched."""
    directory = tmp_path / "host"
    directory.mkdir()
    (directory / "precious").write_text("host file\n")
    return directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def write(path: Path, text: str = "x\n", perms: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(perms)
    return path


def host_unchanged(host: Path) -> None:
    assert sorted(p.name for p in host.iterdir()) == ["precious"]
    assert (host / "precious").read_text() == "host file\n"


# --- install-bin ---------------------------------------------------------------------------


def test_install_bin_installs_every_program_0755(
    install_bin: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    write(ctx.hooks_path / "bin/install-packages", "#!/bin/bash\necho hi\n", 0o600)
    write(ctx.hooks_path / "bin/cache-url", "#!/bin/bash\n", 0o4755)
    write(ctx.hooks_path / "bin/.hidden")
    (ctx.hooks_path / "bin/alias").symlink_to("cache-url")
    install_bin.install_bin(ctx)
    local_bin = ctx.target_root / "usr/local/bin"
    assert sorted(p.name for p in local_bin.iterdir()) == [
        "alias",
        "cache-url",
        "install-packages",
    ]
    for name in ("alias", "cache-url", "install-packages"):
        program = local_bin / name
        assert not program.is_symlink()
        assert mode(program) == 0o755
        assert program.stat().st_uid == os.geteuid()
    assert (local_bin / "install-packages").read_text() == "#!/bin/bash\necho hi\n"
    assert (local_bin / "alias").read_text() == "#!/bin/bash\n"
    assert mode(local_bin) == 0o755


def test_install_bin_without_a_bin_folder_does_nothing(
    install_bin: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    install_bin.install_bin(ctx)
    assert list(ctx.target_root.iterdir()) == []


def test_install_bin_never_writes_through_links_of_the_tree(
    install_bin: ModuleType, make_ctx: MakeContext, host: Path
) -> None:
    ctx = make_ctx()
    write(ctx.hooks_path / "bin/precious", "new\n")
    write(ctx.hooks_path / "bin/tool", "tool\n")
    # /usr/local -> the host directory (absolute): resolved inside the tree, as in a chroot.
    (ctx.target_root / "usr").mkdir()
    (ctx.target_root / "usr/local").symlink_to(host)
    install_bin.install_bin(ctx)
    inside = ctx.target_root / str(host).lstrip("/") / "bin"
    assert (inside / "precious").read_text() == "new\n"
    assert (inside / "tool").read_text() == "tool\n"
    host_unchanged(host)


def test_install_bin_replaces_a_symlink_in_usr_local_bin(
    install_bin: ModuleType, make_ctx: MakeContext, host: Path
) -> None:
    ctx = make_ctx()
    write(ctx.hooks_path / "bin/precious", "new\n")
    local_bin = ctx.target_root / "usr/local/bin"
    local_bin.mkdir(parents=True)
    (local_bin / "precious").symlink_to(host / "precious")
    install_bin.install_bin(ctx)
    assert not (local_bin / "precious").is_symlink()
    assert (local_bin / "precious").read_text() == "new\n"
    host_unchanged(host)


def test_install_bin_refuses_a_symlink_out_of_the_hooks_tree(
    install_bin: ModuleType, make_ctx: MakeContext, host: Path
) -> None:
    ctx = make_ctx()
    (ctx.hooks_path / "bin").mkdir()
    (ctx.hooks_path / "bin/sneaky").symlink_to(host / "precious")
    with pytest.raises(BuildError, match=r"bin/sneaky .* symlink"):
        install_bin.install_bin(ctx)


# --- install-static --------------------------------------------------------------------------


def test_install_static_copies_like_rsync_lCr(
    install_static: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    static = ctx.hooks_path / "static"
    write(static / "etc/boo", "boo\n", 0o664)
    write(static / "usr/local/sbin/tool", "#!/bin/sh\n", 0o4775)
    write(static / "etc/sudoers.d/x", "x\n", 0o440)
    (static / "etc/private").mkdir()
    (static / "etc/private").chmod(0o700)
    (static / "etc/link").symlink_to("/etc/boo")
    (static / "etc/rel").symlink_to("boo")
    # Already in the image: keeps its permissions (no -p), gets the new content.
    root = ctx.target_root
    write(root / "etc/existing", "old\n", 0o600)
    write(static / "etc/existing", "new\n", 0o644)
    (root / "etc").chmod(0o750)
    install_static.install_static_files(ctx)
    assert (root / "etc/boo").read_text() == "boo\n"
    assert mode(root / "etc/boo") == 0o644  # 0664 less the 022 umask
    assert mode(root / "usr/local/sbin/tool") == 0o755  # no setuid: rsync without -p
    assert mode(root / "etc/sudoers.d/x") == 0o440
    assert mode(root / "etc/private") == 0o700
    assert mode(root / "etc/sudoers.d") == 0o755
    assert os.readlink(root / "etc/link") == "/etc/boo"
    assert os.readlink(root / "etc/rel") == "boo"
    assert (root / "etc/existing").read_text() == "new\n"
    assert mode(root / "etc/existing") == 0o600
    assert mode(root / "etc") == 0o750


def test_install_static_skips_what_rsync_C_skips(
    install_static: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    static = ctx.hooks_path / "static"
    for name in (
        "usr/lib/libx.so",
        "usr/lib/libx.a",
        "etc/conf.old",
        "etc/conf.bak",
        "etc/conf~",
        "etc/#conf#",
        "etc/tags",
        "opt/core/inside",
        "opt/.git/config",
        "opt/CVS/Root",
        "opt/skipme.txt",
        "opt/sub/skipme.txt",
    ):
        write(static / name)
    for name in ("usr/lib/libx.so.1", "etc/conf", "opt/corefile", "opt/.gitignore", "opt/keep"):
        write(static / name)
    write(static / "opt/.cvsignore", "skipme.* !\nother.txt\n")
    write(static / "opt/other.txt")
    write(static / "opt/.cvsignore2", "irrelevant\n")
    install_static.install_static_files(ctx)
    root = ctx.target_root
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())
    assert files == [
        "etc/conf",
        "opt/.cvsignore",
        "opt/.cvsignore2",
        "opt/.gitignore",
        "opt/corefile",
        "opt/keep",
        "opt/skipme.txt",  # the "!" in .cvsignore cleared "skipme.*"
        "opt/sub/skipme.txt",  # .cvsignore rules apply to their own folder only
        "usr/lib/libx.so.1",
    ]


@pytest.mark.parametrize(
    ("name", "is_dir", "excluded"),
    [
        ("libfoo.so", False, True),
        ("core", True, True),
        ("core", False, True),
        (".git", True, True),
        (".git", False, False),  # ".git/" only matches a directory
        ("x$", False, True),
        ("_$x", False, True),
        (",v", False, True),
        ("README", False, False),
        ("so", False, False),
    ],
)
def test_cvs_exclude_patterns(name: str, is_dir: bool, excluded: bool) -> None:
    assert cvs_excluded(name, is_dir) is excluded
    assert ".bzr/" in CVS_IGNORE and "*.so" in CVS_IGNORE


def test_install_static_follows_directory_links_inside_the_tree(
    install_static: ModuleType, make_ctx: MakeContext, host: Path
) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    (root / "usr/lib").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")  # merged /usr
    # Absolute links: a chroot resolves them inside the tree. /etc's target exists there,
    # /var's does not (so rsync -K, in a chroot, would replace the link by a directory).
    (root / "etc").symlink_to(host)
    (root / str(host).lstrip("/")).mkdir(parents=True)
    (root / "var").symlink_to(host / "missing")
    write(ctx.hooks_path / "static/lib/modules-load.d/x.conf", "x\n")
    write(ctx.hooks_path / "static/etc/precious", "image file\n")
    write(ctx.hooks_path / "static/var/precious", "var file\n")
    install_static.install_static_files(ctx)
    assert (root / "lib").is_symlink()
    assert (root / "usr/lib/modules-load.d/x.conf").read_text() == "x\n"
    assert (root / "etc").is_symlink()
    assert (root / str(host).lstrip("/") / "precious").read_text() == "image file\n"
    assert not (root / "var").is_symlink()
    assert (root / "var/precious").read_text() == "var file\n"
    host_unchanged(host)


def test_install_static_replaces_file_links_instead_of_writing_through(
    install_static: ModuleType, make_ctx: MakeContext, host: Path
) -> None:
    ctx = make_ctx()
    root = ctx.target_root
    (root / "etc").mkdir()
    (root / "etc/motd").symlink_to(host / "precious")
    (root / "etc/issue").symlink_to("motd")
    write(ctx.hooks_path / "static/etc/motd", "hello\n")
    write(ctx.hooks_path / "static/etc/issue", "issue\n")
    install_static.install_static_files(ctx)
    assert not (root / "etc/motd").is_symlink()
    assert (root / "etc/motd").read_text() == "hello\n"
    assert (root / "etc/issue").read_text() == "issue\n"
    assert mode(root / "etc/motd") == 0o644
    host_unchanged(host)


def test_install_static_refuses_to_replace_a_full_directory_by_a_file(
    install_static: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    write(ctx.target_root / "etc/thing/inside")
    (ctx.target_root / "etc/empty").mkdir()
    write(ctx.hooks_path / "static/etc/empty", "now a file\n")
    write(ctx.hooks_path / "static/etc/thing", "file\n")
    with pytest.raises(BuildError, match=r"/etc/thing .*not empty"):
        install_static.install_static_files(ctx)
    assert (ctx.target_root / "etc/empty").read_text() == "now a file\n"
    assert (ctx.target_root / "etc/thing/inside").exists()


def test_install_static_without_static_does_nothing(
    install_static: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx()
    install_static.install_static_files(ctx)
    assert list(ctx.target_root.iterdir()) == []


def test_archive_copy_keeps_modes_and_times(tmp_path: Path) -> None:
    source, root = tmp_path / "src", tmp_path / "root"
    root.mkdir()
    write(source / "bin/suid", "s\n", 0o4755)
    write(source / "data", "d\n", 0o600)
    os.utime(source / "data", (1_000_000, 1_000_000))
    (source / "bin").chmod(0o700)
    source.chmod(0o750)
    write(root / "opt/proj/data", "old\n", 0o666)
    copy_into_root(source, root, "/opt/proj", archive=True)
    assert mode(root / "opt/proj/bin/suid") == 0o4755
    assert mode(root / "opt/proj/data") == 0o600
    assert (root / "opt/proj/data").stat().st_mtime == 1_000_000
    assert mode(root / "opt/proj/bin") == 0o700
    assert mode(root / "opt/proj") == 0o750  # rsync -a DIR/. DEST: DEST takes DIR's mode
    assert mode(root / "opt") == 0o755


# --- dib-init-system -----------------------------------------------------------------------


def test_init_system_is_validated(init_system: ModuleType, make_ctx: MakeContext) -> None:
    ctx = make_ctx(DIB_INIT_SYSTEM="runit")
    with pytest.raises(SettingsError, match="DIB_INIT_SYSTEM='runit'"):
        init_system.install_init_scripts(ctx)


@pytest.mark.parametrize("init", ["systemd", "openrc", "upstart", "sysv"])
def test_the_deprecated_helper_is_written(
    init_system: ModuleType, make_ctx: MakeContext, init: str
) -> None:
    ctx = make_ctx(DIB_INIT_SYSTEM=init)
    init_system.dib_init_system_helper(ctx)
    helper = ctx.target_root / "usr/local/bin/dib-init-system"
    assert helper.read_text() == f"#!/bin/bash\necho {init}\n"
    assert mode(helper) == 0o775


@pytest.mark.parametrize(
    ("init", "destination"),
    [
        ("systemd", "usr/lib/systemd/system"),
        ("upstart", "etc/init"),
        ("openrc", "etc/init.d"),
        ("sysv", "etc/init.d"),
    ],
)
def test_init_scripts_of_the_chosen_system_are_installed(
    init_system: ModuleType, make_ctx: MakeContext, init: str, destination: str
) -> None:
    ctx = make_ctx(DIB_INIT_SYSTEM=init)
    scripts = ctx.hooks_path / "init-scripts"
    for name in ("systemd", "upstart", "openrc", "sysv"):
        write(scripts / name / f"growroot-{name}", f"{name}\n", 0o755)
    (scripts / init / "alias").symlink_to(f"growroot-{init}")
    root = ctx.target_root
    write(root / destination / "existing", "old\n", 0o600)
    write(scripts / init / "existing", "new\n", 0o644)
    init_system.install_init_scripts(ctx)
    installed = sorted(p.name for p in (root / destination).iterdir())
    assert installed == ["alias", "existing", f"growroot-{init}"]
    assert (root / destination / f"growroot-{init}").read_text() == f"{init}\n"
    assert mode(root / destination / f"growroot-{init}") == 0o755
    assert os.readlink(root / destination / "alias") == f"growroot-{init}"
    assert mode(root / destination / "existing") == 0o600  # cp keeps an existing file's mode
    assert (root / destination / "existing").read_text() == "new\n"


def test_no_init_scripts_folder_installs_nothing(
    init_system: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx(DIB_INIT_SYSTEM="systemd")
    write(ctx.hooks_path / "init-scripts/upstart/x.conf")
    init_system.install_init_scripts(ctx)
    assert list(ctx.target_root.iterdir()) == []


class RecordingChroot:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def run(self, argv: list[str], **_: Any) -> None:
        self.commands.append(list(argv))


@pytest.mark.parametrize("init", ["openrc", "systemd"])
def test_openrc_scripts_are_added_to_the_default_runlevel(
    init_system: ModuleType, make_ctx: MakeContext, init: str
) -> None:
    ctx = make_ctx(DIB_INIT_SYSTEM=init)
    for name in ("growroot", "dynamic-login", ".hidden"):
        write(ctx.hooks_path / "init-scripts" / init / name)
    chroot = RecordingChroot()
    ctx._chroot = chroot  # type: ignore[assignment]  # record instead of chrooting
    init_system.enable_init_scripts(ctx)
    if init == "openrc":
        assert chroot.commands == [
            ["rc-update", "add", "dynamic-login", "default"],
            ["rc-update", "add", "growroot", "default"],
        ]
    else:
        assert chroot.commands == []


# --- install types -------------------------------------------------------------------------


@pytest.fixture
def install_d(tmp_path: Path) -> Path:
    """install.d of a hooks tree with nova (source, package), glean (source, repo) and a
    plain script."""
    folder = tmp_path / "hooks/install.d"
    for sub in (
        "nova-source-install/74-nova",
        "nova-source-install/75-nova-extra",
        "nova-package-install/74-nova",
        "simple-init-source-install/50-glean",
        "simple-init-repo-install/50-glean",
        "simple-init-repo-install/.hidden",
    ):
        write(folder / sub, "#!/bin/sh\n", 0o755)
    (folder / "empty-source-install").mkdir()
    write(folder / "10-plain", "#!/bin/sh\n", 0o755)
    return folder


def links(folder: Path) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in sorted(folder.iterdir()) if p.is_symlink()}


def test_default_install_type_is_source(install_d: Path) -> None:
    assert selected_install_dirs(install_d, {}) == {
        "empty-source-install": "source",
        "nova-source-install": "source",
        "simple-init-source-install": "source",
    }
    made = link_selected(install_d, {})
    assert links(install_d) == {
        "50-glean": "simple-init-source-install/50-glean",
        "74-nova": "nova-source-install/74-nova",
        "75-nova-extra": "nova-source-install/75-nova-extra",
    }
    assert sorted(p.name for p in made) == ["50-glean", "74-nova", "75-nova-extra"]
    assert (install_d / "74-nova").read_text() == "#!/bin/sh\n"  # the relative link works
    assert not (install_d / "10-plain").is_symlink()


def test_explicit_install_types_win_with_underscores_for_dashes(install_d: Path) -> None:
    env = {"DIB_INSTALLTYPE_simple_init": "repo", "DIB_DEFAULT_INSTALLTYPE": "package"}
    assert selected_install_dirs(install_d, env) == {
        "simple-init-repo-install": "repo",
        "nova-package-install": "package",
    }
    link_selected(install_d, env)
    assert links(install_d) == {
        "50-glean": "simple-init-repo-install/50-glean",
        "74-nova": "nova-package-install/74-nova",
    }


def test_an_explicit_type_without_its_folder_runs_no_variant(install_d: Path) -> None:
    env = {"DIB_INSTALLTYPE_nova": "pip"}
    assert selected_install_dirs(install_d, env) == {
        "empty-source-install": "source",
        "simple-init-source-install": "source",
    }
    link_selected(install_d, env)
    assert "74-nova" not in links(install_d)


def test_links_replace_existing_files_and_links(install_d: Path) -> None:
    write(install_d / "74-nova", "common\n")
    link_selected(install_d, {"DIB_INSTALLTYPE_nova": "package"})
    assert os.readlink(install_d / "74-nova") == "nova-package-install/74-nova"
    link_selected(install_d, {})  # again, with another choice: ln -sf replaces the link
    assert os.readlink(install_d / "74-nova") == "nova-source-install/74-nova"


def test_a_link_to_a_folder_is_not_a_default_install_folder(tmp_path: Path) -> None:
    folder = tmp_path / "install.d"
    write(folder / "real/10-x")
    (folder / "x-source-install").symlink_to("real")
    assert selected_install_dirs(folder, {}) == {}
    assert selected_install_dirs(folder, {"DIB_INSTALLTYPE_x": "source"}) == {
        "x-source-install": "source"
    }
    assert selected_install_dirs(tmp_path / "missing", {}) == {}


def test_install_type_of_a_name() -> None:
    env = {"DIB_INSTALLTYPE_pip_and_virtualenv": "package", "DIB_DEFAULT_INSTALLTYPE": "repo"}
    assert install_type_of("pip-and-virtualenv", env) == "package"
    assert install_type_of("glean", env) == "repo"
    assert install_type_of("glean", {}) == "source"
    assert install_type_of("glean", {"DIB_DEFAULT_INSTALLTYPE": ""}) == "source"


def test_install_types_element_declares_the_default() -> None:
    module = element("install-types")
    assert module.ENVIRONMENT == {"DIB_DEFAULT_INSTALLTYPE": "source"}
    settings = module.InstallTypeSettings.model_validate({"DIB_DEFAULT_INSTALLTYPE": "package"})
    assert settings.default_install_type == "package"
