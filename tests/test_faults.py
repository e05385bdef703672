"""Faults injected into every phase of a real build of a tiny custom OS (tiny-busybox plus a
``faulty`` element with one hook in the phase under test), as a user runs it:
``python -m dibpy build -n -t raw ...``, so the image phases and the disk writer are in play.

Faults: the hook raises; a command it runs in the chroot exits non-zero; that command is
killed (SIGKILL, by the test); SIGINT or SIGTERM reaches the ``dibpy`` process while the
command runs; the file system of the build directory fills up (TMP_DIR on a small tmpfs).

After each: a non-zero exit and one error paragraph naming the phase, the element and the
hook; nothing mounted under the test's directory (/proc/self/mountinfo), no loop device
added, no process left whose root is in the build, no output and no partial output at the -o
path, no build directory left; and the next build on the same TMP_DIR and cache succeeds.
Needs root (mount, chroot) and a static busybox; each case takes a second or two. Three
phases run in the quick suite (-m "not slow"), all ten in the full one.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    EXAMPLES,
    build_dirs,
    clean_env,
    make_element,
    needs_root,
    processes_under,
)

from dibpy.outputs import formats as outputs

pytestmark = [
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox-static"),
]

PHASES = [
    "root",
    "extra-data",
    "pre-install",
    "install",
    "post-install",
    "post-root",
    "block-device",
    "pre-finalise",
    "finalise",
    "cleanup",
]

# Every phase runs in CI (the slow mark); the quick suite takes three of them.
QUICK = ("install", "block-device", "cleanup")
ALL_PHASES = [
    pytest.param(phase, marks=() if phase in QUICK else pytest.mark.slow) for phase in PHASES
]

FAULTY = '''
"""Injects a fault in the {phase} phase."""
from dibpy import {decorator}

DEPENDS = ["tiny-busybox"]


@{decorator}(order=50)
def fault(ctx):
    {body}
'''

BODIES = {
    "raises": 'raise RuntimeError("the fault the test injected")',
    "exits-non-zero": 'ctx.chroot.run(["/bin/busybox", "false"])',
    "sleeps": 'ctx.chroot.run(["/bin/busybox", "sleep", "{seconds}"])',
    "fills-the-disk": (
        'ctx.chroot.run(["/bin/busybox", "dd", "if=/dev/zero", "of=/fill", "bs=1M", "count=64"])'
    ),
}


def losetup() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=True).stdout


def no_loop_added(before: str) -> bool:
    """No loop device appeared since ``before`` (others' may have gone meanwhile)."""
    return set(losetup().splitlines()) <= set(before.splitlines())


def sleepers(seconds: str) -> list[int]:
    """Processes whose command line is ``... sleep SECONDS``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"sleep") for a in argv) and seconds.encode() in argv:
            found.append(int(entry.name))
    return found


@pytest.fixture
def seconds() -> Iterator[str]:
    """A distinctive sleep duration; whatever still sleeps it afterwards is killed."""
    value = str(random.randint(40_000, 49_999))
    yield value
    for pid in sleepers(value):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def tmpfs_at(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on a new directory ``where`` while the block runs."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", str(where)], check=True)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: room for the tiny tree (2 MiB), not for a 64 MiB file."""
    with tmpfs_at(tmp_path / "small", "24m") as where:
        yield where


def write_faulty(base: Path, phase: str, body: str) -> Path:
    elements = base / "elements"
    decorator = phase.replace("-", "_") + "_hook"
    make_element(elements, "faulty", FAULTY.format(phase=phase, decorator=decorator, body=body))
    return elements


def argv(base: Path, elements: Path, *names: str, fmt: str = "raw") -> list[str]:
    return [
        sys.executable,
        "-m",
        "dibpy",
        "build",
        "-n",
        "-t",
        fmt,
        "-o",
        str(base / "out"),
        f"--element-path={EXAMPLES}",
        f"--element-path={elements}",
        *names,
    ]


def start(base: Path, elements: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv(base, elements, "tiny-busybox", "faulty"),
        cwd=base,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_sleeper(seconds: str, proc: subprocess.Popen[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sleepers(seconds)
        if found:
            return found[0]
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the build ended before its command started:\n{err}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the hook's command never started")


def error_of(stderr: str) -> str:
    at = stderr.find("dibpy: error:")
    assert at >= 0, stderr
    assert stderr.count("dibpy: error:") == 1, stderr
    return " ".join(stderr[at:].split())


def mount_points_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (the fifth field of /proc/self/mountinfo)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    points = [line.split()[4] for line in lines]
    return [p for p in points if p == str(path) or p.startswith(f"{path}/")]


def assert_left_as_it_was(base: Path, tmp_dir: Path, loops: str, seconds: str = "") -> None:
    assert [p for p in mount_points_under(base) if p != str(base / "small")] == []
    assert no_loop_added(loops)
    assert processes_under(tmp_dir) == []
    if seconds:
        assert sleepers(seconds) == []
    assert build_dirs(tmp_dir) == []
    assert not (base / "out.raw").exists()
    assert list(base.glob(".out.*")) == []


def assert_next_build_succeeds(base: Path, env: dict[str, str]) -> None:
    """The same TMP_DIR and cache, without the fault: a good image."""
    done = subprocess.run(
        argv(base, base / "elements", "tiny-busybox", fmt="tar"),
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (base / "out.tar").is_file()
    assert build_dirs(Path(env["TMP_DIR"])) == []


@pytest.mark.parametrize("phase", ALL_PHASES)
@pytest.mark.parametrize("kind", ["raises", "exits-non-zero"])
def test_a_failing_hook(tmp_path: Path, phase: str, kind: str) -> None:
    loops = losetup()
    elements = write_faulty(tmp_path, phase, BODIES[kind])
    env = clean_env(tmp_path)
    done = subprocess.run(
        argv(tmp_path, elements, "tiny-busybox", "faulty"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = error_of(done.stderr)
    assert f"The {phase} phase failed in hook 'fault' of element 'faulty'" in error
    if kind == "raises":
        assert "the fault the test injected" in error
    else:
        assert "/bin/busybox false" in error
        assert "exited with status 1" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)
    assert_next_build_succeeds(tmp_path, env)


@pytest.mark.parametrize("phase", ALL_PHASES)
def test_a_command_killed_with_sigkill(tmp_path: Path, phase: str, seconds: str) -> None:
    loops = losetup()
    elements = write_faulty(tmp_path, phase, BODIES["sleeps"].format(seconds=seconds))
    env = clean_env(tmp_path)
    proc = start(tmp_path, elements, env)
    os.kill(wait_for_sleeper(seconds, proc), signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    error = error_of(err)
    assert f"The {phase} phase failed in hook 'fault' of element 'faulty'" in error
    assert "was killed by signal 9" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops, seconds)
    assert_next_build_succeeds(tmp_path, env)


@pytest.mark.parametrize("phase", ALL_PHASES)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_dibpy_mid_phase(
    tmp_path: Path, phase: str, sig: signal.Signals, seconds: str
) -> None:
    loops = losetup()
    elements = write_faulty(tmp_path, phase, BODIES["sleeps"].format(seconds=seconds))
    env = clean_env(tmp_path)
    proc = start(tmp_path, elements, env)
    wait_for_sleeper(seconds, proc)
    started = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 30  # it did not wait for the sleep to end
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    error = error_of(err)
    assert f"Interrupted during the {phase} phase, in hook 'fault' of element 'faulty'" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops, seconds)
    assert_next_build_succeeds(tmp_path, env)


@pytest.mark.parametrize("phase", ALL_PHASES)
def test_the_build_file_system_fills_up(tmp_path: Path, phase: str, small_tmpfs: Path) -> None:
    loops = losetup()
    elements = write_faulty(tmp_path, phase, BODIES["fills-the-disk"])
    # On disk (here: the small tmpfs), not in a tmpfs of its own: that is what fills up.
    env = clean_env(tmp_path, TMP_DIR=str(small_tmpfs), DIB_NO_TMPFS="1")
    done = subprocess.run(
        argv(tmp_path, elements, "tiny-busybox", "faulty", fmt="tar"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = error_of(done.stderr)
    assert f"The {phase} phase failed in hook 'fault' of element 'faulty'" in error
    assert "No space left on device" in error
    assert_left_as_it_was(tmp_path, small_tmpfs, loops)
    assert not (tmp_path / "out.tar").exists()
    assert list(small_tmpfs.iterdir()) == []
    assert_next_build_succeeds(tmp_path, env)


BULKY = '''
"""Adds 14 MiB of random bytes to the tree."""
import os

from dibpy import root_hook

DEPENDS = ["tiny-busybox"]


@root_hook(order=50)
def bulk(ctx):
    (ctx.target_root / "bulk").write_bytes(os.urandom(14 << 20))
'''


def test_the_disk_image_does_not_fit_in_the_build_directory(
    tmp_path: Path, small_tmpfs: Path
) -> None:
    """No hook at fault: a 16 MiB tree fits in the 24 MiB build directory, the disk image
    made from it next to it does not."""
    loops = losetup()
    elements = tmp_path / "elements"
    make_element(elements, "bulky", BULKY)
    # On disk (here: the small tmpfs), not in a tmpfs of its own: that is what fills up.
    env = clean_env(tmp_path, TMP_DIR=str(small_tmpfs), DIB_NO_TMPFS="1")
    done = subprocess.run(
        argv(tmp_path, elements, "tiny-busybox", "bulky"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    error = error_of(done.stderr)
    assert "No space left on device" in error, error
    assert_left_as_it_was(tmp_path, small_tmpfs, loops)
    assert list(small_tmpfs.iterdir()) == []
    assert_next_build_succeeds(tmp_path, env)


# --- more ways to stop a build -----------------------------------------------------------

DAEMON_THEN_FAIL = '''
"""Starts a daemon in the chroot, then fails."""
from dibpy import install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def fault(ctx):
    ctx.chroot.run(
        ["/bin/busybox", "start-stop-daemon", "-S", "-b", "-x", "/bin/sleep", "--",
         "{seconds}"]
    )
    raise RuntimeError("the fault the test injected")
'''


def test_a_daemon_left_by_a_failing_hook_is_killed_and_named(tmp_path: Path, seconds: str) -> None:
    loops = losetup()
    elements = tmp_path / "elements"
    make_element(elements, "faulty", DAEMON_THEN_FAIL.format(seconds=seconds))
    env = clean_env(tmp_path)
    done = subprocess.run(
        argv(tmp_path, elements, "tiny-busybox", "faulty"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "The install phase failed in hook 'fault' of element 'faulty'" in error_of(done.stderr)
    log = " ".join(done.stderr.split())
    assert "left running in the chroot" in log and "(sleep)" in log, done.stderr
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops, seconds)


PYTHON_SLEEPER = '''
"""Sleeps in Python (no command running) in the {phase} phase."""
import time
from pathlib import Path

from dibpy import {decorator}

DEPENDS = ["tiny-busybox"]


@{decorator}(order=50)
def fault(ctx):
    Path({marker!r}).write_text("asleep")
    time.sleep(600)
'''


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("phase", ["root", "finalise"])
def test_a_signal_while_a_hook_runs_python(tmp_path: Path, phase: str, sig: signal.Signals) -> None:
    loops = losetup()
    marker = tmp_path / "asleep"
    elements = tmp_path / "elements"
    text = PYTHON_SLEEPER.format(phase=phase, decorator=f"{phase}_hook", marker=str(marker))
    make_element(elements, "faulty", text)
    env = clean_env(tmp_path)
    proc = start(tmp_path, elements, env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    error = error_of(err)
    assert f"Interrupted during the {phase} phase, in hook 'fault' of element 'faulty'" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)


SLOW_CLEANUP = '''
"""Sleeps in a chroot command in install; its cleanup hook takes a second."""
import time

from dibpy import cleanup_hook, install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def fault(ctx):
    ctx.chroot.run(["/bin/busybox", "sleep", "{seconds}"])


@cleanup_hook(order=50)
def slow_cleanup(ctx):
    time.sleep(1)
    (ctx.target_root / "cleaned").write_text("yes")
'''


def test_ctrl_c_twice_still_cleans_up(tmp_path: Path, seconds: str) -> None:
    """An impatient second SIGINT while the build cleans up (its cleanup hook runs for a
    second) does not cut the clean-up short."""
    loops = losetup()
    elements = tmp_path / "elements"
    make_element(elements, "faulty", SLOW_CLEANUP.format(seconds=seconds))
    env = clean_env(tmp_path)
    proc = start(tmp_path, elements, env)
    wait_for_sleeper(seconds, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "while cleaning up; finishing the clean-up first" in err
    error = error_of(err)
    assert "Interrupted during the install phase, in hook 'fault' of element 'faulty'" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops, seconds)
    assert_next_build_succeeds(tmp_path, env)


BIG_TREE = '''
"""Adds 96 MiB of random bytes to the tree, so that writing the output takes a while."""
import os

from dibpy import root_hook

DEPENDS = ["tiny-busybox"]


@root_hook(order=50)
def bulk(ctx):
    with open(ctx.target_root / "bulk", "wb") as stream:
        for _ in range(96):
            stream.write(os.urandom(1 << 20))
'''


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_the_output_is_written_leaves_no_output(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """-t tar,squashfs of a 96 MiB tree: interrupted while mksquashfs (xz) writes, after
    out.tar was written, there is neither out.squashfs, nor a partial file beside it, nor
    the out.tar of this failed build."""
    loops = losetup()
    elements = tmp_path / "elements"
    make_element(elements, "big", BIG_TREE)
    env = clean_env(tmp_path)
    proc = subprocess.Popen(
        argv(tmp_path, elements, "tiny-busybox", "big", fmt="tar,squashfs"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    partial = tmp_path / ".out.squashfs.partial"
    deadline = time.monotonic() + 120
    while not partial.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    error = error_of(err)
    assert "Interrupted after the cleanup phase, while" in error
    assert "the outputs written" in error
    assert not (tmp_path / "out.squashfs").exists()
    assert not partial.exists()
    assert not (tmp_path / "out.tar").exists()
    assert "Removed " in err and "out.tar: the build failed after writing it" in err
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops)


HOST_DAEMON = '''
"""Starts a process in the tree from the host, outside any chroot session (as debootstrap's
second stage does, or a hook with its own subprocess), and leaves it running."""
import subprocess
import time
from pathlib import Path

from dibpy import install_hook

DEPENDS = ["tiny-busybox"]


@install_hook(order=50)
def fault(ctx):
    started = subprocess.Popen(
        ["chroot", ctx.target_root, "/bin/busybox", "sleep", "{seconds}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    comm = Path(f"/proc/{{started.pid}}/comm")
    deadline = time.monotonic() + 10
    while comm.read_text().strip() != "busybox" and time.monotonic() < deadline:
        time.sleep(0.01)  # until chroot has exec'd busybox, whose name the build then says
    {end}
'''


@pytest.mark.parametrize("end", ["fails", "succeeds"])
def test_a_process_a_host_command_left_in_the_tree_is_killed(
    tmp_path: Path, seconds: str, end: str
) -> None:
    loops = losetup()
    elements = tmp_path / "elements"
    body = 'raise RuntimeError("the fault the test injected")' if end == "fails" else "pass"
    make_element(elements, "faulty", HOST_DAEMON.format(seconds=seconds, end=body))
    env = clean_env(tmp_path)
    done = subprocess.run(
        argv(tmp_path, elements, "tiny-busybox", "faulty", fmt="tar"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sleepers(seconds) == []
    assert done.returncode == (1 if end == "fails" else 0), done.stderr
    log = " ".join(done.stderr.split())
    assert "left running in the chroot" in log and "(busybox)" in log, done.stderr
    assert processes_under(tmp_path) == []
    assert mount_points_under(tmp_path) == []
    assert no_loop_added(loops)
    assert build_dirs(tmp_path / "tmp") == []


@pytest.mark.parametrize("phase", ALL_PHASES)
def test_ctrl_c_to_the_whole_process_group(tmp_path: Path, phase: str, seconds: str) -> None:
    """Ctrl-C in a terminal reaches dibpy and the command it runs at once (SIGINT to the
    process group): the build reports the interruption, not the command's death."""
    loops = losetup()
    elements = write_faulty(tmp_path, phase, BODIES["sleeps"].format(seconds=seconds))
    env = clean_env(tmp_path)
    proc = subprocess.Popen(
        argv(tmp_path, elements, "tiny-busybox", "faulty"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for_sleeper(seconds, proc)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    error = error_of(err)
    assert f"Interrupted during the {phase} phase, in hook 'fault' of element 'faulty'" in error
    assert_left_as_it_was(tmp_path, tmp_path / "tmp", loops, seconds)


def test_only_outputs_written_by_the_failed_build_are_removed(tmp_path: Path) -> None:
    """An image from an earlier build that this one never reached stays; one it rewrote, and
    one it created, go."""
    untouched, rewritten, created = (tmp_path / n for n in ("a.qcow2", "b.raw", "c.tar"))
    untouched.write_text("earlier build")
    rewritten.write_text("earlier build")
    before = outputs.identities([untouched, rewritten, created])
    time.sleep(0.01)
    replacement = tmp_path / ".b.raw.partial"
    replacement.write_text("this build")
    os.replace(replacement, rewritten)
    created.write_text("this build")
    assert outputs.remove_changed(before) == [rewritten, created]
    assert untouched.read_text() == "earlier build"
    assert not rewritten.exists() and not created.exists()
