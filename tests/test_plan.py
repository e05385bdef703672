"""The plan: hooks of every phase in run order, and the shapes it is printed in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import make_element

import dibpy
from dibpy.elements import ElementIndex, resolve
from dibpy.phases import PHASES, Phase
from dibpy.planning.plan import Plan

PHASE_NAMES = [
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

HEADER = "from dibpy import install_hook, root_hook, cleanup_hook\n\n"


def hook(phase: str, order: int, name: str) -> str:
    return f"@{phase}_hook(order={order})\ndef {name}(ctx):\n    '''Doc of {name}.'''\n\n\n"


def plan_of(directory: Path, *names: str) -> Plan:
    index = ElementIndex.discover([directory], "", use_entry_points=False)
    return Plan.of(resolve(list(names), index))


@pytest.fixture
def tie_plan(element_dir: Path) -> Plan:
    """Three elements whose install hooks tie on order, and on order and name."""
    make_element(
        element_dir,
        "bravo",
        'DEPENDS = ["alpha", "charlie"]\n'
        + HEADER
        + hook("install", 50, "common")
        + hook("install", 10, "beta")
        + hook("root", 10, "make"),
    )
    make_element(
        element_dir,
        "alpha",
        HEADER
        + hook("install", 10, "zeta")
        + hook("install", 50, "common")
        + hook("cleanup", 90, "tidy"),
    )
    make_element(element_dir, "charlie", HEADER + hook("install", 5, "zeta"))
    return plan_of(element_dir, "test-os", "bravo")


def test_resolution_order_is_not_the_run_order(tie_plan: Plan) -> None:
    assert tie_plan.elements == ("test-os", "bravo", "alpha", "charlie")


def test_hooks_sort_by_order_then_hook_name_then_element(tie_plan: Plan) -> None:
    install = [(h.order, h.name, h.element) for h in tie_plan.phases[Phase.INSTALL]]
    assert install == [
        (5, "zeta", "charlie"),
        (10, "beta", "bravo"),
        (10, "zeta", "alpha"),
        (50, "common", "alpha"),
        (50, "common", "bravo"),
    ]


def test_hooks_land_in_their_phase(tie_plan: Plan) -> None:
    assert [(h.name, h.element) for h in tie_plan.phases[Phase.ROOT]] == [("make", "bravo")]
    assert [(h.name, h.element) for h in tie_plan.phases[Phase.CLEANUP]] == [("tidy", "alpha")]
    empty = [p for p in PHASES if p not in (Phase.ROOT, Phase.INSTALL, Phase.CLEANUP)]
    assert all(tie_plan.phases[p] == () for p in empty)
    assert list(tie_plan.phases) == list(PHASES)


def test_to_dict_shape(tie_plan: Plan) -> None:
    data = tie_plan.to_dict()
    assert set(data) == {"elements", "phases", "run_order"}
    assert data["elements"] == ["test-os", "bravo", "alpha", "charlie"]
    assert list(data["phases"]) == PHASE_NAMES
    assert data["phases"]["extra-data"] == []
    py = "python"
    assert data["phases"]["root"] == [{"order": 10, "element": "bravo", "hook": "make", "kind": py}]
    assert data["phases"]["install"][:2] == [
        {"order": 5, "element": "charlie", "hook": "zeta", "kind": py},
        {"order": 10, "element": "bravo", "hook": "beta", "kind": py},
    ]
    for items in data["phases"].values():
        for item in items:
            assert set(item) == {"order", "element", "hook", "kind"}
            assert isinstance(item["order"], int)
    assert json.loads(json.dumps(data)) == data


def test_to_dict_of_a_plan_without_hooks_has_every_phase(element_dir: Path) -> None:
    data = plan_of(element_dir, "test-os").to_dict()
    assert data["elements"] == ["test-os"]
    assert data["phases"] == {name: [] for name in PHASE_NAMES}
    assert [item["phase"] for item in data["run_order"] if "phase" in item] == PHASE_NAMES


def driver_steps_between(data: dict[str, Any]) -> dict[str, list[str]]:
    """``{phase the steps follow ("" for the start): [driver step names]}`` of a to_dict."""
    found: dict[str, list[str]] = {"": []}
    current = ""
    for item in data["run_order"]:
        if "phase" in item:
            current = item["phase"]
            found[current] = []
        else:
            assert set(item) == {"driver", "doc"} and item["doc"]
            found[current].append(item["driver"])
    return found


def test_the_plan_lists_the_drivers_own_steps_in_run_order(tie_plan: Plan) -> None:
    """Mounts, tidy and the image assembly are shown where the build does them."""
    steps = driver_steps_between(tie_plan.to_dict())
    assert steps[""] == ["hooks-tree", "chroot-mounts"]
    assert steps["root"] == ["check-root", "host-resolver"]
    assert steps["post-root"] == ["release-tree-mounts"]
    assert steps["block-device"] == ["fstab"]
    assert steps["cleanup"] == [
        "release-all-mounts",
        "restore-resolver",
        "tidy",
        "assemble-image",
        "write-outputs",
    ]
    assert all(steps[name] == [] for name in ("extra-data", "install", "finalise"))


def test_describe_shows_the_driver_steps_between_the_phases(tie_plan: Plan) -> None:
    lines = tie_plan.describe().splitlines()
    root, post_root = lines.index("root:"), lines.index("post-root:")
    assert lines[1].split()[:3] == ["--", "(driver)", "hooks-tree"]
    assert [line.split()[2] for line in lines[root:] if line.startswith("  --")][:2] == [
        "check-root",
        "host-resolver",
    ]
    after_post_root = lines[post_root + 1 : lines.index("block-device:")]
    assert [line.split()[2] for line in after_post_root if line.startswith("  --")] == [
        "release-tree-mounts"
    ]
    cleanup = lines.index("cleanup:")
    tail = [line.split()[2] for line in lines[cleanup:] if line.startswith("  --")]
    assert tail[2:4] == ["tidy", "assemble-image"]


def test_phase_names_are_dibs() -> None:
    assert [p.value for p in PHASES] == PHASE_NAMES


def test_describe(tie_plan: Plan) -> None:
    text = tie_plan.describe()
    lines = text.splitlines()
    assert lines[0] == "Elements: test-os bravo alpha charlie"
    assert [line[:-1] for line in lines if not line.startswith(" ")][1:] == PHASE_NAMES
    extra = lines.index("extra-data:")
    assert lines[extra + 1] == "  (no hooks)"
    root = lines.index("root:")
    assert lines[root + 1].split() == ["10", "bravo", "make", "Doc", "of", "make."]
    install = lines.index("install:")
    assert lines[install + 1].split()[:3] == ["05", "charlie", "zeta"]


def test_environment_defaults(element_dir: Path) -> None:
    make_element(
        element_dir,
        "first",
        'DEPENDS = ["second"]\nENVIRONMENT = {"SHARED": "first", "ONLY_FIRST": "1"}\n',
    )
    make_element(element_dir, "second", 'ENVIRONMENT = {"SHARED": "second", "ONLY_SECOND": "2"}\n')
    plan = plan_of(element_dir, "test-os", "first")
    assert plan.environment({}) == {"SHARED": "first", "ONLY_FIRST": "1", "ONLY_SECOND": "2"}
    merged = plan.environment({"SHARED": "user", "ONLY_FIRST": "", "OTHER": "x"})
    assert merged == {"SHARED": "user", "ONLY_FIRST": "1", "ONLY_SECOND": "2", "OTHER": "x"}


def test_builtin_plan_has_every_phase_and_only_its_elements() -> None:
    plan = dibpy.plan(["vm", "ubuntu-minimal"], arch="amd64", env={})
    data = plan.to_dict()
    assert list(data["phases"]) == PHASE_NAMES
    for items in data["phases"].values():
        assert all(set(item) == {"order", "element", "hook", "kind"} for item in items)
        assert all(item["element"] in plan.elements for item in items)
        keys = [(i["order"], i["hook"], i["element"]) for i in items]
        assert keys == sorted(keys)
