"""Offline means offline: with ``--offline`` or ``DIB_OFFLINE=1``, commands in the chroot run
in a network namespace where only loopback is up. Proved from inside the chroot of a real
tiny-busybox build: the same probe that reaches the test's HTTP server online cannot reach
it offline (and a routable address is "Network is unreachable" at once), while a server the
hook starts on 127.0.0.1 inside the chroot answers in both cases. Needs root.
"""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
from dibpy.host.netns import OfflineNetwork
from dibpy.host.run import Runner

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


def net_namespace(runner: Runner, preexec: Callable[[], None] | None = None) -> str:
    """The network namespace a command runs in (``net:[INODE]``)."""
    done = runner.run(["readlink", "/proc/self/ns/net"], capture=True, preexec=preexec)
    return done.stdout.strip()


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


def test_the_namespace_is_one_per_build_and_freed() -> None:
    """Every command of a build enters the same namespace, with only loopback; a second
    build gets its own; closed, nothing holds the namespace any more."""
    runner = Runner(env={"PATH": os.environ["PATH"]})
    host = net_namespace(runner)
    network, other = OfflineNetwork(), OfflineNetwork()
    network.open()
    try:
        first = net_namespace(runner, network.enter)
        network.open()  # as each chroot command does: the same namespace again
        assert net_namespace(runner, network.enter) == first != host
        interfaces = runner.run(["cat", "/proc/self/net/dev"], capture=True, preexec=network.enter)
        assert [line.split(":")[0].strip() for line in interfaces.stdout.splitlines()[2:]] == ["lo"]
        other.open()
        try:
            assert net_namespace(runner, other.enter) not in (host, first)
        finally:
            other.close()
        assert holders(first) == [f"/proc/{os.getpid()}/fd/{network._fd}"]  # only its fd
    finally:
        network.close()
    assert holders(first) == []
    with pytest.raises(OSError, match="not open"):
        network.enter()


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="needs busybox-static")
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
