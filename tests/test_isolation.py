"""Nothing outlives the build: a build runs in mount and pid namespaces of its own, so that
even a SIGKILL of ``dibpy`` (or of a program calling ``dibpy.build``) while a command runs in
the chroot leaves the host's mount table exactly as it was and no process of the build alive.

``run_isolated`` itself: the work runs as pid 1 of new mount and pid namespaces (and a new
network namespace offline), its messages and log records reach the caller in order, and its
errors come back with their type, message and fields.

A real tiny-busybox build with a ``sleeper`` element whose install hook runs a ``sleep`` with
a unique argument in the chroot. While it sleeps the test checks that the build's mounts
(its tmpfs, the chroot's /proc) exist, in the build's namespace and not in the host's; then it
SIGKILLs the caller and waits, briefly, for the kernel to take everything down. Needs root
and a static busybox; a second or two each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, clean_env, make_element, needs_root
from root_helpers import force_unmount, mount_points, parent_of

from dibpy.errors import BuildError, CommandError, HookError, InputError
from dibpy.host.isolation import run_isolated

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox")

SLEEPER = '''
"""Sleeps in the chroot, in the install phase."""
from dibpy import install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def sleep(ctx):
    ctx.chroot.run(["/bin/busybox", "sleep", "{seconds}"])
'''

# The same build through the Python API, in a program of its own (the one that is killed).
API_CALLER = """
import sys
from pathlib import Path

import dibpy

out, examples, elements = (Path(a) for a in sys.argv[1:4])
dibpy.build(
    ["tiny-busybox", "sleeper"],
    output=out,
    formats=["tar"],
    element_paths=[examples, elements],
    skip_base=True,
)
"""


@pytest.fixture
def seconds(tmp_path: Path) -> Iterator[str]:
    """A unique sleep duration; whatever still sleeps it afterwards is killed, and whatever a
    failed test left mounted is unmounted."""
    value = str(random.randint(50_000, 59_999))
    yield value
    for pid in processes_mentioning(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    force_unmount(tmp_path)


def processes_mentioning(*words: str) -> list[int]:
    """Pids of the processes (other than this one) whose command line has any of ``words``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if any(word in argv for word in words):
            found.append(int(entry.name))
    return found


def mount_table(tmp_path: Path) -> list[str]:
    """The host's mount table (this process's namespace) without the mount ids, which change
    with every mount, and without the mounts of other tests that may run meanwhile (in
    their own directories beside ``tmp_path``)."""
    others = tmp_path.parents[1]  # /tmp/pytest-of-USER
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return sorted(
        " ".join(line.split(" ")[3:])
        for line in lines
        if not Path(line.split(" ")[4]).is_relative_to(others)
        or Path(line.split(" ")[4]).is_relative_to(tmp_path)
    )


def start(tmp_path: Path, seconds: str, how: str) -> subprocess.Popen[bytes]:
    elements = tmp_path / "elements"
    make_element(elements, "sleeper", SLEEPER.format(seconds=seconds))
    if how == "cli":
        argv = [sys.executable, "-m", "dibpy", "build", "-n", "-t", "tar", "-o", "out"]
        argv += [f"--element-path={EXAMPLES}", f"--element-path={elements}"]
        argv += ["tiny-busybox", "sleeper"]
    else:
        argv = [sys.executable, "-c", API_CALLER, str(tmp_path / "out"), str(EXAMPLES)]
        argv.append(str(elements))
    return subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for(pattern: str, proc: subprocess.Popen[bytes]) -> int:
    """The pid of the chroot command, once it runs (the caller's own line excluded)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in processes_mentioning(pattern) if p != proc.pid]
        if found:
            return found[0]
        if proc.poll() is not None:
            raise AssertionError(f"the build ended first:\n{proc.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the hook's command never started")


@pytest.mark.root
@needs_root
@needs_busybox
@pytest.mark.parametrize("how", ["cli", "api"])
def test_a_sigkilled_build_leaves_no_mount_and_no_process(
    tmp_path: Path, seconds: str, how: str
) -> None:
    before = mount_table(tmp_path)
    proc = start(tmp_path, seconds, how)
    try:
        sleeper = wait_for(f"sleep\0{seconds}", proc)
        build_dirs = list((tmp_path / "tmp").glob("dibpy_build.*"))
        assert len(build_dirs) == 1
        # The build's mounts (its tmpfs, the chroot's /proc) exist, in its own namespace
        # (seen by the build's process, the command's parent) and not in the host's.
        inside = mount_points(parent_of(sleeper))
        assert build_dirs[0] in inside
        assert build_dirs[0] / "root/proc" in inside
        assert mount_table(tmp_path) == before
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 5
    left = processes_mentioning(seconds, str(tmp_path))
    while (left or mount_table(tmp_path) != before) and time.monotonic() < deadline:
        time.sleep(0.05)
        left = processes_mentioning(seconds, str(tmp_path))
    assert left == []
    assert mount_table(tmp_path) == before


def namespaces_of(pid: int | str = "self") -> dict[str, str]:
    return {kind: os.readlink(f"/proc/{pid}/ns/{kind}") for kind in ("mnt", "pid", "net")}


@pytest.mark.root
@needs_root
@pytest.mark.parametrize("offline", [False, True], ids=["online", "offline"])
def test_the_work_runs_as_init_of_namespaces_of_its_own(
    offline: bool, caplog: pytest.LogCaptureFixture
) -> None:
    def work(send: Callable[[str], None]) -> tuple[int, dict[str, str], str]:
        send("first")
        logging.getLogger("isolation-test").warning("logged in the build")
        send("second")
        interfaces = Path("/proc/self/net/dev").read_text().splitlines()[2:]
        return os.getpid(), namespaces_of(), " ".join(i.split(":")[0].strip() for i in interfaces)

    received: list[str] = []
    with caplog.at_level(logging.WARNING, logger="isolation-test"):
        pid, inside, interfaces = run_isolated(work, received.append, offline=offline)
    ours = namespaces_of()
    assert pid == 1
    assert inside["mnt"] != ours["mnt"] and inside["pid"] != ours["pid"]
    assert (inside["net"] != ours["net"]) is offline
    if offline:
        assert interfaces == "lo"
    assert received == ["first", "second"]
    assert "logged in the build" in caplog.messages


def roundtrip(error: Exception) -> Exception:
    copy: Exception = pickle.loads(pickle.dumps(error))  # noqa: S301 (bytes made just above)
    return copy


def test_dibpy_errors_pickle_with_their_type_message_and_fields() -> None:
    errors = [
        InputError("bad input"),
        CommandError(["false", "--flag"], 1, "its output"),
        HookError("install", "faulty", "fault", RuntimeError("boom")),
    ]
    for error in errors:
        copy = roundtrip(error)
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert vars(copy).keys() == vars(error).keys()
    hook_error = roundtrip(errors[2])
    assert isinstance(hook_error, HookError)
    assert (hook_error.phase, hook_error.element, hook_error.hook) == ("install", "faulty", "fault")
    assert isinstance(hook_error.cause, RuntimeError) and str(hook_error.cause) == "boom"
    command_error = roundtrip(errors[1])
    assert isinstance(command_error, CommandError) and command_error.argv == ["false", "--flag"]


@pytest.mark.root
@needs_root
def test_an_error_in_the_work_is_raised_with_its_type_fields_and_traceback() -> None:
    class Unpicklable(Exception):  # a local class: pickle cannot find it by name
        pass

    def work(send: Callable[[object], None]) -> None:
        raise HookError("install", "faulty", "fault", Unpicklable("boom"))

    with pytest.raises(HookError) as caught:
        run_isolated(work)
    error = caught.value
    assert (error.phase, error.element, error.hook) == ("install", "faulty", "fault")
    assert str(error) == "The install phase failed in hook 'fault' of element 'faulty': boom"
    assert str(error.cause) == "Unpicklable: boom"  # made text, since it cannot cross
    assert "In the build's process" in error.__notes__[0] and "in work" in error.__notes__[0]
    with pytest.raises(BuildError, match="exit status 3"):
        run_isolated(lambda send: os._exit(3))
