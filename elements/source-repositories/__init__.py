"""Fetches the source repositories elements register into the image (git, tar, file).

DIB's `source-repositories`. An element registers a source with a top-level file
`source-repository-<name>` (merged into the hooks tree; a later element's file of the same
name wins), one repository per line:

    <name> <type> <destination> <location> [<ref>]

- `git`: `location` is cloned to `destination` and checked out at `ref` (default `master`;
  `*` fetches every branch and tag and keeps the remote's default branch). A branch, tag,
  Gerrit ref (`refs/changes/...`) or commit id reachable from a branch works. The repository
  is cached in `<image cache>/source-repositories/<name>_<sha1>` (a bare clone) and updated
  on every build; the image gets a clone of the cache whose `origin` is the cache, with a
  `fetch_<ref>` branch. `DIB_GITREPOBASE` replaces the scheme, host (and `~user`) of every
  git location that has no `DIB_REPOLOCATION_<name>`.
- `tar`: the tarball (any of gzip, xz, bzip2, zstd or plain tar) is downloaded into the
  cache (kept fresh with a conditional GET), checked and unpacked, and `ref` of it is copied
  to `destination` as `rsync -a` does: `.` the whole tarball, `*` the contents of every
  top-level directory (the usual `project-1.2/` folder; the default, deprecated), or a
  sub-folder (a shell pattern such as `pbr-*` works, as DIB's glob did).
- `file`: the file is downloaded into the cache and copied to `destination`.
- `package`: fetches nothing. DIB accepts it in a line but has no code for it: with the
  install type `source` DIB fails ("Unsupported repository type"), and so does dibpy; with
  another install type the line is skipped, as every line is.

A repository is fetched only when its install type (`DIB_INSTALLTYPE_<name>`, else
`DIB_DEFAULT_INSTALLTYPE`) is `source`. Per repository, with `<name>`'s characters outside
`[A-Za-z0-9]` written `_`: `DIB_REPOTYPE_<name>`, `DIB_REPOLOCATION_<name>` and
`DIB_REPOREF_<name>` override the line's type, location and ref. `NO_SOURCE_REPOSITORIES`
(non-empty) turns the element off. These, and the lines' `$VAR`, `${VAR}` and
`${VAR:-default}`, come from the build's environment with what the elements'
`environment.d` files export, as DIB's hook sees it. Lines may use shell quoting, and `#`
starts a comment, as DIB's `eval` of each line allowed; an unset variable is an error (DIB
runs with `set -u`), and command substitution and other shell syntax are refused rather
than run.

Offline (`DIB_OFFLINE`), only the cache is used: a git repository must be cached with the
ref, a tarball or file must be cached, else the build stops saying so.

Each destination is appended to `/etc/dib-source-repositories` in the image, and the git
repositories placed, with the commit checked out, are listed in
`$DIB_MANIFEST_IMAGE_DIR/dib-manifest-git-<image name>` (`name git dest location sha`).

Every destination must be an absolute path without `..`; symlinks in the image on the way
are resolved inside the image. Two git lines placing different repositories or refs at one
destination, or a git destination that already exists in the image, are errors, as in DIB.

Deliberate differences from DIB: a line is parsed safely instead of `eval`'d; the last
line of a file without a final newline is read (DIB's `while read` dropped it); git clones
into the image copy the objects (`--no-hardlinks`), so a hook that changes files in the
image cannot change the cache through a shared inode; with `DIB_GITREPOBASE` the cache is
in the usual place (DIB 3.43 used `~/.cache/image-create/repository-sources/`); offline, a
`*` ref uses the cache as it is (DIB went to the network); unpacked files are owned by root
(DIB left the uid of the user running it); DIB's migration of pre-2016 cache names is not
done. The lock serialising builds on one cache is `source-repositories/repositories.lock`.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dibpy import BuildContext, BuildError, ElementSettings, Phase, extra_data_hook, setting
from dibpy.errors import CommandError
from dibpy.extract import ArchiveFormat, detect_format, extract_root_image
from dibpy.fetch import cache_lock
from dibpy.install_types import install_type_of
from dibpy.rootfs import in_root, write_file
from dibpy.treecopy import copy_into_root, install_file, make_dirs

log = logging.getLogger("dibpy.elements.source-repositories")

DEPENDS = ["cache-url", "manifests", "package-installs"]
# Not needed by dibpy in the image; DIB installs it because pip installs from a git checkout
# (pbr) need it.
PACKAGES = {"git": None}
PKG_MAP = {
    "family": {
        "gentoo": {"git": "dev-vcs/git"},
        "redhat": {"git": "git-core"},
        "suse": {"git": "git-core"},
    },
    "default": {"git": "git"},
}
HOST_TOOLS = {"git": "git"}

CACHE_AREA = "source-repositories"
LOCK_TIMEOUT = 600.0
"""Seconds to wait for another build using the repository cache (DIB's ``flock -w 600``)."""
GIT_ATTEMPTS = 5
GIT_RETRY_SECONDS = 5.0
DEFAULT_REFS = {"tar": "*", "git": "master"}
LINE = re.compile(r"^([^ ]+) (git|tar|file|package) ?(/[^ ]+)? ?([^ ]+)? ?([^ ]*)$")
GIT_HOST = re.compile(r"^[^:]+://[^/]+/(~[^/]+)?(.*)$")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SourceRepositoriesSettings(ElementSettings):
    disabled: str = setting(
        "NO_SOURCE_REPOSITORIES", "", "non-empty: fetch no source repository at all"
    )
    git_base: str = setting(
        "DIB_GITREPOBASE", "", "base URL replacing scheme://host/ of every git location"
    )
    manifest_dir: str = setting(
        "DIB_MANIFEST_IMAGE_DIR", "/etc/dib-manifests", "where the git manifest goes in the image"
    )


class SourceRepositoryError(BuildError):
    """A source-repository line is wrong, or its repository cannot be placed."""


@dataclass(frozen=True)
class Repository:
    """One line of a ``source-repository-*`` file, overrides applied."""

    name: str
    type: str
    destination: str
    location: str
    ref: str
    origin: str
    """``file:line``, for messages."""
    location_overridden: bool = False

    @property
    def variable_name(self) -> str:
        """The name as it appears in ``DIB_REPO*_<name>`` variables."""
        return re.sub(r"[^A-Za-z0-9]", "_", self.name)


# --- reading the files -------------------------------------------------------------------


def repository_files(hooks: Path) -> list[Path]:
    """The ``source-repository-*`` files at the top of the hooks tree (not ``*~``)."""
    return sorted(
        p
        for p in hooks.glob("source-repository-*")
        if p.is_file() and not p.is_symlink() and not p.name.endswith("~")
    )


def read_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` as bash's ``read`` (no ``-r``) gives them: a trailing
    backslash joins the next line, other backslashes escape the next character (and are
    removed), surrounding white space is stripped."""
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    number = 0
    while number < len(raw):
        start = number + 1
        pending = raw[number]
        number += 1
        while _continues(pending) and number < len(raw):
            pending = pending[:-1] + raw[number]
            number += 1
        if _continues(pending):
            pending = pending[:-1]
        out = []
        i = 0
        while i < len(pending):
            if pending[i] == "\\" and i + 1 < len(pending):
                out.append(pending[i + 1])
                i += 2
            else:
                out.append(pending[i])
                i += 1
        yield start, "".join(out).strip(" \t")


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def expand_line(line: str, env: Mapping[str, str], where: str) -> str:
    """The line as ``eval echo $line`` prints it (globbing off): words split on white space,
    quotes removed, ``$VAR``/``${VAR}``/``${VAR:-word}``/``${VAR-word}`` expanded from
    ``env``, ``#`` at the start of a word comments out the rest; words joined by one space.
    Anything that would run a command is refused."""
    words: list[str] = []
    current: list[str] | None = None

    def flush() -> None:
        nonlocal current
        if current is not None:
            words.append("".join(current))
            current = None

    def add(text: str) -> None:
        nonlocal current
        if current is None:
            current = []
        current.append(text)

    def add_split(value: str) -> None:
        for k, part in enumerate(re.split(r"[ \t\n]+", value)):
            if k:
                flush()
            if part:
                add(part)

    text = " ".join(line.split())
    i = 0
    while i < len(text):
        c = text[i]
        if c == " ":
            flush()
            i += 1
        elif c == "#" and current is None:
            break
        elif c == "\\":
            add(text[i + 1 : i + 2])
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise SourceRepositoryError(f"{where}: unterminated ' quote in {line!r}.")
            add(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            add("")
            i += 1
            while True:
                if i >= len(text):
                    raise SourceRepositoryError(f'{where}: unterminated " quote in {line!r}.')
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\':
                    add(text[i + 1])
                    i += 2
                elif c == "$":
                    value, i = _expand(text, i, env, where, line)
                    add(value)
                elif c == "`":
                    raise _refused(where, line, "`")
                else:
                    add(c)
                    i += 1
        elif c == "$":
            value, i = _expand(text, i, env, where, line)
            add_split(value)
        elif c in "`;|&<>()":
            raise _refused(where, line, c)
        else:
            add(c)
            i += 1
    flush()
    return " ".join(words)


def _refused(where: str, line: str, what: str) -> SourceRepositoryError:
    return SourceRepositoryError(
        f"{where}: {line!r} uses {what!r}, shell syntax dibpy does not run in a "
        "source-repository line (DIB eval'd it). Use only words, quotes and $VARIABLES."
    )


def _expand(text: str, i: int, env: Mapping[str, str], where: str, line: str) -> tuple[str, int]:
    """Expand the ``$`` at ``text[i]``; return the value and the index after it."""
    rest = text[i + 1 :]
    if rest.startswith("("):
        raise _refused(where, line, "$(")
    if rest.startswith("{"):
        end = rest.find("}")
        if end < 0:
            raise SourceRepositoryError(f"{where}: unterminated ${{ in {line!r}.")
        inner = rest[1:end]
        match = NAME.match(inner)
        if match is None:
            raise _refused(where, line, "${" + inner + "}")
        name, operator = match.group(), inner[match.end() :]
        after = i + 1 + end + 1
        if operator == "":
            return _variable(name, env, where, line), after
        for op in (":-", "-"):
            if operator.startswith(op):
                default = operator[len(op) :]
                if any(ch in default for ch in "$`\\'\""):
                    raise _refused(where, line, "${" + inner + "}")
                value = env.get(name)
                if value is None or (op == ":-" and value == ""):
                    return default, after
                return value, after
        raise _refused(where, line, "${" + inner + "}")
    match = NAME.match(rest)
    if match is None:
        if rest and (rest[0].isdigit() or rest[0] in "@*#?$!-"):
            raise _refused(where, line, "$" + rest[:1])
        return "$", i + 1
    return _variable(match.group(), env, where, line), i + 1 + match.end()


def _variable(name: str, env: Mapping[str, str], where: str, line: str) -> str:
    if name not in env:
        raise SourceRepositoryError(
            f"{where}: {line!r} uses ${name}, which is not set (DIB fails on it too: its "
            f"hook runs with set -u). Set {name} or change the line."
        )
    return env[name]


def parse_file(path: Path, env: Mapping[str, str]) -> list[Repository]:
    """The repositories of one ``source-repository-*`` file, overrides applied."""
    repositories = []
    for number, raw in read_lines(path.read_text(errors="replace")):
        where = f"{path.name}:{number}"
        line = expand_line(raw, env, where)
        if not line or line.startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            raise SourceRepositoryError(
                f"{where}: couldn't parse {line!r} as a source repository. The format is "
                "'<name> <git|tar|file|package> <destination> <location> [<ref>]', one space "
                "apart, with an absolute destination."
            )
        name, kind, destination, location, ref = match.groups()
        if kind == "tar" and not ref:
            log.warning("%s: the default tarball ref '*' is deprecated; give the ref", where)
        ref = ref or DEFAULT_REFS.get(kind, "")
        safe = re.sub(r"[^A-Za-z0-9]", "_", name)
        kind = env.get(f"DIB_REPOTYPE_{safe}") or kind
        override = env.get(f"DIB_REPOLOCATION_{safe}") or ""
        repositories.append(
            Repository(
                name=name,
                type=kind,
                destination=destination or "",
                location=override or location or "",
                ref=env.get(f"DIB_REPOREF_{safe}") or ref,
                origin=where,
                location_overridden=bool(override),
            )
        )
    return repositories


def rebase_git_location(location: str, base: str) -> str:
    """``DIB_GITREPOBASE``: ``scheme://host/[~user]PATH`` becomes ``base + PATH``."""
    return GIT_HOST.sub(lambda m: base + m.group(2), location, count=1)


def cache_name(repository: Repository, location: str) -> str:
    """DIB's cache entry name: ``<name>_<sha1 of "type_location\\n">``."""
    digest = hashlib.sha1(f"{repository.type}_{location}\n".encode()).hexdigest()
    return f"{repository.variable_name}_{digest}"


# --- the hook ----------------------------------------------------------------------------


@extra_data_hook(order=98)
def source_repositories(ctx: BuildContext) -> None:
    """Fetch every registered source repository into the image (git, tar, file)."""
    settings = ctx.settings(SourceRepositoriesSettings)
    if settings.disabled:
        log.info("NO_SOURCE_REPOSITORIES is set: no source repository is fetched")
        return
    files = repository_files(ctx.hooks_path)
    if not files:
        return
    env = repository_environment(ctx)
    fetcher = _Fetcher(ctx, settings, env)
    parsed = [repo for path in files for repo in parse_file(path, env)]
    repositories = [repo for repo in parsed if fetcher.wanted(repo)]
    if not repositories:
        return
    cache = ctx.image_cache / CACHE_AREA
    cache.mkdir(parents=True, exist_ok=True)
    with cache_lock(cache / "repositories", LOCK_TIMEOUT, doing="fetching source repositories"):
        for number, repository in enumerate(repositories, 1):
            log.info("(%04d / %04d) %s", number, len(repositories), repository.name)
            fetcher.place(repository)
    fetcher.write_records()


def repository_environment(ctx: BuildContext) -> dict[str, str]:
    """What DIB's hook sees, and so what the lines' ``$VARIABLES`` and the overrides may
    use: the build's environment with what the elements' ``environment.d`` files export
    (``ctx.shell_environment``), and DIB's exported variables a line could name."""
    env = ctx.shell_environment(Phase.EXTRA_DATA)
    for name, value in {
        "ARCH": ctx.arch,
        "IMAGE_NAME": ctx.image_name,
        "DIB_IMAGE_CACHE": str(ctx.image_cache),
        "TMP_MOUNT_PATH": str(ctx.target_root),
        "TMP_HOOKS_PATH": str(ctx.hooks_path),
        "DIB_OFFLINE": "1" if ctx.offline else "",
        "DIB_DEFAULT_INSTALLTYPE": "source",
    }.items():
        if not env.get(name):
            env[name] = value
    return env


class _Fetcher:
    """Places repositories into the tree and remembers what to record."""

    def __init__(
        self, ctx: BuildContext, settings: SourceRepositoriesSettings, env: Mapping[str, str]
    ) -> None:
        self.ctx = ctx
        self.settings = settings
        self.env = env
        self.cache = ctx.image_cache / CACHE_AREA
        self.placed: dict[str, tuple[str, str, str]] = {}
        self.destinations: list[str] = []
        self.manifest: list[str] = []

    def wanted(self, repository: Repository) -> bool:
        """Whether ``repository`` is to be fetched (install type ``source``); raise if its
        line cannot be fetched, before anything is."""
        install_type = install_type_of(repository.name, self.env)
        if install_type != "source":
            log.info("%s install type not set to source (%s)", repository.name, install_type)
            return False
        if repository.type not in ("git", "tar", "file"):
            raise SourceRepositoryError(
                f"{repository.origin}: unsupported repository type {repository.type!r} for "
                f"{repository.name} (DIB fetches git, tar and file; a 'package' repository "
                f"is installed from packages: set DIB_INSTALLTYPE_{repository.variable_name}"
                "=package)."
            )
        self.check_destination(repository)
        if not repository.location:
            raise SourceRepositoryError(
                f"{repository.origin}: {repository.name} has no location to fetch from."
            )
        for field, value in (("location", repository.location), ("ref", repository.ref)):
            if repository.type == "git" and value.startswith("-"):
                raise SourceRepositoryError(
                    f"{repository.origin}: the {field} {value!r} of {repository.name} starts "
                    "with '-', which git would take for an option; dibpy refuses it."
                )
        return True

    def place(self, repository: Repository) -> None:
        getattr(self, f"place_{repository.type}")(repository)
        self.destinations.append(repository.destination)

    @staticmethod
    def check_destination(repository: Repository) -> None:
        destination = repository.destination
        if not destination:
            raise SourceRepositoryError(
                f"{repository.origin}: {repository.name} has no destination; give an "
                "absolute path in the image as the third field."
            )
        if ".." in PurePosixPath(destination).parts:
            raise SourceRepositoryError(
                f"{repository.origin}: the destination {destination!r} of {repository.name} "
                "contains '..'; dibpy refuses paths that could climb out of where they "
                "point. Give a plain absolute path in the image."
            )

    # --- git ---

    def place_git(self, repository: Repository) -> None:
        location = repository.location
        if self.settings.git_base and not repository.location_overridden:
            rebased = rebase_git_location(location, self.settings.git_base)
            if rebased != location:
                log.info("Transformed %s to %s", location, rebased)
            location = rebased
        cache = self.cache / cache_name(repository, location)
        ref = repository.ref
        self.update_cache(repository, location, cache)
        destination = repository.destination
        key = str(PurePosixPath("/", destination))
        if key in self.placed:
            earlier = self.placed[key]
            if earlier[1] != str(cache) or (ref != "*" and earlier[2] != ref):
                raise SourceRepositoryError(
                    f"{repository.origin}: {repository.name} would be cloned to {destination}, "
                    f"where {earlier[0]} was already cloned from another location or ref. "
                    "Give each repository its own destination."
                )
            log.info("%s is already at %s", repository.name, destination)
            return
        target = in_root(self.ctx.target_root, destination)
        if target.exists() or target.is_symlink():
            raise SourceRepositoryError(
                f"{repository.origin}: cannot clone {repository.name} to {destination}: it "
                "already exists in the image."
            )
        make_dirs(self.ctx.target_root, str(PurePosixPath("/", destination).parent))
        git = self.git
        git(["clone", "-q", "--no-hardlinks", str(cache), str(target)])
        if ref == "*":
            git(["-C", str(target), "fetch", "-q", "--prune", "--update-head-ok", str(cache),
                 "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])  # fmt: skip
            sha = git(["-C", str(target), "rev-parse", "HEAD"], capture=True)
        else:
            git(["-C", str(target), "fetch", "-q", str(cache), f"{ref}:fetch_{ref}"])
            git(["-C", str(target), "reset", "-q", "--hard", "FETCH_HEAD"])
            sha = git(["-C", str(target), "rev-parse", "FETCH_HEAD"], capture=True)
        self.placed[key] = (repository.name, str(cache), ref)
        self.manifest.append(f"{repository.name} git {destination} {location} {sha}")

    def update_cache(self, repository: Repository, location: str, cache: Path) -> None:
        """Clone ``location`` into ``cache`` if missing, then fetch the ref into it."""
        offline = self.ctx.offline
        ref = repository.ref
        if not cache.exists():
            if offline:
                raise SourceRepositoryError(
                    f"DIB_OFFLINE is set and {repository.name} ({location}) is not in the "
                    f"cache ({cache}). Run the build once online, or unset DIB_OFFLINE."
                )
            log.info("Caching %s from %s in %s", repository.name, location, cache)
            partial = cache.with_name(cache.name + ".tmp")
            self.retry(
                ["clone", "-q", "--bare", location, str(partial)],
                f"cloning {location}",
                cleanup=partial,
            )
            partial.rename(cache)
        if offline:
            if ref != "*" and not self.has_commit(cache, ref):
                raise SourceRepositoryError(
                    f"DIB_OFFLINE is set and the cache of {repository.name} ({cache}) has no "
                    f"{ref!r}. Run the build once online, or unset DIB_OFFLINE."
                )
            return
        log.info("Updating cache of %s in %s with ref %s", location, cache, ref)
        fetch = ["-C", str(cache), "fetch", "-q", "--prune", "--update-head-ok", location]
        # A named ref first (it may be outside refs/heads, as Gerrit's refs/changes are);
        # then all heads and tags, the only way to get a commit id (a reachable one).
        if ref == "*" or self.git([*fetch, f"+{ref}:{ref}"], check=False, quiet=True) is None:
            self.retry(
                [*fetch, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                f"fetching {location}",
            )
        if ref != "*":
            self.check_ref(repository, cache)

    def check_ref(self, repository: Repository, cache: Path) -> None:
        if not self.has_commit(cache, repository.ref):
            raise SourceRepositoryError(
                f"{repository.origin}: {repository.location} has no {repository.ref!r} (no "
                f"branch, tag or reachable commit of that name) for {repository.name}. Check "
                f"the ref, or set DIB_REPOREF_{repository.variable_name}."
            )

    def has_commit(self, cache: Path, ref: str) -> bool:
        found = self.git(
            ["-C", str(cache), "rev-parse", "-q", "--verify", f"{ref}^{{commit}}"],
            check=False,
            capture=True,
            quiet=True,
        )
        return bool(found)

    def retry(self, args: list[str], doing: str, cleanup: Path | None = None) -> None:
        for attempt in range(1, GIT_ATTEMPTS + 1):
            try:
                self.git(args)
                return
            except CommandError as exc:
                if cleanup is not None:
                    shutil.rmtree(cleanup, ignore_errors=True)
                if attempt == GIT_ATTEMPTS:
                    raise SourceRepositoryError(
                        f"git failed {GIT_ATTEMPTS} times {doing}: {exc}"
                    ) from None
                log.warning("Attempt %d %s failed; trying again", attempt, doing)
                time.sleep(GIT_RETRY_SECONDS)

    def git(
        self, args: list[str], *, check: bool = True, capture: bool = False, quiet: bool = False
    ) -> str | None:
        """Run git on the host; its output with ``capture``; None if it failed unchecked."""
        result = self.ctx.run(
            ["git", *args],
            env={"GIT_TERMINAL_PROMPT": "0"},
            capture=capture or quiet,
            check=check,
        )
        if result.returncode != 0:
            return None
        return result.stdout.strip()

    # --- tar and file ---

    def download(self, repository: Repository) -> Path:
        cache = self.cache / cache_name(repository, repository.location)
        log.info("Caching %s from %s in %s", repository.name, repository.location, cache)
        self.ctx.fetcher.fetch(repository.location, cache)
        return cache

    def place_tar(self, repository: Repository) -> None:
        tarball = self.download(repository)
        if detect_format(tarball) is ArchiveFormat.SQUASHFS:
            raise SourceRepositoryError(
                f"{repository.origin}: {repository.location} is a squashfs image, not a "
                f"tarball; {repository.name} cannot be unpacked."
            )
        scratch = Path(tempfile.mkdtemp(prefix="source-repository-", dir=self.ctx.build_dir))
        try:
            unpacked = scratch / "tarball"
            extract_root_image(tarball, unpacked, self.ctx.runner)
            sources = self.tar_selection(repository, unpacked)
            make_dirs(self.ctx.target_root, repository.destination)
            for source in sources:
                copy_into_root(source, self.ctx.target_root, repository.destination, archive=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    @staticmethod
    def tar_selection(repository: Repository, unpacked: Path) -> list[Path]:
        """The folders of the unpacked tarball that ``ref`` names (``.``, ``*``, a path or
        a shell pattern), each resolved inside the tarball."""
        ref = repository.ref
        if ref.startswith("/") or ".." in PurePosixPath(ref).parts:
            raise SourceRepositoryError(
                f"{repository.origin}: the tarball ref {ref!r} of {repository.name} must be a "
                "path inside the tarball ('.', '*' or a sub-folder)."
            )
        if any(c in ref for c in "*?["):
            matches = sorted(glob.glob(ref, root_dir=unpacked))
        else:
            matches = [ref] if (unpacked / ref).exists() or ref == "." else []
        if not matches:
            raise SourceRepositoryError(
                f"{repository.origin}: the tarball {repository.location} has nothing matching "
                f"{ref!r} for {repository.name}. Check the ref ('.' takes the whole tarball, "
                "'*' the contents of its top-level folders)."
            )
        folders = []
        for match in matches:
            folder = in_root(unpacked, match)
            if not folder.is_dir():
                raise SourceRepositoryError(
                    f"{repository.origin}: {match!r} of the tarball {repository.location} is "
                    f"not a folder; the ref {ref!r} of {repository.name} must name folders "
                    "(a single file of a tarball cannot be selected)."
                )
            folders.append(folder)
        return folders

    def place_file(self, repository: Repository) -> None:
        downloaded = self.download(repository)
        target = in_root(self.ctx.target_root, repository.destination)
        if target.is_dir():
            raise SourceRepositoryError(
                f"{repository.origin}: the destination {repository.destination} of "
                f"{repository.name} is a directory in the image; give the file's path."
            )
        install_file(self.ctx.target_root, downloaded, repository.destination)

    # --- records ---

    def write_records(self) -> None:
        root = self.ctx.target_root
        if self.destinations:
            make_dirs(root, "/etc")
            with in_root(root, "/etc/dib-source-repositories").open("a") as record:
                record.writelines(f"{d}\n" for d in self.destinations)
        if self.manifest:
            name = f"dib-manifest-git-{PurePosixPath(self.ctx.image_name).name}"
            manifest = str(PurePosixPath("/", self.settings.manifest_dir, name))
            make_dirs(root, str(PurePosixPath(manifest).parent))
            write_file(root, manifest, "".join(f"{line}\n" for line in self.manifest))
