"""The source-repositories element against real git repositories (``git init`` in tmp_path),
real tarballs and files served by a real HTTP server on 127.0.0.1, and real trees.

Each test writes ``source-repository-*`` files into the hooks tree as the build assembles
them, runs the element's extra-data hook with a real BuildContext and looks at the tree,
the image cache and the records the element leaves in the image.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ContextFactory
from fetch_helpers import Upstream
from pytest_httpserver import HTTPServer

from dibpy.building.context import BuildContext
from dibpy.elements import ElementIndex
from dibpy.legacy.script import install_driver
from dibpy.tree.extract import UnsafeArchiveError

GIT_ENV = {
    "PATH": os.environ["PATH"],
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


@pytest.fixture(scope="module")
def sr() -> ModuleType:
    module = ElementIndex.discover([]).get("source-repositories").module
    assert module is not None
    return module


def git(*args: str | Path) -> str:
    done = subprocess.run(
        ["git", *map(str, args)], env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@dataclass
class Upstream_Repo:
    path: Path
    first: str  # README "one"; tag v1, branch stable
    second: str  # README "two"; master

    def commit(self, text: str) -> str:
        (self.path / "README").write_text(text)
        git("-C", self.path, "commit", "-q", "-am", text)
        return git("-C", self.path, "rev-parse", "HEAD")


def make_repo(path: Path, name: str = "repo") -> Upstream_Repo:
    path.mkdir(parents=True)
    git("init", "-q", "-b", "master", path)
    (path / "README").write_text("one\n")
    (path / "name").write_text(f"{name}\n")
    git("-C", path, "add", ".")
    git("-C", path, "commit", "-q", "-m", "one")
    first = git("-C", path, "rev-parse", "HEAD")
    git("-C", path, "tag", "v1")
    git("-C", path, "branch", "stable")
    repo = Upstream_Repo(path, first, "")
    repo.second = repo.commit("two\n")
    return repo


@pytest.fixture
def upstream(tmp_path: Path) -> Upstream_Repo:
    return make_repo(tmp_path / "upstream")


MakeContext = Callable[..., BuildContext]


@pytest.fixture
def make_ctx(context_factory: ContextFactory) -> MakeContext:
    def make(lines: str, *, offline: bool = False, **env: str) -> BuildContext:
        ctx = context_factory(
            elements=("source-repositories",),
            env=env,
            runner_env=GIT_ENV,
            hooks=True,
            image_name="out/img",
            offline=offline,
        )
        (ctx.hooks_path / "source-repository-test").write_text(lines)
        return ctx

    return make


@pytest.fixture
def host(tmp_path: Path) -> Path:
    directory = tmp_path / "host"
    directory.mkdir()
    return directory


def sha1sum(text: str) -> str:
    """As DIB computes the cache name: ``echo TEXT | sha1sum``."""
    done = subprocess.run(["sha1sum"], input=f"{text}\n", capture_output=True, text=True)
    return done.stdout.split()[0]


def records(ctx: BuildContext) -> list[str]:
    return (ctx.target_root / "etc/dib-source-repositories").read_text().splitlines()


def manifest(ctx: BuildContext) -> list[str]:
    return (ctx.target_root / "etc/dib-manifests/dib-manifest-git-img").read_text().splitlines()


# --- git -------------------------------------------------------------------------------------


def test_git_repository_is_cached_and_cloned_at_master(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo, tmp_path: Path
) -> None:
    ctx = make_ctx(f"# a comment\n\nfoo git /opt/foo {upstream.path}\n")
    sr.source_repositories(ctx)
    dest = ctx.target_root / "opt/foo"
    assert (dest / "README").read_text() == "two\n"
    assert git("-C", dest, "rev-parse", "HEAD") == upstream.second
    assert git("-C", dest, "rev-parse", "fetch_master") == upstream.second
    assert git("-C", dest, "status", "--porcelain") == ""
    cache = tmp_path / "cache/source-repositories" / f"foo_{sha1sum(f'git_{upstream.path}')}"
    assert git("-C", cache, "rev-parse", "--is-bare-repository") == "true"
    assert git("-C", dest, "config", "remote.origin.url") == str(cache)
    assert records(ctx) == ["/opt/foo"]
    assert manifest(ctx) == [f"foo git /opt/foo {upstream.path} {upstream.second}"]
    # The clone has its own objects: nothing in the image shares an inode with the cache.
    cached = {p.stat().st_ino for p in (cache / "objects").rglob("*") if p.is_file()}
    cloned = {p.stat().st_ino for p in (dest / ".git/objects").rglob("*") if p.is_file()}
    assert cached and not cached & cloned


@pytest.mark.parametrize("ref", ["v1", "stable", "first-sha", "refs/tags/v1"])
def test_git_refs(sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo, ref: str) -> None:
    ref = upstream.first if ref == "first-sha" else ref
    ctx = make_ctx(f"foo git /opt/foo {upstream.path} {ref}\n")
    sr.source_repositories(ctx)
    dest = ctx.target_root / "opt/foo"
    assert (dest / "README").read_text() == "one\n"
    assert git("-C", dest, "rev-parse", "HEAD") == upstream.first
    assert manifest(ctx) == [f"foo git /opt/foo {upstream.path} {upstream.first}"]


def test_git_star_fetches_every_branch_and_tag(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    ctx = make_ctx(f"foo git /opt/foo {upstream.path} *\n")
    sr.source_repositories(ctx)
    dest = ctx.target_root / "opt/foo"
    assert (dest / "README").read_text() == "two\n"
    assert git("-C", dest, "rev-parse", "stable") == upstream.first
    assert git("-C", dest, "rev-parse", "v1^{commit}") == upstream.first
    assert manifest(ctx) == [f"foo git /opt/foo {upstream.path} {upstream.second}"]


def test_an_unknown_ref_is_an_error(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    ctx = make_ctx(f"foo git /opt/foo {upstream.path} no-such-branch\n")
    with pytest.raises(sr.SourceRepositoryError, match=r"has no 'no-such-branch'.*DIB_REPOREF_foo"):
        sr.source_repositories(ctx)
    assert not (ctx.target_root / "opt/foo").exists()


def test_an_unreachable_location_fails_after_five_attempts_and_leaves_no_cache(
    sr: ModuleType,
    make_ctx: MakeContext,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sr.fetching, "GIT_RETRY_SECONDS", 0)
    ctx = make_ctx(f"foo git /opt/foo {tmp_path}/no-such-repo\n")
    with pytest.raises(sr.SourceRepositoryError, match="git failed 5 times cloning"):
        sr.source_repositories(ctx)
    assert caplog.text.count("failed; trying again") == 4
    assert list((tmp_path / "cache/source-repositories").iterdir()) == [
        tmp_path / "cache/source-repositories/repositories.lock"
    ]
    assert list(ctx.target_root.iterdir()) == []


def test_overrides_of_ref_location_and_type(
    sr: ModuleType,
    make_ctx: MakeContext,
    upstream: Upstream_Repo,
    tmp_path: Path,
    httpserver: HTTPServer,
) -> None:
    other = make_repo(tmp_path / "other", "other")
    served = Upstream(b"a single file\n")
    httpserver.expect_request("/single").respond_with_handler(served.handler)
    ctx = make_ctx(
        f"my-repo git /opt/mine {upstream.path} master\n"
        f"your.repo git /opt/yours {upstream.path}\n"
        f"as-file git /opt/as-file {upstream.path}\n",
        DIB_REPOREF_my_repo="stable",
        DIB_REPOLOCATION_your_repo=str(other.path),
        DIB_REPOTYPE_as_file="file",
        DIB_REPOLOCATION_as_file=httpserver.url_for("/single"),
    )
    sr.source_repositories(ctx)
    root = ctx.target_root
    assert (root / "opt/mine/README").read_text() == "one\n"
    assert (root / "opt/yours/name").read_text() == "other\n"
    assert (root / "opt/as-file").read_text() == "a single file\n"
    assert manifest(ctx) == [
        f"my-repo git /opt/mine {upstream.path} {upstream.first}",
        f"your.repo git /opt/yours {other.path} {other.second}",
    ]
    assert records(ctx) == ["/opt/mine", "/opt/yours", "/opt/as-file"]


def test_offline_builds_use_the_cache_only(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    line = f"foo git /opt/foo {upstream.path}\n"
    sr.source_repositories(make_ctx(line))
    third = upstream.commit("three\n")

    offline = make_ctx(line, offline=True)
    sr.source_repositories(offline)
    assert (offline.target_root / "opt/foo/README").read_text() == "two\n"
    assert manifest(offline) == [f"foo git /opt/foo {upstream.path} {upstream.second}"]

    online = make_ctx(line)
    sr.source_repositories(online)
    assert git("-C", online.target_root / "opt/foo", "rev-parse", "HEAD") == third

    with pytest.raises(sr.SourceRepositoryError, match=r"DIB_OFFLINE is set.*has no 'nope'"):
        sr.source_repositories(make_ctx(f"foo git /opt/foo {upstream.path} nope\n", offline=True))
    with pytest.raises(sr.SourceRepositoryError, match=r"DIB_OFFLINE is set.*not in the cache"):
        sr.source_repositories(make_ctx(f"bar git /opt/bar {upstream.path}\n", offline=True))


def test_gitrepobase_moves_every_git_location_without_its_own_override(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo, tmp_path: Path
) -> None:
    mirror = make_repo(tmp_path / "mirror/org/proj", "mirror")
    ctx = make_ctx(
        "proj git /opt/proj https://git.example.invalid/org/proj\n"
        "kept git /opt/kept https://git.example.invalid/org/kept\n",
        DIB_GITREPOBASE=f"file://{tmp_path}/mirror/",
        DIB_REPOLOCATION_kept=str(upstream.path),
    )
    sr.source_repositories(ctx)
    assert (ctx.target_root / "opt/proj/name").read_text() == "mirror\n"
    assert (ctx.target_root / "opt/kept/name").read_text() == "repo\n"
    assert manifest(ctx)[0] == f"proj git /opt/proj file://{mirror.path} {mirror.second}"


def test_rebase_git_location(sr: ModuleType) -> None:
    base = "https://github.com/"
    assert sr.rebase_git_location("https://opendev.org/openstack/nova.git", base) == (
        "https://github.com/openstack/nova.git"
    )
    assert sr.rebase_git_location("git://host/~user/proj", base) == "https://github.com//proj"
    assert sr.rebase_git_location("/local/path", base) == "/local/path"


def test_one_destination_for_two_repositories_is_an_error(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    same = f"foo git /opt/foo {upstream.path}\n"
    ctx = make_ctx(same + same)
    sr.source_repositories(ctx)
    assert records(ctx) == ["/opt/foo", "/opt/foo"]
    assert len(manifest(ctx)) == 1

    ctx = make_ctx(same + f"foo2 git /opt/foo {upstream.path} stable\n")
    with pytest.raises(sr.SourceRepositoryError, match="already cloned"):
        sr.source_repositories(ctx)

    ctx = make_ctx(same)
    (ctx.target_root / "opt/foo").mkdir(parents=True)
    with pytest.raises(sr.SourceRepositoryError, match="already exists in the image"):
        sr.source_repositories(ctx)


@pytest.mark.parametrize(
    "destination", ["/opt/../../../etc/x", "/../escape", "/opt/x/..", "/opt/./../y"]
)
def test_a_destination_with_dotdot_is_refused(
    sr: ModuleType,
    make_ctx: MakeContext,
    upstream: Upstream_Repo,
    tmp_path: Path,
    destination: str,
) -> None:
    ctx = make_ctx(f"foo git {destination} {upstream.path}\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(sr.SourceRepositoryError, match=r"contains '\.\.'"):
        sr.source_repositories(ctx)
    assert list(ctx.target_root.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_symlinks_of_the_tree_are_resolved_inside_it(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo, host: Path
) -> None:
    ctx = make_ctx(f"foo git /opt/foo {upstream.path}\nbar git /srv/bar {upstream.path}\n")
    (ctx.target_root / "opt").symlink_to(host)  # absolute, pointing at the build host
    (ctx.target_root / "srv").symlink_to("/opt")
    sr.source_repositories(ctx)
    inside = ctx.target_root / str(host).lstrip("/")
    assert (inside / "foo/README").read_text() == "two\n"
    assert (inside / "bar/README").read_text() == "two\n"
    assert list(host.iterdir()) == []


def test_only_source_install_types_are_fetched(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    lines = f"my-app git /opt/app {upstream.path}\npkg package\n"
    ctx = make_ctx(lines, DIB_INSTALLTYPE_my_app="package", DIB_INSTALLTYPE_pkg="package")
    sr.source_repositories(ctx)
    assert list(ctx.target_root.iterdir()) == []

    ctx = make_ctx(lines, DIB_DEFAULT_INSTALLTYPE="package")
    sr.source_repositories(ctx)
    assert list(ctx.target_root.iterdir()) == []

    ctx = make_ctx(lines, DIB_INSTALLTYPE_my_app="package")
    with pytest.raises(sr.SourceRepositoryError, match="unsupported repository type 'package'"):
        sr.source_repositories(ctx)


def test_no_source_repositories_turns_the_element_off(
    sr: ModuleType, make_ctx: MakeContext
) -> None:
    ctx = make_ctx("this line $IS_NOT_SET would fail\n", NO_SOURCE_REPOSITORIES="1")
    sr.source_repositories(ctx)
    assert list(ctx.target_root.iterdir()) == []


# --- tar -------------------------------------------------------------------------------------


def tarball(members: dict[str, tuple[str, bytes | str | None, int]], fmt: str = "w:gz") -> bytes:
    """name -> (kind "file"/"dir"/"link", data or link target, mode), owned by uid 1234."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=fmt) as tar:  # type: ignore[call-overload]
        for name, (kind, data, perms) in members.items():
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 1234
            info.mode = perms
            info.mtime = 1_600_000_000
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type = tarfile.SYMTYPE
                assert isinstance(data, str)
                info.linkname = data
                tar.addfile(info)
            else:
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


PROJECT = tarball(
    {
        "proj-1.0": ("dir", None, 0o755),
        "proj-1.0/setup.py": ("file", b"setup\n", 0o644),
        "proj-1.0/bin": ("dir", None, 0o750),
        "proj-1.0/bin/run": ("file", b"#!/bin/sh\n", 0o4755),
        "proj-1.0/link": ("link", "setup.py", 0o777),
        "docs-1.0": ("dir", None, 0o755),
        "docs-1.0/index.txt": ("file", b"docs\n", 0o644),
        ".hidden": ("dir", None, 0o755),
        ".hidden/secret": ("file", b"s\n", 0o644),
    }
)


def serve(httpserver: HTTPServer, path: str, body: bytes) -> tuple[str, Upstream]:
    upstream = Upstream(body)
    httpserver.expect_request(path).respond_with_handler(upstream.handler)
    return httpserver.url_for(path), upstream


def mode(path: Path) -> int:
    return path.lstat().st_mode & 0o7777


def test_tar_star_takes_the_contents_of_every_top_level_folder(
    sr: ModuleType, make_ctx: MakeContext, httpserver: HTTPServer, tmp_path: Path
) -> None:
    url, served = serve(httpserver, "/proj.tar.gz", PROJECT)
    ctx = make_ctx(f"proj tar /usr/local/proj {url} *\n")
    sr.source_repositories(ctx)
    dest = ctx.target_root / "usr/local/proj"
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == [
        "bin",
        "bin/run",
        "index.txt",
        "link",
        "setup.py",
    ]
    assert (dest / "setup.py").read_text() == "setup\n"
    assert os.readlink(dest / "link") == "setup.py"
    assert mode(dest / "bin/run") == 0o4755  # rsync -a keeps modes
    assert mode(dest / "bin") == 0o750
    assert (dest / "setup.py").stat().st_mtime == 1_600_000_000
    assert {p.lstat().st_uid for p in [dest, *dest.rglob("*")]} == {os.geteuid()}
    cached = tmp_path / "cache/source-repositories" / f"proj_{sha1sum(f'tar_{url}')}"
    assert cached.read_bytes() == PROJECT
    assert records(ctx) == ["/usr/local/proj"]
    assert not (ctx.target_root / "etc/dib-manifests").exists()  # git only
    assert [p.name for p in ctx.build_dir.iterdir() if "source-repository" in p.name] == []

    # Offline, the cached tarball is used without asking the server.
    asked = len(served.requests)
    offline = make_ctx(f"proj tar /usr/local/proj {url} *\n", offline=True)
    sr.source_repositories(offline)
    assert (offline.target_root / "usr/local/proj/setup.py").read_text() == "setup\n"
    assert len(served.requests) == asked


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (".", {"proj-1.0", "docs-1.0", ".hidden"}),
        ("proj-*", {"setup.py", "bin", "link"}),
        ("proj-1.0/bin", {"run"}),
        ("", {"setup.py", "bin", "link", "index.txt"}),  # the (deprecated) default: '*'
    ],
)
def test_tar_refs(
    sr: ModuleType,
    make_ctx: MakeContext,
    httpserver: HTTPServer,
    ref: str,
    expected: set[str],
) -> None:
    url, _ = serve(httpserver, "/proj.tar.gz", PROJECT)
    ctx = make_ctx(f"proj tar /opt/proj {url} {ref}\n")
    sr.source_repositories(ctx)
    assert {p.name for p in (ctx.target_root / "opt/proj").iterdir()} == expected


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("missing", "nothing matching 'missing'"),
        ("proj-1.0/setup.py", "not a folder"),
        ("proj-1.0/link", "not a folder"),
        ("../x", "must be a path inside the tarball"),
    ],
)
def test_bad_tar_refs(
    sr: ModuleType, make_ctx: MakeContext, httpserver: HTTPServer, ref: str, error: str
) -> None:
    url, _ = serve(httpserver, "/proj.tar.gz", PROJECT)
    ctx = make_ctx(f"proj tar /opt/proj {url} {ref}\n")
    with pytest.raises(sr.SourceRepositoryError, match=error):
        sr.source_repositories(ctx)


def test_a_tarball_climbing_out_is_refused(
    sr: ModuleType, make_ctx: MakeContext, httpserver: HTTPServer, tmp_path: Path
) -> None:
    evil = tarball({"proj/../../../../evil": ("file", b"evil\n", 0o644)})
    url, _ = serve(httpserver, "/evil.tar.gz", evil)
    ctx = make_ctx(f"evil tar /opt/evil {url} .\n")
    with pytest.raises(UnsafeArchiveError):
        sr.source_repositories(ctx)
    assert not list(tmp_path.rglob("evil"))


def test_tar_offline_without_the_tarball_cached_fails(
    sr: ModuleType, make_ctx: MakeContext, httpserver: HTTPServer
) -> None:
    url, served = serve(httpserver, "/proj.tar.gz", PROJECT)
    ctx = make_ctx(f"proj tar /opt/proj {url} *\n", offline=True)
    with pytest.raises(Exception, match="DIB_OFFLINE is set"):
        sr.source_repositories(ctx)
    assert served.requests == []


# --- file ------------------------------------------------------------------------------------


def test_file_repositories(
    sr: ModuleType, make_ctx: MakeContext, httpserver: HTTPServer, tmp_path: Path
) -> None:
    url, served = serve(httpserver, "/get-pip.py", b"print('pip')\n")
    line = f"pip-and-virtualenv file /tmp/get-pip.py {url}\n"
    ctx = make_ctx(line + f"kept file /etc/kept {url}\n")
    (ctx.target_root / "etc").mkdir()
    (ctx.target_root / "etc/kept").write_text("old\n")
    (ctx.target_root / "etc/kept").chmod(0o600)
    sr.source_repositories(ctx)
    placed = ctx.target_root / "tmp/get-pip.py"
    assert placed.read_bytes() == b"print('pip')\n"
    assert mode(placed) == 0o644
    assert mode(ctx.target_root / "etc/kept") == 0o600  # cp keeps an existing file's mode
    assert (ctx.target_root / "etc/kept").read_text() == "print('pip')\n"
    cached = tmp_path / "cache/source-repositories"
    assert (cached / f"pip_and_virtualenv_{sha1sum(f'file_{url}')}").is_file()
    assert records(ctx) == ["/tmp/get-pip.py", "/etc/kept"]

    asked = len(served.requests)
    offline = make_ctx(line, offline=True)
    sr.source_repositories(offline)
    assert (offline.target_root / "tmp/get-pip.py").read_bytes() == b"print('pip')\n"
    assert len(served.requests) == asked

    ctx = make_ctx(line)
    (ctx.target_root / "tmp/get-pip.py").mkdir(parents=True)
    with pytest.raises(sr.SourceRepositoryError, match="is a directory in the image"):
        sr.source_repositories(ctx)


# --- reading the lines -----------------------------------------------------------------------


def test_lines_are_expanded_like_dibs_eval(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    parent = upstream.path.parent
    lines = (
        "# DIB eval's each line\n"
        "  \n"
        f'foo   git\t/opt/$DEST_NAME  "{parent}"/${{REPO_DIR}} ${{REF:-stable}} # comment\n'
        "bar git /opt/'bar' $UPSTREAM \\\n"
        "  v1"  # a continued last line without a final newline: still read
    )
    ctx = make_ctx(lines, DEST_NAME="foo", REPO_DIR=upstream.path.name, UPSTREAM=str(upstream.path))
    sr.source_repositories(ctx)
    assert (ctx.target_root / "opt/foo/README").read_text() == "one\n"
    assert (ctx.target_root / "opt/bar/README").read_text() == "one\n"
    assert records(ctx) == ["/opt/foo", "/opt/bar"]


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("foo git /opt/foo $NOT_SET", r"uses \$NOT_SET, which is not set"),
        ("foo git /opt/foo $(id)", "uses '\\$\\('"),
        ("foo git /opt/foo `id`", "uses '`'"),
        ("foo git /opt/foo x; rm -rf /", "uses ';'"),
        ("foo git /opt/foo ${X:=y}", "shell syntax"),
        ("foo svn /opt/foo http://x", "couldn't parse"),
        ("foo git opt/foo http://x ref extra", "couldn't parse"),
        ("foo git /opt/foo 'unterminated", "unterminated"),
        ("foo git", "has no destination"),
        ("foo git /opt/foo", "has no location"),
        ("foo git /opt/foo --upload-pack=touch", "starts with '-'"),
        ("foo git /opt/foo /repo --upload-pack=touch", "starts with '-'"),
    ],
)
def test_bad_lines_are_errors(sr: ModuleType, make_ctx: MakeContext, line: str, error: str) -> None:
    ctx = make_ctx(line + "\n")
    with pytest.raises(sr.SourceRepositoryError, match=error):
        sr.source_repositories(ctx)
    assert list(ctx.target_root.iterdir()) == []


def test_expand_line(sr: ModuleType) -> None:
    env = {"A": "x  y", "E": ""}
    assert sr.expand_line("a $A b", env, "f:1") == "a x y b"
    assert sr.expand_line('a "$A" b', env, "f:1") == "a x  y b"
    assert sr.expand_line("a '$A' b", env, "f:1") == "a $A b"
    assert sr.expand_line("a ${E:-d} ${E-d} ${U:-u}", env, "f:1") == "a d u"
    assert sr.expand_line('a "${E-d}" b', env, "f:1") == "a  b"  # a quoted empty word
    # $line is split before eval sees it: white space inside quotes collapses too.
    assert sr.expand_line('a "p  q"', env, "f:1") == "a p q"
    assert sr.expand_line("a\\ b #c", env, "f:1") == "a b"
    assert sr.expand_line("a#b $", env, "f:1") == "a#b $"


def test_read_lines(sr: ModuleType) -> None:
    text = "one\\\ntwo\n  three \\x\nfour"
    assert list(sr.read_lines(text)) == [(1, "onetwo"), (3, "three x"), (4, "four")]


def test_cache_names_are_dibs(sr: ModuleType) -> None:
    repository = sr.Repository("my-repo.x", "git", "/d", "https://h/p", "master", "f:1")
    expected = f"my_repo_x_{sha1sum('git_https://h/p')}"
    assert sr.cache_name(repository, "https://h/p") == expected


# DIB's own loop (98-source-repositories), run by bash on the same file, is the reference.
DIB_LOOP = """set -eu
while read line; do
    set -f; line=$(eval echo $line); set +f
    printf '%s\\n' "$line"
done < "$1"
"""


@pytest.mark.parametrize(
    "text",
    [
        "foo git /opt/foo https://h/p.git master",
        "  foo   git\t/opt/$DEST   ${LOC}  # trailing comment",
        "# only a comment",
        "foo tar /opt/x http://h/x.tgz *",
        "foo tar /opt/x http://h/x.tgz proj-*",
        "a 'single  $quoted' \"double $SPACED\" ${UNSET:-fallback} ${EMPTY-} end",
        "back\\slash a\\ b c\\\\d",
        "continued \\\nline",
        "a#b c #d",
        "dollar $ at end $",
    ],
)
def test_lines_read_as_dibs_loop_reads_them(sr: ModuleType, tmp_path: Path, text: str) -> None:
    env = {"DEST": "d", "LOC": "file:///l", "SPACED": "x   y", "EMPTY": ""}
    source = tmp_path / "source-repository-x"
    source.write_text(text + "\n")
    bash = subprocess.run(
        ["bash", "-c", DIB_LOOP, "dib", str(source)],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=True,
    )
    ours = [sr.expand_line(line, env, "x") for _, line in sr.read_lines(source.read_text())]
    assert ours == bash.stdout.splitlines()


def test_environment_d_exports_reach_the_lines_and_overrides(
    sr: ModuleType, make_ctx: MakeContext, upstream: Upstream_Repo
) -> None:
    ctx = make_ctx("foo git /opt/$FOO_DEST $FOO_UPSTREAM\nskipped git /opt/skipped /nowhere\n")
    install_driver(ctx.hooks_path)
    (ctx.hooks_path / "environment.d").mkdir()
    (ctx.hooks_path / "environment.d/10-foo").write_text(
        f"export FOO_DEST=from-env-d\nexport FOO_UPSTREAM={upstream.path}\n"
        "export DIB_REPOREF_foo=v1\nexport DIB_INSTALLTYPE_skipped=package\n"
    )
    sr.source_repositories(ctx)
    assert (ctx.target_root / "opt/from-env-d/README").read_text() == "one\n"
    assert records(ctx) == ["/opt/from-env-d"]
