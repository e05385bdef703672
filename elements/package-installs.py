"""Installs and uninstalls the packages elements declare (PACKAGES, mapped through each
element's PKG_MAP), one apt transaction per phase, as DIB's package-installs does; and the
extra packages of `-p`, after the install phase's own. Legacy elements' package-installs.yaml
is their PACKAGES; DIB's older form, `<phase>.d/package-installs-<element>` files (one
package a line, also linked in by install-types), joins the same transaction."""

from pathlib import Path

from dibpy import (
    BuildContext,
    Phase,
    apt,
    install_hook,
    post_install_hook,
    pre_install_hook,
)
from dibpy.author import PhasePackages, map_names, squash

DEPENDS = ["install-bin", "pkg-map"]


def phase_packages(ctx: BuildContext, phase: Phase) -> PhasePackages:
    """The install and uninstall lists of ``phase`` for this build."""
    maps = ctx.element_data("PKG_MAP")
    env = ctx.shell_environment(phase)  # `when` sees what environment.d exports, as in DIB
    distro, release = env.get("DISTRO_NAME", ""), env.get("DIB_RELEASE", "")

    def mapper(element: str, name: str) -> list[str]:
        return map_names([name], maps.get(element), distro, release)

    packages = squash(ctx.element_data("PACKAGES"), ctx.arch, env, mapper)[phase]
    for element, names in listed_packages(ctx.hooks_path / f"{phase.value}.d").items():
        for name in map_names(names, maps.get(element), distro, release):
            if name not in packages.install:
                packages.install.append(name)
    return packages


def listed_packages(folder: Path) -> dict[str, list[str]]:
    """``{element: [package, ...]}`` of the ``package-installs-<element>`` files in a phase
    folder of the hooks tree: one name a line, ``#`` comments; a leading ``-`` (once an
    uninstall mark) is dropped, as DIB's package-installs -d drops it."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("package-installs-*")) if folder.is_dir() else ():
        if not path.is_file():
            continue
        element = path.name.removeprefix("package-installs-")
        for line in path.read_text().splitlines():
            name = line.strip()
            if name and not name.startswith("#"):
                found.setdefault(element, []).append(name.removeprefix("-"))
    return found


@pre_install_hook(order=10)
def pre_install_packages(ctx: BuildContext) -> None:
    """Install the packages declared for the pre-install phase."""
    apt.install(ctx, phase_packages(ctx, Phase.PRE_INSTALL).install)


@pre_install_hook(order=99)
def pre_install_uninstalls(ctx: BuildContext) -> None:
    """Remove the packages declared as uninstall for the pre-install phase."""
    apt.remove(ctx, phase_packages(ctx, Phase.PRE_INSTALL).uninstall)


@install_hook(order=1)
def install_packages(ctx: BuildContext) -> None:
    """Install the packages declared for the install phase."""
    apt.install(ctx, phase_packages(ctx, Phase.INSTALL).install)


@install_hook(order=99)
def install_uninstalls(ctx: BuildContext) -> None:
    """Remove the packages declared as uninstall for the install phase."""
    apt.remove(ctx, phase_packages(ctx, Phase.INSTALL).uninstall)


@post_install_hook(order=0)
def extra_packages(ctx: BuildContext) -> None:
    """Install the packages given with -p (DIB installs them right after install.d)."""
    apt.install(ctx, ctx.packages)


@post_install_hook(order=0)
def post_install_packages(ctx: BuildContext) -> None:
    """Install the packages declared for the post-install phase."""
    apt.install(ctx, phase_packages(ctx, Phase.POST_INSTALL).install)


@post_install_hook(order=95)
def post_install_uninstalls(ctx: BuildContext) -> None:
    """Remove the packages declared as uninstall for the post-install phase."""
    apt.remove(ctx, phase_packages(ctx, Phase.POST_INSTALL).uninstall)
