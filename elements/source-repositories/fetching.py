"""Placing repositories in the image: git through a bare clone in the image cache (updated,
with retries, on every build; only read offline), tarballs and files through the build's
fetcher; and the records of what was placed (``/etc/dib-source-repositories``, the git
manifest)."""

from __future__ import annotations

import glob
import hashlib
import logging
import re
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath

from dibpy import BuildContext, CommandError
from dibpy.author import (
    ArchiveFormat,
    copy_into_root,
    detect_format,
    extract_root_image,
    in_root,
    install_file,
    make_dirs,
    write_file,
)

from .repositories import Repository, SourceRepositoryError

log = logging.getLogger("dibpy.elements.source-repositories")

CACHE_AREA = "source-repositories"
GIT_ATTEMPTS = 5
GIT_RETRY_SECONDS = 5.0
GIT_HOST = re.compile(r"^[^:]+://[^/]+/(~[^/]+)?(.*)$")


def rebase_git_location(location: str, base: str) -> str:
    """``DIB_GITREPOBASE``: ``scheme://host/[~user]PATH`` becomes ``base + PATH``."""
    return GIT_HOST.sub(lambda m: base + m.group(2), location, count=1)


def cache_name(repository: Repository, location: str) -> str:
    """DIB's cache entry name: ``<name>_<sha1 of "type_location\\n">``."""
    name = f"{repository.type}_{location}\n".encode()
    digest = hashlib.sha1(name, usedforsecurity=False).hexdigest()
    return f"{repository.variable_name}_{digest}"


class Fetcher:
    """Places repositories into the tree and remembers what to record."""

    def __init__(self, ctx: BuildContext, *, git_base: str, manifest_dir: str) -> None:
        self.ctx = ctx
        self.git_base = git_base
        self.manifest_dir = manifest_dir
        self.placed: dict[str, tuple[str, str, str]] = {}
        self.destinations: list[str] = []
        self.manifest: list[str] = []

    def cache_entry(self, name: str) -> Path:
        """An entry of the image cache's source-repositories area (made on first use)."""
        return self.ctx.cache.area(CACHE_AREA).entry(name)

    def place(self, repository: Repository) -> None:
        getattr(self, f"place_{repository.type}")(repository)
        self.destinations.append(repository.destination)

    # --- git ---

    def place_git(self, repository: Repository) -> None:
        location = repository.location
        if self.git_base and not repository.location_overridden:
            rebased = rebase_git_location(location, self.git_base)
            if rebased != location:
                log.info("Transformed %s to %s", location, rebased)
            location = rebased
        cache = self.cache_entry(cache_name(repository, location))
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
        cache = self.cache_entry(cache_name(repository, repository.location))
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
            manifest = str(PurePosixPath("/", self.manifest_dir, name))
            make_dirs(root, str(PurePosixPath(manifest).parent))
            write_file(root, manifest, "".join(f"{line}\n" for line in self.manifest))
