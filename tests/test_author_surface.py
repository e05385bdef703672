"""One surface for element authors (DESIGN.md principle 9) and a pure, lazy ``import dibpy``.

Elements import ``dibpy`` and ``dibpy.author`` and nothing else of dibpy; the top-level names
load on first use, so planning loads no build machinery; the hook decorators are typed.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO
from mypy import api as mypy_api

import dibpy
import dibpy.author

AUTHOR_MODULES = {"dibpy", "dibpy.author"}


def dibpy_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of dibpy or a dibpy module in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "dibpy":  # from dibpy import author, a submodule by name
                names += [f"dibpy.{a.name}" for a in node.names if a.name not in dibpy.__all__]
        else:
            continue
        found += [(node.lineno, n) for n in names if n == "dibpy" or n.startswith("dibpy.")]
    return found


def test_elements_and_examples_import_only_the_author_surface() -> None:
    files = sorted([*(REPO / "elements").rglob("*.py"), *(REPO / "examples").rglob("*.py")])
    assert len(files) > 25
    beyond = [
        f"{path.relative_to(REPO)}:{line}: {module}"
        for path in files
        for line, module in dibpy_imports(path)
        if module not in AUTHOR_MODULES
    ]
    assert beyond == [], "import only dibpy and dibpy.author:\n" + "\n".join(beyond)


def test_the_scan_sees_an_internal_import(tmp_path: Path) -> None:
    element = tmp_path / "bad.py"
    element.write_text(
        "import dibpy.host.run\nfrom dibpy import host\nfrom dibpy.tree.paths import in_root\n"
        "from dibpy import BuildContext\nfrom dibpy.author import in_root\n"
    )
    assert dibpy_imports(element) == [
        (1, "dibpy.host.run"),
        (2, "dibpy"),
        (2, "dibpy.host"),
        (3, "dibpy.tree.paths"),
        (4, "dibpy"),
        (5, "dibpy.author"),
    ]


@pytest.mark.parametrize("module", [dibpy, dibpy.author], ids=["dibpy", "dibpy.author"])
def test_every_public_name_resolves(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert names == sorted(names) and len(names) > 20
    assert [n for n in names if getattr(module, n, None) is None] == []
    assert dir(module) == names
    with pytest.raises(AttributeError, match="has no attribute 'bulid'"):
        getattr(module, "bulid")  # noqa: B009 (the lookup under test)


def test_every_author_name_is_documented() -> None:
    text = (REPO / "docs" / "elements.md").read_text()
    missing = [n for n in dibpy.author.__all__ if f"`{n}" not in text]
    assert missing == [], f"docs/elements.md does not describe {missing}"


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO
    )
    return set(json.loads(done.stdout))


def test_import_dibpy_loads_nothing_else() -> None:
    loaded = loaded_after("import dibpy")
    assert {m for m in loaded if m.startswith("dibpy")} == {
        "dibpy",
        "dibpy._lazy",
        "dibpy._version",
    }
    assert "pydantic" not in loaded


MACHINERY = {
    "httpx",
    "dibpy.building.build",
    "dibpy.host.chroot",
    "dibpy.host.workspace",
    "dibpy.host.fetch",
    "dibpy.outputs.formats",
}


def test_planning_loads_no_build_machinery() -> None:
    loaded = loaded_after(
        "import dibpy\n"
        "for os_element in ('debian-minimal', 'ubuntu', 'ubuntu-minimal'):\n"
        "    dibpy.plan(['vm', os_element, 'source-repositories', 'install-static'], env={})"
    )
    assert "dibpy.planning.plan" in loaded and "dibpy.elements.loader" in loaded
    assert loaded & MACHINERY == set()


def test_building_does_load_it() -> None:  # the check above can see these modules
    loaded = loaded_after("import dibpy.building.build, dibpy.host.fetch")
    assert MACHINERY - loaded == {"dibpy.outputs.formats"} or loaded >= MACHINERY


def mypy_errors(tmp_path: Path, hook_line: str) -> list[str]:
    element = tmp_path / "typed_element.py"
    element.write_text(
        textwrap.dedent(
            f"""\
            from dibpy import BuildContext, install_hook

            {hook_line}
            def configure(ctx: BuildContext) -> None:
                pass
            """
        )
    )
    stdout, _, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), str(element)]
    )
    return [line for line in stdout.splitlines() if re.search(r":\d+: error:", line)]


def test_hook_decorators_are_typed(tmp_path: Path) -> None:
    assert mypy_errors(tmp_path, "@install_hook(order=50)") == []
    misspelt = mypy_errors(tmp_path, "@install_hook(ordr=50)")
    assert any('Unexpected keyword argument "ordr"' in e for e in misspelt), misspelt
    wrong_type = mypy_errors(tmp_path, '@install_hook(order="late")')
    assert any('incompatible type "str"' in e for e in wrong_type), wrong_type
