"""``dibpy`` on the command line: build, plan, elements, show, port, boot, completion."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
import traceback
import typing
from collections.abc import Sequence
from pathlib import Path

import shtab
from rich.console import Console

from dibpy import api, port
from dibpy._version import __version__
from dibpy.blockdev.disk import has_esp
from dibpy.building.build import BuildResult
from dibpy.config.model import BuildConfig
from dibpy.config.options import non_negative_int
from dibpy.config.settings import parse_bool
from dibpy.elements import ElementIndex
from dibpy.errors import DibError, InputError
from dibpy.events import EventCallback
from dibpy.frontends import buildargs, log, progress, qemu, show
from dibpy.tree import diff as treediff

logger = logging.getLogger("dibpy.frontends.cli")

# Shell completion of element names: what `dibpy elements --names` lists (ELEMENTS_PATH,
# entry points, built-ins), computed when TAB is pressed.
ELEMENT_NAMES = {"bash": "_dibpy_element_names", "zsh": "($(dibpy elements --names 2>/dev/null))"}
COMPLETION_PREAMBLE = {
    "bash": "_dibpy_element_names() {\n"
    '  compgen -W "$(dibpy elements --names 2>/dev/null)" -- "$1"\n}\n'
}


PATHS = ("element_paths",)
SELECTION = ("arch", "skip_base")
PLAN_OPTIONS = (*PATHS, *SELECTION)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="dibpy", description="Build OS disk images from elements written in Python."
    )
    top.add_argument("--version", action="version", version=f"dibpy {__version__}")
    top.add_argument("--debug", action="store_true", help="verbose log and tracebacks")
    commands = top.add_subparsers(dest="command", required=True)

    # The build options (dibpy.config.model) are made from their declarations; --element-path,
    # -a and -n are shared with the commands that resolve elements.
    paths = argparse.ArgumentParser(add_help=False)
    buildargs.add_arguments(paths, PATHS)
    selection = argparse.ArgumentParser(add_help=False, parents=[paths])
    buildargs.add_arguments(selection, SELECTION)
    element_names = selection.add_argument(
        "elements", nargs="+", metavar="ELEMENT", help="the elements to build from, by name"
    )
    element_names.complete = ELEMENT_NAMES  # type: ignore[attr-defined]

    build = commands.add_parser(
        "build",
        parents=[selection],
        help="build an image",
        description="Build an image (disk-image-create's options).",
    )
    buildargs.add_arguments(build, [n for n in buildargs.flagged() if n not in PLAN_OPTIONS])
    build.add_argument(
        "-x",
        dest="trace",
        action="count",
        default=0,
        help="more tracing for hooks (DIB_DEBUG_TRACE), repeatable",
    )
    build.add_argument(
        "--log-file",
        type=Path,
        metavar="FILE",
        help="also write the whole log, timestamped, to FILE; the log lines then leave "
        "stderr (DIB_QUIET=1 is implied unless DIB_QUIET is set, as in DIB)",
    )
    build.add_argument(
        "--no-progress",
        action="store_true",
        help="plain timestamped log lines instead of the progress display (the default "
        "when stderr is not a terminal)",
    )

    plan = commands.add_parser(
        "plan", parents=[selection], help="show the hooks a build would run, in order"
    )
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")

    listing = commands.add_parser("elements", parents=[paths], help="list every element found")
    listing.add_argument("--names", action="store_true", help="only the names, one a line")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")

    diff_cmd = commands.add_parser(
        "diff",
        help="compare two image trees (directories or tar files)",
        description="Compare two trees, each a directory or a tar archive (as -t tar writes): "
        "paths, types, modes, numeric owners, symlink targets, file contents and device "
        "numbers; never timestamps. Exit 0 when they are equal but for the --allow'ed "
        "paths, 1 when they differ.",
    )
    for side in ("left", "right"):
        tree_arg = diff_cmd.add_argument(side, type=Path, help=f"the {side} tree")
        tree_arg.complete = shtab.FILE  # type: ignore[attr-defined]
    diff_cmd.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="GLOB[=FIELDS]",
        help="paths matching GLOB (against /path) may differ; with =FIELDS (a comma list "
        "of type,mode,uid,gid,target,sha256,device), only in those fields (repeatable)",
    )
    diff_cmd.add_argument("--json", action="store_true", help="print the comparison as JSON")
    diff_cmd.add_argument(
        "--show-allowed", action="store_true", help="also list the allowed differences"
    )

    show_cmd = commands.add_parser(
        "show",
        parents=[paths],
        help="describe one element",
        description="Show an element's doc, DEPENDS/PROVIDES/CONFLICTS, its hooks per phase, "
        "the settings it reads with their defaults, and where it was found.",
    )
    shown = show_cmd.add_argument("element", metavar="ELEMENT", help="the element's name")
    shown.complete = ELEMENT_NAMES  # type: ignore[attr-defined]
    show_cmd.add_argument("--json", action="store_true", help="print it as JSON")

    port_cmd = commands.add_parser(
        "port",
        help="turn a legacy (DIB folder) element into a Python element package",
        description="Turn the DIB element in DIR into the Python element package OUT/NAME "
        "(NAME: the folder's name) that builds the same image: element-deps, package-installs "
        "and pkg-map become DEPENDS, PACKAGES and PKG_MAP, plain environment.d defaults "
        "become ENVIRONMENT, and each script becomes a hook that runs the kept script until "
        "it is translated (see docs/migrating.md). What is left to do is listed.",
    )
    legacy_dir = port_cmd.add_argument(
        "directory", type=Path, metavar="DIR", help="the legacy element's folder"
    )
    legacy_dir.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
    port_cmd.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("."),
        metavar="OUT",
        help="where to write the package folder NAME (default: the current directory)",
    )
    port_cmd.add_argument("--force", action="store_true", help="replace an existing OUT/NAME")

    completion = commands.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print the completion script for SHELL. bash: "
        "`source <(dibpy completion bash)` (or save it in "
        "/etc/bash_completion.d/dibpy); zsh: save it as _dibpy in a directory on $fpath.",
    )
    completion.add_argument("shell", choices=["bash", "zsh"], metavar="SHELL", help="the shell")

    boot = commands.add_parser(
        "boot",
        help="boot an image in qemu",
        description="Boot an image in qemu (TCG by default; DIBPY_QEMU_ACCEL=kvm for KVM) on "
        "a snapshot, so the image is not changed. With --expect, wait for a pattern on the "
        "serial console and exit 0 when it shows, 1 (with the last console lines) when not.",
    )
    boot.add_argument("image", type=Path, help="the disk image (qcow2, raw, ...)")
    boot.add_argument(
        "--efi",
        action="store_true",
        default=None,
        help="boot with UEFI firmware (default: when the disk has an ESP)",
    )
    boot.add_argument("--expect", metavar="REGEX", help="wait for REGEX on the console")
    boot.add_argument(
        "--timeout",
        type=float,
        default=600,
        metavar="SECONDS",
        help="how long --expect waits (default: %(default)s)",
    )
    boot.add_argument(
        "--memory", default="1024", metavar="MiB", help="guest memory (default: %(default)s)"
    )
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command != "build":
        log.setup(debug=args.debug)
    try:
        if args.command == "plan":
            return _plan(args)
        if args.command == "elements":
            return _elements(args)
        if args.command == "show":
            return _show(args)
        if args.command == "port":
            return _port(args)
        if args.command == "diff":
            return _diff(args)
        if args.command == "completion":
            print(
                shtab.complete(
                    parser(), args.shell, preamble=COMPLETION_PREAMBLE.get(args.shell, "")
                ),
                end="",
            )
            return 0
        if args.command == "boot":
            return _boot(args)
        return _build(args, list(sys.argv[1:] if argv is None else argv))
    except DibError as exc:
        if args.debug:
            traceback.print_exc()
        print(_paragraph(str(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dibpy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dibpy plan | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _plan(args: argparse.Namespace) -> int:
    the_plan = api.plan(args.elements, **buildargs.values(args, PLAN_OPTIONS))
    if args.json:
        print(json.dumps(the_plan.to_dict(), indent=2))
    else:
        print(the_plan.describe())
    return 0


def _elements(args: argparse.Namespace) -> int:
    index = ElementIndex.discover(
        list(args.element_paths or ()), os.environ.get("ELEMENTS_PATH", "")
    )
    if args.names:
        print("\n".join(index.names()))
        return 0
    rows = show.element_rows(index)
    print(json.dumps(rows, indent=2) if args.json else show.render_rows(rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    index = ElementIndex.discover(
        list(args.element_paths or ()), os.environ.get("ELEMENTS_PATH", "")
    )
    info = show.element_info(index, args.element)
    print(json.dumps(info, indent=2) if args.json else show.render(info))
    return 0


def _diff(args: argparse.Namespace) -> int:
    allowances = [treediff.parse_allowance(text) for text in args.allow]
    comparison = treediff.compare(args.left, args.right, allowances)
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
    else:
        print(comparison.report(show_allowed=args.show_allowed))
    return 0 if comparison.equal else 1


def _port(args: argparse.Namespace) -> int:
    result = port.port(args.directory, args.output, force=args.force)
    hooks = f"{result.hooks} hook{'s' if result.hooks != 1 else ''}"
    defaults = f"{result.environment} ENVIRONMENT default{'s' if result.environment != 1 else ''}"
    print(f"Wrote {result.package}: {hooks} running kept scripts, {defaults}.")
    if result.todo:
        print("TODO (also in the module's docstring):")
        print("\n".join(port.iter_todo(result)))
    return 0


def _quiet(env: dict[str, str], log_file: Path | None) -> tuple[bool, bool]:
    """(quiet, asked): DIB_QUIET=1 hides the log lines on stderr, and --log-file implies it
    unless DIB_QUIET is set, as in DIB; ``asked`` is whether DIB_QUIET=1 itself was set."""
    value = env.get("DIB_QUIET", "")
    if value == "":
        return log_file is not None, False
    asked = parse_bool("DIB_QUIET", value)
    return asked, asked


def _build(args: argparse.Namespace, argv: list[str]) -> int:
    env = dict(os.environ)
    quiet, asked = _quiet(env, args.log_file)
    # The progress display shows no log lines, so --log-file keeps it; DIB_QUIET=1 does not.
    fancy = not (asked or args.no_progress or args.debug) and sys.stderr.isatty()
    console = Console(stderr=True) if fancy else None
    log.setup(debug=args.debug, quiet=quiet, log_file=args.log_file, console=console)
    view: progress.TerminalView | progress.PlainView
    view = progress.TerminalView(console) if console is not None else progress.PlainView()
    if isinstance(view, progress.TerminalView):
        with view:
            result = _run_build(args, env, argv, view.on_event)
    else:
        result = _run_build(args, env, argv, view.on_event)
    for path in result.outputs:
        print(path)
    if result.manifest_path is not None:
        print(result.manifest_path)
    if result.build_dir is not None:
        print(f"Build directory: {result.build_dir}")
    return 0


def _run_build(
    args: argparse.Namespace, env: dict[str, str], argv: list[str], on_event: EventCallback
) -> BuildResult:
    if args.trace:
        start = non_negative_int("DIB_DEBUG_TRACE", env.get("DIB_DEBUG_TRACE", ""))
        env["DIB_DEBUG_TRACE"] = str(start + args.trace)
    options = buildargs.values(args, buildargs.flagged())
    output = options.pop("image_name", BuildConfig.model_fields["image_name"].default)
    return api.build(
        args.elements,
        output=output,
        env=env,
        on_event=on_event,
        command=["dibpy", *argv],
        **typing.cast(api.BuildOptions, options),
    )


def _boot(args: argparse.Namespace) -> int:
    image: Path = args.image
    if not image.is_file():
        raise InputError(f"{image} is not a file; give the path of a disk image to boot.")
    efi = args.efi if args.efi is not None else has_esp(image)
    if args.expect is None:
        return qemu.interactive(image, efi=efi, memory=args.memory)
    result = qemu.boot(
        image, efi=efi, expect=args.expect, timeout=args.timeout, memory=args.memory, accel="auto"
    )
    print(f"{image}: {args.expect!r} seen after {result.seconds:.0f}s")
    return 0


def _paragraph(message: str) -> str:
    """Wrap at 100 columns (prefix included) without breaking paths or element names."""
    return "\n".join(
        textwrap.fill(
            part,
            100,
            initial_indent="dibpy: error: " if i == 0 else "  ",
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
        for i, part in enumerate(p for p in message.splitlines() if p.strip())
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
