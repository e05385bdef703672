"""Boot a disk image under qemu and watch its serial console: the proof an image boots.

``boot(image, efi=..., expect=r"login:", timeout=600)`` starts ``qemu-system-x86_64`` on a
*snapshot* of the image (``-snapshot``: writes go to a temporary overlay, the image file is
never changed), with the first serial port written to a file that is read as it grows, and
returns as soon as the regular expression ``expect`` matches the console text (ANSI escape
sequences removed). On a timeout, or if qemu exits first, ``BootError`` carries the last
console lines. qemu is stopped in every case (SIGTERM, then SIGKILL), so no VM outlives the
call.

Acceleration: TCG (software emulation) is the default. KVM is faster but hangs on some
machines (on the development machine GRUB stops after "GRUB loading." and OVMF never
starts under KVM, while TCG boots both), so it is used only when asked for with
``accel="kvm"``, or ``accel="auto"`` together with ``DIBPY_QEMU_ACCEL=kvm`` (see
``choose_accel``).

qemu is started with ``subprocess.Popen`` rather than ``dibpy.run.Runner``: Runner waits for
a command to finish, and a VM does not finish; this module owns its one child and always
reaps it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dibpy.errors import BuildError

log = logging.getLogger("dibpy.qemu")

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
    seconds: float  # from starting qemu to the match
    match: str  # the text that matched ``expect``
    console: str  # the serial console so far, escape sequences removed
    accel: str


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
    raise BuildError(
        "UEFI boot needs OVMF's firmware (/usr/share/OVMF/OVMF_CODE.fd): install the ovmf package."
    )


def qemu_command(
    image: Path,
    *,
    efi: bool,
    console_log: Path | None,
    vars_copy: Path | None,
    memory: str = "1024",
    accel: str = "tcg",
    interface: str = "virtio",
    extra: Sequence[str] = (),
) -> list[str]:
    """The qemu command line: the serial console to ``console_log``, or, when that is None,
    to this terminal together with qemu's monitor (``Ctrl-A X`` quits, ``Ctrl-A C``
    switches to the monitor)."""
    argv = ["qemu-system-x86_64", "-accel", accel, "-m", memory, "-smp", "1"]
    if console_log is not None:
        argv += ["-display", "none", "-monitor", "none", "-serial", f"file:{console_log}"]
    else:
        argv += ["-nographic", "-serial", "mon:stdio"]
    argv += [
        "-no-reboot",
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
    if shutil.which("qemu-system-x86_64") is None:
        raise BuildError("Booting an image needs qemu-system-x86_64: install qemu-system-x86.")
    with tempfile.TemporaryDirectory(prefix="dibpy-qemu.") as scratch:
        vars_copy = None
        if efi:
            vars_copy = Path(scratch) / "OVMF_VARS.fd"
            shutil.copyfile(_vars_template(ovmf_code()), vars_copy)
        argv = qemu_command(
            image,
            efi=efi,
            console_log=None,
            vars_copy=vars_copy,
            memory=memory,
            accel=accel,
            interface=interface,
        )
        log.info("$ %s", " ".join(argv))
        print("qemu: the serial console follows; Ctrl-A X quits.", flush=True)
        return subprocess.run(argv, check=False).returncode


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


def boot(
    image: Path,
    *,
    efi: bool,
    expect: str,
    timeout: float,
    memory: str = "1024",
    accel: str = "tcg",
    interface: str = "virtio",
    extra: Sequence[str] = (),
    console_copy: Path | None = None,
    fail: str | None = BOOT_FAILURES,
) -> BootResult:
    """Boot ``image`` until ``expect`` shows on the serial console; see the module doc.

    ``accel``: ``tcg`` (default), ``kvm``, or ``auto`` (``choose_accel``). ``console_copy``:
    also keep the raw console output in this file. ``fail``: a regular expression that
    ends the wait at once with ``BootError`` (by default: a kernel panic, systemd's
    emergency mode, GRUB's rescue shell, the initramfs shell); None waits for the timeout.
    """
    if accel == "auto":
        accel = choose_accel()
    if shutil.which("qemu-system-x86_64") is None:
        raise BuildError("Booting an image needs qemu-system-x86_64: install qemu-system-x86.")
    pattern = re.compile(expect)
    failure = re.compile(fail) if fail else None
    with tempfile.TemporaryDirectory(prefix="dibpy-qemu.") as scratch:
        work = Path(scratch)
        console_log = console_copy or work / "console.log"
        console_log.write_bytes(b"")
        vars_copy = None
        if efi:
            vars_copy = work / "OVMF_VARS.fd"
            shutil.copyfile(_vars_template(ovmf_code()), vars_copy)
        argv = qemu_command(
            image,
            efi=efi,
            console_log=console_log,
            vars_copy=vars_copy,
            memory=memory,
            accel=accel,
            interface=interface,
            extra=extra,
        )
        log.info("$ %s", " ".join(argv))
        qemu_output = work / "qemu.out"
        started = time.monotonic()
        with open(qemu_output, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        console = ""
        try:
            while True:
                console = clean_console(console_log.read_bytes().decode("utf-8", "replace"))
                found = pattern.search(console)
                elapsed = time.monotonic() - started
                if found:
                    log.info("%s: %r after %.0fs (%s)", image.name, found.group(0), elapsed, accel)
                    return BootResult(elapsed, found.group(0), console, accel)
                failed = failure.search(console) if failure else None
                if failed:
                    raise BootError(
                        f"{image} failed to boot after {elapsed:.0f}s ({failed.group(0)!r} on "
                        f"its serial console). Last console lines:\n{_tail(console)}",
                        console,
                    )
                if proc.poll() is not None:
                    said = qemu_output.read_text(errors="replace").strip()
                    raise BootError(
                        f"qemu exited with status {proc.returncode} after {elapsed:.0f}s before "
                        f"{expect!r} appeared on the console of {image}. qemu said: "
                        f"{said or '(nothing)'}. Last console lines:\n{_tail(console)}",
                        console,
                    )
                if elapsed > timeout:
                    raise BootError(
                        f"{image} did not show {expect!r} on its serial console within "
                        f"{timeout:.0f}s ({accel}). Last console lines:\n{_tail(console)}",
                        console,
                    )
                time.sleep(0.5)
        finally:
            _stop(proc)
