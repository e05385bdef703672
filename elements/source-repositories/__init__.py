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

import logging

from dibpy import BuildContext, ElementSettings, Phase, extra_data_hook, setting

from .fetching import CACHE_AREA, Fetcher, cache_name, rebase_git_location
from .repositories import (
    Repository,
    SourceRepositoryError,
    expand_line,
    parse_file,
    read_lines,
    repository_files,
    wanted,
)

__all__ = [
    "DEPENDS",
    "HOST_TOOLS",
    "PACKAGES",
    "PKG_MAP",
    "Repository",
    "SourceRepositoriesSettings",
    "SourceRepositoryError",
    "cache_name",
    "expand_line",
    "parse_file",
    "read_lines",
    "rebase_git_location",
    "repository_environment",
    "repository_files",
    "source_repositories",
]

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

LOCK_TIMEOUT = 600.0
"""Seconds to wait for another build using the repository cache (DIB's ``flock -w 600``)."""


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
    fetcher = Fetcher(ctx, git_base=settings.git_base, manifest_dir=settings.manifest_dir)
    parsed = [repo for path in files for repo in parse_file(path, env)]
    repositories = [repo for repo in parsed if wanted(repo, env)]
    if not repositories:
        return
    cache = ctx.cache.area(CACHE_AREA)
    with cache.lock("repositories", timeout=LOCK_TIMEOUT, doing="fetching source repositories"):
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
        "DIB_IMAGE_CACHE": str(ctx.cache.root),
        "TMP_MOUNT_PATH": str(ctx.target_root),
        "TMP_HOOKS_PATH": str(ctx.hooks_path),
        "DIB_OFFLINE": "1" if ctx.offline else "",
        "DIB_DEFAULT_INSTALLTYPE": "source",
    }.items():
        if not env.get(name):
            env[name] = value
    return env
