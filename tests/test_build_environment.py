"""``dibpy.build(env=...)`` is the whole environment of the build's commands: a host command
a hook runs through the context's runner, a legacy element's host script, both see the
build's variables (and what environment.d exports), and nothing that is only in this
process's ``os.environ``.

A real build (root, about a second): tiny-busybox, tar, no base element.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import EXAMPLES, IS_ROOT, clean_env, make_element

import dibpy

BUSYBOX = Path("/bin/busybox")

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not IS_ROOT, reason="needs root (mount, chroot)"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason="needs a static busybox (busybox-static)"),
]

RECORDER = '''
"""Records the environment of a host command run through the context's runner."""
import os
from pathlib import Path

from dibpy import BuildContext, root_hook

DEPENDS = ["tiny-busybox", "env-legacy"]


@root_hook(order=60)
def record(ctx: BuildContext) -> None:
    """Write what `env` prints, run on the host, to $ENV_RECORD/host.env."""
    where = Path(ctx.env["ENV_RECORD"])
    where.joinpath("host.env").write_text(ctx.runner.run(["env"], capture=True).stdout)
    where.joinpath("ctx-run.env").write_text(ctx.run(["env"], capture=True).stdout)
'''

LEGACY_SCRIPT = '#!/bin/bash\nset -eu\nenv > "$ENV_RECORD/legacy.env"\n'


def variables(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_every_command_of_a_build_sees_the_build_env_and_only_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elements = tmp_path / "elements"
    make_element(elements, "env-recorder", RECORDER)
    legacy = elements / "env-legacy"
    (legacy / "root.d").mkdir(parents=True)
    (legacy / "root.d/50-record").write_text(LEGACY_SCRIPT)
    (legacy / "root.d/50-record").chmod(0o755)
    (legacy / "environment.d").mkdir()
    (legacy / "environment.d/10-exported").write_text("export ENV_D_EXPORTED=from-env-d\n")
    record = tmp_path / "record"
    record.mkdir()
    env = clean_env(tmp_path, ENV_RECORD=str(record), BUILD_MARKER="only-in-the-build-env")
    monkeypatch.setenv("PROCESS_ONLY_MARKER", "leaked-from-os-environ")

    dibpy.build(
        ["env-recorder"],
        output=tmp_path / "out",
        formats=["tar"],
        element_paths=[EXAMPLES, elements],
        skip_base=True,
        env=env,
    )

    for name in ("host.env", "ctx-run.env", "legacy.env"):
        seen = variables(record / name)
        assert seen["BUILD_MARKER"] == "only-in-the-build-env", name
        assert seen["ENV_D_EXPORTED"] == "from-env-d", name
        assert "PROCESS_ONLY_MARKER" not in seen, name
