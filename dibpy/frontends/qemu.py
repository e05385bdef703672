"""Boot a disk image under qemu and watch its serial console: the proof an image boots.

``boot(image, efi=..., expect=r"login:", timeout=600)`` starts ``qemu-system-x86_64`` on a
*snapshot* of the image (``-snapshot``: writes go to a temporary overlay, the image file is
never changed), with the first serial port on a Unix socket that this module reads (qemu
waits for that connection before it starts the machine, so no console output is lost), and
returns as soon as the regular expression ``expect`` matches the console text (ANSI escape
sequences removed). ``then`` continues the conversation: each ``Exchange`` types a line on
the console and waits for its own pattern in what follows, which is how a test logs in and
runs ``update-grub`` in the booted machine; a plain function in ``then`` runs on the host
while the machine runs (an ssh login over a port forwarded with ``extra=["-nic", "user,..."]``,
say), the console still read meanwhile. On a timeout, or if qemu exits first,
``BootError`` carries the last console lines. qemu is stopped in every case (SIGTERM, then
SIGKILL), so no VM outlives the call.

Acceleration: TCG (software emulation) is the default. KVM is faster but hangs on some
machines (on the development machine GRUB stops after "GRUB loading." and OVMF never
starts under KVM, while TCG boots both), so it is used only when asked for with
``accel="kvm"``, or ``accel="auto"`` together with ``DIBPY_QEMU_ACCEL=kvm`` (see
``choose_accel``).

qemu is started with ``subprocess.Popen`` rather than ``dibpy.host.run.Runner``: Runner waits for
a command to finish, and a VM does not finish; this module owns its one child and always
reaps it.
"""

from __future__ import annotations

import logging
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dibpy.errors import BuildError, InputError

log = logging.getLogger("dibpy.frontends.qemu")

OVMF_CODE_CANDIDATES = (
    "/usr/share/OVMF/OVMF_CODE.fd",
    "/usr/share/OVMF/OVMF_CODE_4M.fd",
    "/usr/share/edk2/ovmf/OVMF_CODE.fd",
)
TAIL_LINES = 30
# Console text after which the expected output can no longer come: stop at once.
BOOT_FAILURES = (
    r"Kernel panic - not syncing"
    r"|You are in emergency mode"
    r"|Give root password for maintenance"
    r"|Entering rescue mode\.\.\."
    r"|grub rescue> "
    r"|\(initramfs\) "
)
_ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78cDEHM])")


class BootError(BuildError):
    """The image did not reach the expected console output."""

    def __init__(self, message: str, console: str) -> None:
        self.console = console
        super().__init__(message)


@dataclass(frozen=True)
class BootResult:
    seconds: float  # from starting qemu to the last match
    match: str  # the text that matched the last pattern awaited
    console: str  # the serial console so far, escape sequences removed
    accel: str


@dataclass(frozen=True)
class Exchange:
    """Type ``send`` and Enter on the serial console, then wait for ``expect`` (a regular
    expression) in the console output that follows.

    The console echoes what is typed, so make ``expect`` something only the command's
    *output* can match: ``echo DONE-$((6*7))`` echoes as typed but prints ``DONE-42``.
    """

    send: str
    expect: str


def clean_console(raw: str) -> str:
    """Console text without ANSI escape sequences and carriage returns."""
    return _ANSI.sub("", raw).replace("\r", "")


def kvm_usable() -> bool:
    """/dev/kvm exists and this process may open it (says nothing about it *working*)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def choose_accel(env: Mapping[str, str] | None = None) -> str:
    """``kvm`` only when asked for (``DIBPY_QEMU_ACCEL=kvm``) and usable, else ``tcg``.

    TCG is the default on purpose: on the machines this was developed on KVM is present but
    hangs in GRUB's BIOS stage and in OVMF.
    """
    wanted = (env if env is not None else os.environ).get("DIBPY_QEMU_ACCEL", "tcg")
    if wanted == "kvm" and kvm_usable():
        return "kvm"
    return "tcg"


def image_format(image: Path) -> str:
    with open(image, "rb") as handle:
        magic = handle.read(4)
    return "qcow2" if magic == b"QFI\xfb" else "raw"


def ovmf_code() -> Path:
    for candidate in OVMF_CODE_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise InputError(
        "UEFI boot needs OVMF's firmware (/usr/share/OVMF/OVMF_CODE.fd), which is not "
        "installed: apt-get install ovmf."
    )


def qemu_command(
    image: Path,
    *,
    efi: bool,
    console_socket: Path | None,
    vars_copy: Path | None,
    memory: str = "1024",
    accel: str = "tcg",
    interface: str = "virtio",
    reboot: bool = False,
    extra: Sequence[str] = (),
) -> list[str]:
    """The qemu command line: the serial console on the Unix socket ``console_socket``
    (qemu listens and waits for one connection before it starts the machine), or, when that
    is None, on this terminal together with qemu's monitor (``Ctrl-A X`` quits, ``Ctrl-A C``
    switches to the monitor). Unless ``reboot``, a reboot of the guest ends qemu."""
    argv = ["qemu-system-x86_64", "-accel", accel, "-m", memory, "-smp", "1"]
    if console_socket is not None:
        argv += [
            "-display",
            "none",
            "-monitor",
            "none",
            "-chardev",
            f"socket,id=console,path={console_socket},server=on,wait=on",
            "-serial",
            "chardev:console",
        ]
    else:
        argv += ["-nographic", "-serial", "mon:stdio"]
    if not reboot:
        argv.append("-no-reboot")
    argv += [
        "-snapshot",
        "-drive",
        f"file={image},format={image_format(image)},if={interface}",
        "-nic",
        "none",
    ]
    if efi:
        code = ovmf_code()
        if vars_copy is None:
            raise ValueError("UEFI boot needs a writable copy of the OVMF variables")
        argv += [
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={vars_copy}",
        ]
    return [*argv, *extra]


def interactive(
    image: Path, *, efi: bool, memory: str = "1024", accel: str = "auto", interface: str = "virtio"
) -> int:
    """Boot ``image`` (on a snapshot) with its serial console on this terminal.

    ``Ctrl-A X`` quits. Returns qemu's exit status. This one runs in the foreground with
    the terminal handed over, so it does not go through ``Runner`` either.
    """
    if accel == "auto":
        accel = choose_accel()
    _require_qemu()
    with tempfile.TemporaryDirectory(prefix="dibpy-qemu.") as scratch:
        vars_copy = None
        if efi:
            vars_copy = Path(scratch) / "OVMF_VARS.fd"
            shutil.copyfile(_vars_template(ovmf_code()), vars_copy)
        argv = qemu_command(
            image,
            efi=efi,
            console_socket=None,
            vars_copy=vars_copy,
            memory=memory,
            accel=accel,
            interface=interface,
        )
        log.info("$ %s", " ".join(argv))
        print("qemu: the serial console follows; Ctrl-A X quits.", flush=True)
        return subprocess.run(argv, check=False).returncode


def _require_qemu() -> None:
    if shutil.which("qemu-system-x86_64") is None:
        raise InputError(
            "Booting an image needs qemu-system-x86_64, which is not installed: "
            "apt-get install qemu-system-x86."
        )


def _vars_template(code: Path) -> Path:
    name = code.name.replace("CODE", "VARS").replace(".secboot", "").replace(".ms", "")
    template = code.with_name(name)
    if not template.is_file():
        raise BuildError(f"OVMF variables template {template} (for {code}) is missing.")
    return template


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


class _Console:
    """The guest's serial console, read from qemu's socket; raw bytes also go to ``copy``."""

    def __init__(self, sock: socket.socket, copy: BinaryIO) -> None:
        self._sock = sock
        self._copy = copy
        self._raw = bytearray()
        self.text = ""

    def read(self, wait: float) -> None:
        """Take what the guest wrote within ``wait`` seconds."""
        ready, _, _ = select.select([self._sock], [], [], wait)
        if not ready:
            return
        try:
            chunk = self._sock.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:  # qemu closed the console: it is exiting; let the caller see that
            time.sleep(wait)
            return
        self._raw += chunk
        self._copy.write(chunk)
        self._copy.flush()
        self.text = clean_console(self._raw.decode("utf-8", "replace"))

    def type_line(self, line: str) -> None:
        self._sock.sendall(line.encode() + b"\r")


def _connect(path: Path, proc: subprocess.Popen[bytes], qemu_output: Path) -> socket.socket:
    """Connect to qemu's console socket once it listens."""
    deadline = time.monotonic() + 60
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
        if proc.poll() is not None or time.monotonic() > deadline:
            said = qemu_output.read_text(errors="replace").strip()
            raise BootError(
                f"qemu did not start (status {proc.poll()}); qemu said: {said or '(nothing)'}", ""
            )
        time.sleep(0.05)


def boot(
    image: Path,
    *,
    efi: bool,
    expect: str,
    timeout: float,
    then: Sequence[Exchange | Callable[[], object]] = (),
    memory: str = "1024",
    accel: str = "tcg",
    interface: str = "virtio",
    reboot: bool = False,
    extra: Sequence[str] = (),
    console_copy: Path | None = None,
    fail: str | None = BOOT_FAILURES,
) -> BootResult:
    """Boot ``image`` until ``expect`` shows on the serial console, then play ``then``; see
    the module doc. ``timeout`` is for the whole conversation.

    ``accel``: ``tcg`` (default), ``kvm``, or ``auto`` (``choose_accel``). ``reboot``: let a
    reboot of the guest restart it instead of ending qemu. ``console_copy``: also keep the
    raw console output in this file. ``fail``: a regular expression that ends the wait at
    once with ``BootError`` (by default: a kernel panic, systemd's emergency mode, GRUB's
    rescue shell, the initramfs shell); None waits for the timeout.
    """
    if accel == "auto":
        accel = choose_accel()
    _require_qemu()
    failure = re.compile(fail) if fail else None
    with tempfile.TemporaryDirectory(prefix="dibpy-qemu.") as scratch:
        work = Path(scratch)
        vars_copy = None
        if efi:
            vars_copy = work / "OVMF_VARS.fd"
            shutil.copyfile(_vars_template(ovmf_code()), vars_copy)
        console_socket = work / "console.sock"
        argv = qemu_command(
            image,
            efi=efi,
            console_socket=console_socket,
            vars_copy=vars_copy,
            memory=memory,
            accel=accel,
            interface=interface,
            reboot=reboot,
            extra=extra,
        )
        log.info("$ %s", " ".join(argv))
        qemu_output = work / "qemu.out"
        with open(qemu_output, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            with (
                _connect(console_socket, proc, qemu_output) as sock,
                open(console_copy or work / "console.log", "wb") as copy,
            ):
                session = _Session(
                    image, proc, qemu_output, _Console(sock, copy), failure, accel, timeout
                )
                match = ""
                for step in [Exchange("", expect), *then]:
                    if not isinstance(step, Exchange):
                        session.on_host(step)
                        continue
                    if step.send:
                        session.console.type_line(step.send)
                    match = session.wait_for(step.expect)
                return BootResult(session.elapsed, match, session.console.text, accel)
        finally:
            _stop(proc)


@dataclass
class _Session:
    """One running VM being watched: what ``boot`` needs to wait and to report."""

    image: Path
    proc: subprocess.Popen[bytes]
    qemu_output: Path
    console: _Console
    failure: re.Pattern[str] | None
    accel: str
    timeout: float
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def on_host(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the host, reading the console meanwhile (a guest whose serial
        output is not read stalls); its exception is raised here."""
        failed: list[BaseException] = []

        def run() -> None:
            try:
                action()
            except BaseException as exc:  # re-raised in the caller's thread
                failed.append(exc)

        worker = threading.Thread(target=run, name="qemu-host-step", daemon=True)
        worker.start()
        while worker.is_alive():
            self.console.read(0.2)
        if failed:
            raise failed[0]

    def wait_for(self, expect: str) -> str:
        """Wait for ``expect`` in the console output that comes after this call began."""
        pattern = re.compile(expect)
        begin = len(self.console.text)
        while True:
            text = self.console.text
            found = pattern.search(text, begin)
            if found:
                log.info(
                    "%s: %r after %.0fs (%s)", self.image.name, found[0], self.elapsed, self.accel
                )
                return found.group(0)
            failed = self.failure.search(text, begin) if self.failure else None
            if failed:
                raise BootError(
                    f"{self.image} failed to boot after {self.elapsed:.0f}s ({failed.group(0)!r} "
                    f"on its serial console). Last console lines:\n{_tail(text)}",
                    text,
                )
            if self.proc.poll() is not None:
                said = self.qemu_output.read_text(errors="replace").strip()
                raise BootError(
                    f"qemu exited with status {self.proc.returncode} after {self.elapsed:.0f}s "
                    f"before {expect!r} appeared on the console of {self.image}. qemu said: "
                    f"{said or '(nothing)'}. Last console lines:\n{_tail(text)}",
                    text,
                )
            if self.elapsed > self.timeout:
                raise BootError(
                    f"{self.image} did not show {expect!r} on its serial console within "
                    f"{self.timeout:.0f}s ({self.accel}). Last console lines:\n{_tail(text)}",
                    text,
                )
            self.console.read(0.5)
