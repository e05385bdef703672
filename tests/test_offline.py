"""Offline means offline: with ``--offline`` or ``DIB_OFFLINE=1``, the whole build runs in a
network namespace of its own where only loopback is up (``dibpy.host.isolation``). Proved
from a real tiny-busybox build: the same probe that reaches the test's HTTP server online
cannot reach it offline (and a routable address is "Network is unreachable" at once), while a
server the hook starts on 127.0.0.1 inside the chroot answers in both cases; and the test's
server on the host's 127.0.0.1 is refused to a host command the hook runs, to a chroot
command and to the hook's own sockets (socket, urllib, httpx), which all share one
namespace. Needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    EXAMPLES,
    build_dirs,
    clean_env,
    make_element,
    mount_lines,
    needs_root,
    run_dibpy,
)
from fetch_helpers import RawServer, closed_port, send_full

import dibpy

pytestmark = [
    pytest.mark.root,
    needs_root,
    pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox-static"),
]

PROBE = '''
"""Tries the network from inside the chroot and writes what happened to PROBE_OUT."""
import json
from pathlib import Path

from dibpy import BuildContext, ElementSettings, install_hook, setting

DEPENDS = ["tiny-busybox"]


class Probe(ElementSettings):
    out: str = setting("PROBE_OUT", ..., "where to write the results")
    host_url: str = setting("PROBE_HOST_URL", ..., "the test's server, on the host")
    port: int = setting("PROBE_LOCAL_PORT", ..., "a port for a server inside the chroot")


def wget(ctx, url):
    done = ctx.chroot.run(["/bin/busybox", "wget", "-O", "-", url], capture=True, check=False)
    return {{"status": done.returncode, "stdout": done.stdout}}


@install_hook(order=50)
def probe(ctx: BuildContext) -> None:
    settings = ctx.settings(Probe)
    results = {{}}
    results["links"] = ctx.chroot.run(["/bin/busybox", "ip", "-o", "link"], capture=True).stdout
    results["host"] = wget(ctx, settings.host_url)
    if ctx.offline:  # online, a TEST-NET address would hang until the connect timeout
        results["routable"] = wget(ctx, "http://192.0.2.1/")
    (ctx.target_root / "www").mkdir()
    (ctx.target_root / "www/hello").write_text("hello from inside\\n")
    with ctx.chroot.session():
        listen = f"127.0.0.1:{{settings.port}}"
        ctx.chroot.run(["/bin/busybox", "httpd", "-p", listen, "-h", "/www"])
        results["loopback"] = wget(ctx, f"http://{{listen}}/hello")
    Path(settings.out).write_text(json.dumps(results))
'''


@pytest.fixture
def host_server() -> Iterator[RawServer]:
    with RawServer(lambda handler, number: send_full(handler, b"reached the host\n")) as server:
        yield server


def probe(tmp_path: Path, server: RawServer, *options: str, **env: str) -> dict[str, object]:
    elements = tmp_path / "elements"
    make_element(elements, "probe", PROBE.format())
    out = tmp_path / "probe.json"
    environment = clean_env(
        tmp_path,
        PROBE_OUT=str(out),
        PROBE_HOST_URL=server.url("/host"),
        PROBE_LOCAL_PORT=str(closed_port()),
        **env,
    )
    argv = ["build", "-n", "-t", "tar", "-o", "out", f"--element-path={EXAMPLES}"]
    started = time.monotonic()
    done = run_dibpy(
        [*argv, f"--element-path={elements}", *options, "tiny-busybox", "probe"],
        environment,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60
    assert build_dirs(tmp_path / "tmp") == []
    assert mount_lines(tmp_path) == []
    results: dict[str, object] = json.loads(out.read_text())
    return results


def test_online_the_chroot_reaches_the_host(tmp_path: Path, host_server: RawServer) -> None:
    """The control: without --offline the probe does reach the test's server."""
    results = probe(tmp_path, host_server)
    assert results["host"] == {"status": 0, "stdout": "reached the host\n"}
    assert host_server.count == 1
    assert results["loopback"] == {"status": 0, "stdout": "hello from inside\n"}


@pytest.mark.parametrize("how", ["--offline", "DIB_OFFLINE=1"])
def test_offline_the_chroot_has_only_loopback(
    tmp_path: Path, host_server: RawServer, how: str
) -> None:
    if how.startswith("--"):
        results = probe(tmp_path, host_server, how)
    else:
        results = probe(tmp_path, host_server, DIB_OFFLINE="1")
    links = str(results["links"]).strip().splitlines()
    assert len(links) == 1, links
    assert ": lo:" in links[0] and ",UP" in links[0]
    assert results["host"] == {"status": 1, "stdout": ""}
    assert host_server.count == 0  # nothing reached the host's server
    assert results["routable"] == {"status": 1, "stdout": ""}
    assert results["loopback"] == {"status": 0, "stdout": "hello from inside\n"}


REACH = '''
"""Tries the test's server on the host's 127.0.0.1 from everything a hook can run: a host
command through the build's runner, a command in the chroot, and the hook's own Python
(a socket, urllib, httpx); writes what happened, and each one's network namespace, to
REACH_OUT."""
import json
import os
import socket
import sys
import urllib.request
from pathlib import Path

import httpx

from dibpy import BuildContext, ElementSettings, install_hook, setting

DEPENDS = ["tiny-busybox"]

FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())"


class Reach(ElementSettings):
    out: str = setting("REACH_OUT", ..., "where to write the results")
    url: str = setting("REACH_URL", ..., "the test's server, on the host's 127.0.0.1")


def attempt(how):
    try:
        return how()
    except Exception as exc:
        return type(exc).__name__


def connect(url):
    host, port = url.split("/")[2].split(":")
    socket.create_connection((host, int(port)), timeout=5).close()
    return "connected"


@install_hook(order=50)
def reach(ctx: BuildContext) -> None:
    url = ctx.settings(Reach).url
    command = ctx.run([sys.executable, "-c", FETCH, url], capture=True, check=False)
    in_chroot = ctx.chroot.run(["/bin/busybox", "wget", "-O", "-", url], capture=True, check=False)
    results = {
        "command": command.stdout.strip() if command.returncode == 0 else "failed",
        "chroot": in_chroot.stdout.strip() if in_chroot.returncode == 0 else "failed",
        "socket": attempt(lambda: connect(url)),
        "urllib": attempt(lambda: urllib.request.urlopen(url, timeout=5).read().decode().strip()),
        "httpx": attempt(lambda: httpx.get(url, timeout=5).text.strip()),
        "namespaces": sorted({
            os.readlink("/proc/self/ns/net"),
            ctx.run(["readlink", "/proc/self/ns/net"], capture=True).stdout.strip(),
            ctx.chroot.run(["/bin/busybox", "readlink", "/proc/self/ns/net"], capture=True)
            .stdout.strip(),
        }),
    }
    Path(ctx.settings(Reach).out).write_text(json.dumps(results))
'''


def reach(tmp_path: Path, server: RawServer, *options: str) -> dict[str, Any]:
    elements = tmp_path / "elements"
    make_element(elements, "reach", REACH)
    out = tmp_path / "reach.json"
    environment = clean_env(tmp_path, REACH_OUT=str(out), REACH_URL=server.url("/host"))
    argv = ["build", "-n", "-t", "tar", "-o", "out", f"--element-path={EXAMPLES}"]
    done = run_dibpy(
        [*argv, f"--element-path={elements}", *options, "tiny-busybox", "reach"],
        environment,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def test_online_every_part_of_a_build_reaches_the_host(
    tmp_path: Path, host_server: RawServer
) -> None:
    """The control: without --offline, every way the hook tries reaches the test's server."""
    results = reach(tmp_path, host_server)
    assert results["command"] == results["chroot"] == "reached the host"
    assert results["urllib"] == results["httpx"] == "reached the host"
    assert results["socket"] == "connected"
    assert host_server.count == 4  # command, chroot, urllib, httpx (the socket sent nothing)
    assert results["namespaces"] == [os.readlink("/proc/self/ns/net")]


def test_offline_nothing_of_a_build_reaches_the_host(
    tmp_path: Path, host_server: RawServer
) -> None:
    """Offline, the host's 127.0.0.1 is refused to a host command the hook runs, to a chroot
    command and to the hook's own sockets: the whole build is in one network namespace,
    not the host's, in which nothing listens."""
    results = reach(tmp_path, host_server, "--offline")
    assert results["command"] == results["chroot"] == "failed"
    assert results["socket"] == "ConnectionRefusedError"
    assert results["urllib"] == "URLError"  # urllib's wrapper of ConnectionRefusedError
    assert results["httpx"] == "ConnectError"
    assert host_server.count == 0
    (namespace,) = results["namespaces"]  # one for all of the build
    assert namespace != os.readlink("/proc/self/ns/net")


def holders(namespace: str) -> list[str]:
    """Everything on the machine that keeps ``namespace`` alive: a process in it, an open
    descriptor of it, a bind mount of it. When there is none, the kernel has freed it."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        links = [proc / "ns/net"]
        with contextlib.suppress(OSError):
            links += list((proc / "fd").iterdir())
        for link in links:
            with contextlib.suppress(OSError):
                if os.readlink(link) == namespace:
                    found.append(str(link))
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    return found + [line for line in mounts if namespace in line]


def test_an_offline_build_in_a_process_leaves_no_namespace_behind(tmp_path: Path) -> None:
    """``dibpy.build(offline=True)`` in a long-lived process (a build service, a test
    suite): once it returns, no namespace it made is held by this process."""
    element = tmp_path / "elements"
    make_element(
        element,
        "netns-probe",
        """
        from pathlib import Path

        from dibpy import BuildContext, install_hook

        DEPENDS = ["tiny-busybox"]


        @install_hook(order=50)
        def record(ctx: BuildContext) -> None:
            done = ctx.chroot.run(["/bin/busybox", "readlink", "/proc/self/ns/net"], capture=True)
            (ctx.target_root / "netns").write_text(done.stdout)
        """,
    )
    env = clean_env(tmp_path)
    result = dibpy.build(
        ["tiny-busybox", "netns-probe"],
        output=tmp_path / "out",
        formats=["tar"],
        element_paths=[EXAMPLES, element],
        skip_base=True,
        offline=True,
        env=env,
    )
    with tarfile.open(result.outputs[0]) as tar:
        stream = tar.extractfile("./netns")
        assert stream is not None
        namespace = stream.read().decode().strip()
    assert namespace.startswith("net:[")
    assert namespace != os.readlink("/proc/self/ns/net")  # the build was offline
    assert holders(namespace) == []
