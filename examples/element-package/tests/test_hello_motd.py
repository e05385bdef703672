"""Tests of the hello-motd element, as an element package's own tests look.

The hook runs against pyfakefs's fake file system (no root, no disk); the last test builds
a real image with it when run as root.
"""

import os
import tarfile
from pathlib import Path

import pytest
from dibpy_hello import hello_motd

import dibpy
from dibpy.author import in_root, make_context

EXAMPLE_ELEMENTS = Path(__file__).resolve().parents[2] / "elements"  # tiny-busybox


def test_registered_through_the_entry_point() -> None:
    plan = dibpy.plan(
        ["tiny-busybox", "hello-motd"], element_paths=[EXAMPLE_ELEMENTS], skip_base=True, env={}
    )
    (element,) = [e for e in plan.element_set.elements if e.name == "hello-motd"]
    assert element.origin.kind == "entry-point"
    assert element.origin.location == "dibpy_hello.hello_motd"


def test_planned_after_the_os_element_writes_its_motd() -> None:
    plan = dibpy.plan(
        ["tiny-busybox", "hello-motd"], element_paths=[EXAMPLE_ELEMENTS], skip_base=True, env={}
    )
    finalise = [(h.element, h.name) for h in plan.phases[dibpy.Phase.FINALISE]]
    assert finalise == [("tiny-busybox", "write_motd"), ("hello-motd", "write_motd")]


def test_writes_the_motd_from_its_template(fs) -> None:  # fs: the pyfakefs fixture
    fs.add_real_file(hello_motd.TEMPLATE)  # data the element ships, visible in the fake fs
    ctx = make_context(env={"HELLO_TEXT": "Hi there"}, elements=["tiny-busybox", "hello-motd"])
    hello_motd.write_motd(ctx)
    assert (ctx.target_root / "etc/motd").read_text() == (
        "Hi there\nThis image was built by dibpy from the elements: tiny-busybox hello-motd.\n"
    )


def test_the_default_text(fs) -> None:
    fs.add_real_file(hello_motd.TEMPLATE)
    ctx = make_context()
    hello_motd.write_motd(ctx)
    assert (ctx.target_root / "etc/motd").read_text().startswith("Hello from dibpy-hello!\n")


def test_never_writes_through_a_symlink_onto_the_host(fs) -> None:
    fs.add_real_file(hello_motd.TEMPLATE)
    fs.create_file("/usr/share/motd", contents="the build host's own motd\n")
    ctx = make_context()
    (ctx.target_root / "etc").mkdir()
    # An absolute link, as trees are full of: in the image it means the image's file.
    (ctx.target_root / "etc/motd").symlink_to("/usr/share/motd")
    hello_motd.write_motd(ctx)
    assert Path("/usr/share/motd").read_text() == "the build host's own motd\n"
    written = in_root(ctx.target_root, "etc/motd")
    assert written == ctx.target_root / "usr/share/motd"
    assert written.read_text().startswith("Hello from dibpy-hello!")


@pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/bin/busybox").is_file(), reason="needs root and busybox"
)
def test_a_real_build(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "TMP_DIR": str(tmp_path / "tmp"), "HELLO_TEXT": "Built!"}
    env["DIB_IMAGE_CACHE"] = str(tmp_path / "cache")
    result = dibpy.build(
        ["tiny-busybox", "hello-motd"],
        output=tmp_path / "hello",
        formats=["tar"],
        element_paths=[EXAMPLE_ELEMENTS],
        skip_base=True,
        env=env,
    )
    with tarfile.open(result.outputs[0]) as tar:
        motd = tar.extractfile("./etc/motd")
        assert motd is not None
        assert motd.read().decode().startswith("Built!\n")
    origins = {e["name"]: e["origin"] for e in result.manifest["elements"]}
    assert origins == {"tiny-busybox": "path", "hello-motd": "entry-point"}
