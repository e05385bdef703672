"""Finding and loading elements: files, packages, entry points, overrides, and the errors of
a badly written element (each names the file, and the line where there is one)."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_element

import dibpy
from dibpy.elements import ElementIndex, builtin_elements_dir
from dibpy.errors import ElementLoadError, HookDefinitionError, InputError
from dibpy.phases import Phase


def index_of(*directories: Path, env: str = "", entry_points: bool = False) -> ElementIndex:
    return ElementIndex.discover(list(directories), env, use_entry_points=entry_points)


def load_error(directory: Path, name: str) -> ElementLoadError:
    with pytest.raises(ElementLoadError) as caught:
        index_of(directory).get(name)
    error = caught.value
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    return error


SIMPLE = '''
"""A simple element.

With a longer description.
"""
from dibpy import BuildContext, cleanup_hook, install_hook, root_hook

DEPENDS = ["dep-one", "dep-two"]
PROVIDES = ["thing"]
CONFLICTS = ["other"]
ENVIRONMENT = {"SIMPLE_VAR": "default"}


@root_hook(order=10)
def make_root(ctx: BuildContext) -> None:
    """Make the root.

    More text.
    """


@install_hook(order=99)
def late(ctx: BuildContext) -> None:
    pass


@cleanup_hook(order=0)
def tidy(ctx):
    """Tidy up."""


def helper(ctx: BuildContext) -> None:
    """Not a hook."""
'''


def test_file_element(tmp_path: Path) -> None:
    path = make_element(tmp_path, "simple", SIMPLE)
    element = index_of(tmp_path).get("simple")
    assert element.name == "simple"
    assert element.depends == ("dep-one", "dep-two")
    assert element.provides == ("thing",)
    assert element.conflicts == ("other",)
    assert element.environment == {"SIMPLE_VAR": "default"}
    assert element.summary == "A simple element."
    assert element.origin.kind == "path"
    assert element.origin.location == str(path)
    hooks = {(h.phase, h.order, h.name, h.element, h.doc) for h in element.hooks}
    assert hooks == {
        (Phase.ROOT, 10, "make_root", "simple", "Make the root."),
        (Phase.INSTALL, 99, "late", "simple", ""),
        (Phase.CLEANUP, 0, "tidy", "simple", "Tidy up."),
    }
    by_name = {h.name: h for h in element.hooks}
    assert by_name["late"].function is element.module.late


def test_element_without_metadata_has_empty_defaults(tmp_path: Path) -> None:
    make_element(tmp_path, "bare", "")
    element = index_of(tmp_path).get("bare")
    assert (element.depends, element.provides, element.conflicts) == ((), (), ())
    assert element.hooks == ()
    assert element.summary == ""
    assert element.environment == {}


def test_package_element_with_hooks_in_a_submodule(tmp_path: Path) -> None:
    init = make_element(
        tmp_path,
        "pkg-element",
        '''
        """A package element."""
        from .hooks import fetch, unpack
        from . import data

        DEPENDS = ["test-os"]
        VALUE = data.VALUE
        ''',
        package=True,
    )
    (init.parent / "hooks.py").write_text(
        "from dibpy import root_hook, install_hook\n\n"
        "@root_hook(order=20)\n"
        "def fetch(ctx):\n    '''Fetch it.'''\n\n"
        "@install_hook(order=30)\n"
        "def unpack(ctx):\n    pass\n"
    )
    (init.parent / "data.py").write_text("VALUE = 42\n")
    (init.parent / "files").mkdir()
    element = index_of(tmp_path).get("pkg-element")
    assert element.origin.location == str(init)
    assert element.summary == "A package element."
    assert element.depends == ("test-os",)
    assert element.module.VALUE == 42
    assert element.directory == init.parent
    assert {(h.phase, h.order, h.name, h.element) for h in element.hooks} == {
        (Phase.ROOT, 20, "fetch", "pkg-element"),
        (Phase.INSTALL, 30, "unpack", "pkg-element"),
    }
    assert next(h for h in element.hooks if h.name == "fetch").doc == "Fetch it."


def test_hyphenated_names(tmp_path: Path) -> None:
    make_element(
        tmp_path,
        "my-fancy-element",
        "from dibpy import install_hook\n\n@install_hook(order=5)\ndef go(ctx):\n    pass\n",
    )
    index = index_of(tmp_path)
    assert "my-fancy-element" in index.names()
    element = index.get("my-fancy-element")
    assert element.name == "my-fancy-element"
    assert [(h.name, h.element) for h in element.hooks] == [("go", "my-fancy-element")]


def test_files_that_are_not_elements_are_ignored(tmp_path: Path) -> None:
    make_element(tmp_path, "real", "")
    (tmp_path / "_private.py").write_text("raise RuntimeError('must not be imported')\n")
    (tmp_path / ".hidden.py").write_text("raise RuntimeError('must not be imported')\n")
    (tmp_path / "notes.txt").write_text("not an element\n")
    (tmp_path / "data-dir").mkdir()
    (tmp_path / "data-dir" / "thing.py").write_text("")
    names = index_of(tmp_path).names()
    assert "real" in names
    assert not {"_private", ".hidden", "notes", "data-dir", "thing"} & set(names)


STATEFUL = """
from dibpy import install_hook

CALLS = []


@install_hook(order=10)
def record(ctx):
    CALLS.append(ctx)
"""


def test_each_discover_loads_its_own_module(tmp_path: Path) -> None:
    make_element(tmp_path, "stateful", STATEFUL)
    first = index_of(tmp_path).get("stateful")
    second = index_of(tmp_path).get("stateful")
    assert first.module is not second.module
    first.hooks[0].function("ctx-1")
    assert first.module.CALLS == ["ctx-1"]
    assert second.module.CALLS == []
    assert first.hooks[0].function is not second.hooks[0].function


def test_one_index_loads_an_element_once(tmp_path: Path) -> None:
    make_element(tmp_path, "stateful", STATEFUL)
    index = index_of(tmp_path)
    assert index.get("stateful") is index.get("stateful")


def test_two_plans_do_not_share_element_state(element_dir: Path) -> None:
    make_element(element_dir, "stateful", STATEFUL)
    plans = [
        dibpy.plan(["test-os", "stateful"], element_paths=[element_dir], skip_base=True, env={})
        for _ in range(2)
    ]
    hooks = [p.phases[Phase.INSTALL][0] for p in plans]
    hooks[0].function("only-the-first")
    modules = [p.element_set.elements[1].module for p in plans]
    assert modules[0].CALLS == ["only-the-first"]
    assert modules[1].CALLS == []


def test_hooks_imported_from_another_module_are_not_collected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = f"shared_hooks_{uuid.uuid4().hex}"
    library = tmp_path / "lib"
    library.mkdir()
    (library / f"{shared}.py").write_text(
        "from dibpy import install_hook\n\n@install_hook(order=10)\ndef borrowed(ctx):\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(library))
    monkeypatch.delitem(sys.modules, shared, raising=False)
    make_element(
        tmp_path / "elements",
        "borrower",
        f"""
        from dibpy import install_hook
        from {shared} import borrowed

        @install_hook(order=20)
        def own(ctx):
            pass
        """,
    )
    element = index_of(tmp_path / "elements").get("borrower")
    assert [h.name for h in element.hooks] == ["own"]
    assert hasattr(element.module, "borrowed")
    sys.modules.pop(shared, None)


# --- errors: each is an ElementLoadError naming the file (and line) ----------------------


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = make_element(tmp_path, "broken", '"""Doc."""\nx = 1\ndef oops(:\n    pass\n')
    error = load_error(tmp_path, "broken")
    assert f"{path}:3" in str(error)
    assert "syntax error" in str(error)


def test_syntax_error_in_a_package_submodule_names_that_file(tmp_path: Path) -> None:
    init = make_element(tmp_path, "pkg-broken", "from . import inner\n", package=True)
    (init.parent / "inner.py").write_text("a = 1\nb = (\n")
    error = load_error(tmp_path, "pkg-broken")
    assert str(init.parent / "inner.py") in str(error)


def test_import_error_names_the_line_in_the_element(tmp_path: Path) -> None:
    path = make_element(
        tmp_path,
        "needs-module",
        '"""Doc."""\n\nimport os\nimport no_such_module_for_dibpy_tests\n',
    )
    error = load_error(tmp_path, "needs-module")
    message = str(error)
    assert f"{path}:4" in message
    assert "ModuleNotFoundError" in message
    assert "no_such_module_for_dibpy_tests" in message


def test_runtime_error_in_a_package_submodule_names_its_line(tmp_path: Path) -> None:
    init = make_element(tmp_path, "pkg-fails", "from . import inner\n", package=True)
    (init.parent / "inner.py").write_text("a = 1\nb = {}['missing']\n")
    error = load_error(tmp_path, "pkg-fails")
    assert f"{init.parent / 'inner.py'}:2" in str(error)
    assert "KeyError" in str(error)


HOOK_HEADER = "from dibpy import install_hook\n\n"


@pytest.mark.parametrize("order", ["-1", "100", "1000", "'10'", "1.5", "True", "None"])
def test_bad_order_is_a_hook_definition_error(tmp_path: Path, order: str) -> None:
    make_element(
        tmp_path,
        "bad-order",
        HOOK_HEADER + f"@install_hook(order={order})\ndef go(ctx):\n    pass\n",
    )
    error = load_error(tmp_path, "bad-order")
    assert isinstance(error, HookDefinitionError)
    assert "0" in str(error)
    assert "99" in str(error)


@pytest.mark.parametrize("order", ["100", "'10'"])
def test_bad_order_error_names_file_and_line(tmp_path: Path, order: str) -> None:
    path = make_element(
        tmp_path,
        "bad-order",
        HOOK_HEADER + f"@install_hook(order={order})\ndef go(ctx):\n    pass\n",
    )
    assert f"{path}:3" in str(load_error(tmp_path, "bad-order"))


@pytest.mark.parametrize("order", ["0", "99"])
def test_order_bounds_are_allowed(tmp_path: Path, order: str) -> None:
    make_element(
        tmp_path, "edge", HOOK_HEADER + f"@install_hook(order={order})\ndef go(ctx):\n    pass\n"
    )
    assert index_of(tmp_path).get("edge").hooks[0].order == int(order)


@pytest.mark.parametrize(
    "signature",
    ["()", "(ctx, extra)", "(*, ctx)", "(ctx, /, other)"],
)
def test_wrong_signature_names_file_and_line(tmp_path: Path, signature: str) -> None:
    path = make_element(
        tmp_path,
        "bad-signature",
        HOOK_HEADER + f"\n@install_hook(order=10)\ndef go{signature}:\n    pass\n",
    )
    error = load_error(tmp_path, "bad-signature")
    assert isinstance(error, HookDefinitionError)
    assert f"{path}:4" in str(error)
    assert "go" in str(error)


@pytest.mark.parametrize("signature", ["(ctx)", "(ctx, extra=None)", "(*args)"])
def test_signatures_taking_one_argument_are_fine(tmp_path: Path, signature: str) -> None:
    make_element(
        tmp_path,
        "ok-signature",
        HOOK_HEADER + f"@install_hook(order=10)\ndef go{signature}:\n    pass\n",
    )
    assert [h.name for h in index_of(tmp_path).get("ok-signature").hooks] == ["go"]


def test_two_hooks_with_one_name_name_both_lines(tmp_path: Path) -> None:
    path = make_element(
        tmp_path,
        "twice",
        HOOK_HEADER
        + "@install_hook(order=10)\ndef go(ctx):\n    pass\n\n\n"
        + "@install_hook(order=20)\ndef go(ctx):\n    pass\n",
    )
    error = load_error(tmp_path, "twice")
    assert isinstance(error, HookDefinitionError)
    assert f"{path}:3" in str(error)
    assert f"{path}:8" in str(error)


def test_one_function_marked_twice_is_refused(tmp_path: Path) -> None:
    path = make_element(
        tmp_path,
        "double-mark",
        "from dibpy import install_hook, root_hook\n\n"
        "@root_hook(order=10)\n@install_hook(order=10)\ndef go(ctx):\n    pass\n",
    )
    error = load_error(tmp_path, "double-mark")
    assert isinstance(error, HookDefinitionError)
    assert str(path) in str(error)


@pytest.mark.parametrize(
    ("line", "attribute"),
    [
        ('DEPENDS = "dpkg"', "DEPENDS"),
        ('PROVIDES = "operating-system"', "PROVIDES"),
        ("CONFLICTS = None", "CONFLICTS"),
        ('DEPENDS = ["ok", 3]', "DEPENDS"),
        ('DEPENDS = [""]', "DEPENDS"),
        ('ENVIRONMENT = {"A": 1}', "ENVIRONMENT"),
        ('ENVIRONMENT = ["A=1"]', "ENVIRONMENT"),
    ],
)
def test_bad_metadata_is_a_load_error_naming_the_attribute(
    tmp_path: Path, line: str, attribute: str
) -> None:
    make_element(tmp_path, "bad-meta", f'"""Doc."""\n{line}\n')
    error = load_error(tmp_path, "bad-meta")
    assert attribute in str(error)
    assert "'bad-meta'" in str(error)


def test_bad_metadata_error_names_the_file(tmp_path: Path) -> None:
    path = make_element(tmp_path, "bad-meta", '"""Doc."""\nDEPENDS = "dpkg"\n')
    assert str(path) in str(load_error(tmp_path, "bad-meta"))


def test_a_broken_element_does_not_break_the_index(tmp_path: Path) -> None:
    make_element(tmp_path, "broken", "def oops(:\n")
    make_element(tmp_path, "fine", '"""Fine."""\n')
    index = index_of(tmp_path)
    assert index.get("fine").summary == "Fine."
    with pytest.raises(ElementLoadError):
        index.get("broken")


def test_a_failed_load_leaves_no_module_behind(tmp_path: Path) -> None:
    make_element(tmp_path, "vanishing-element", "raise RuntimeError('no')\n")
    before = set(sys.modules)
    load_error(tmp_path, "vanishing-element")
    assert not [m for m in set(sys.modules) - before if "vanishing_element" in m]


# --- where elements come from ------------------------------------------------------------


def test_first_element_path_wins(tmp_path: Path) -> None:
    first = make_element(tmp_path / "first", "dup", '"""From the first dir."""\n')
    make_element(tmp_path / "second", "dup", '"""From the second dir."""\n')
    make_element(tmp_path / "second", "only-second", '"""Only here."""\n')
    index = index_of(tmp_path / "first", tmp_path / "second")
    assert index.get("dup").summary == "From the first dir."
    assert index.source("dup").origin.location == str(first)
    assert index.get("only-second").summary == "Only here."


def test_a_package_and_a_file_of_one_name_in_two_dirs(tmp_path: Path) -> None:
    make_element(tmp_path / "first", "dup", '"""Package."""\n', package=True)
    make_element(tmp_path / "second", "dup", '"""File."""\n')
    assert index_of(tmp_path / "first", tmp_path / "second").get("dup").summary == "Package."


def test_a_user_element_overrides_a_builtin(element_dir: Path) -> None:
    path = make_element(
        element_dir,
        "dpkg",
        '''
        """My own dpkg."""
        from dibpy import install_hook

        @install_hook(order=1)
        def custom_marker(ctx):
            pass
        ''',
    )
    index = index_of(element_dir)
    assert index.source("dpkg").origin.kind == "path"
    assert index.source("dpkg").origin.location == str(path)
    assert index.source("sysprep").origin.kind == "built-in"
    plan = dibpy.plan(["vm", "ubuntu-minimal"], element_paths=[element_dir], arch="amd64", env={})
    assert ("custom_marker", "dpkg") in [(h.name, h.element) for h in plan.phases[Phase.INSTALL]]
    dpkg_hooks = [h.name for phase in plan.phases.values() for h in phase if h.element == "dpkg"]
    assert dpkg_hooks == ["custom_marker"]
    # The built-in dpkg pulled in manifests; the override does not.
    assert "manifests" not in plan.elements
    assert "dpkg" in plan.elements


def test_elements_path_is_searched_after_element_path(tmp_path: Path) -> None:
    make_element(tmp_path / "cli", "x", '"""x from --element-path."""\n')
    make_element(tmp_path / "env1", "x", '"""x from ELEMENTS_PATH 1."""\n')
    make_element(tmp_path / "env1", "y", '"""y from ELEMENTS_PATH 1."""\n')
    make_element(tmp_path / "env2", "y", '"""y from ELEMENTS_PATH 2."""\n')
    make_element(tmp_path / "env2", "z", '"""z from ELEMENTS_PATH 2."""\n')
    env = f"{tmp_path / 'env1'}::{tmp_path / 'env2'}:"
    index = index_of(tmp_path / "cli", env=env)
    assert index.get("x").summary == "x from --element-path."
    assert index.get("y").summary == "y from ELEMENTS_PATH 1."
    assert index.get("z").summary == "z from ELEMENTS_PATH 2."
    assert index.searched[:4] == (
        str(tmp_path / "cli"),
        str(tmp_path / "env1"),
        str(tmp_path / "env2"),
        str(builtin_elements_dir()),
    )
    # then, last, an installed diskimage-builder's elements (the test extra installs it)
    assert all("(diskimage-builder)" in rest for rest in index.searched[4:])


def test_builtins_are_found_with_their_origin() -> None:
    index = index_of()
    names = index.names()
    for name in ("base", "vm", "ubuntu", "ubuntu-minimal", "debian-minimal", "dpkg"):
        assert name in names
        assert index.source(name).origin.kind == "built-in"
    assert index.get("vm").depends == ("block-device", "bootloader")


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_a_path_entry_that_is_not_a_directory_is_an_input_error(tmp_path: Path, kind: str) -> None:
    entry = tmp_path / "not-a-dir"
    if kind == "file":
        entry.write_text("")
    with pytest.raises(InputError, match="not a directory") as caught:
        index_of(entry)
    assert str(entry) in str(caught.value)
    with pytest.raises(InputError, match="not a directory"):
        index_of(env=str(entry))


# --- entry points ------------------------------------------------------------------------


def install_entry_point(
    site: Path, package: str, module_text: str, name: str = "ep-element"
) -> None:
    """A distribution that registers ``name`` in the ``dibpy.elements`` group."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text("")
    (site / package / "elem.py").write_text(module_text)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[dibpy.elements]\n{name} = {package}.elem\n")


EP_ELEMENT = '''
"""An element from an installed package."""
from dibpy import install_hook

DEPENDS = ["test-os"]
CALLS = []


@install_hook(order=42)
def from_package(ctx):
    CALLS.append(ctx)
'''


@pytest.fixture
def entry_point_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    package = f"mypkg_{uuid.uuid4().hex[:12]}"
    site = tmp_path / "site"
    install_entry_point(site, package, EP_ELEMENT)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield package
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[module]
    importlib.invalidate_caches()


def test_entry_point_elements_are_found(entry_point_site: str, element_dir: Path) -> None:
    index = ElementIndex.discover([element_dir])
    source = index.source("ep-element")
    assert source.origin.kind == "entry-point"
    assert source.origin.location == f"{entry_point_site}.elem"
    element = index.get("ep-element")
    assert element.summary == "An element from an installed package."
    assert [(h.name, h.order, h.element) for h in element.hooks] == [
        ("from_package", 42, "ep-element")
    ]
    assert "entry points 'dibpy.elements'" in index.searched
    result = dibpy.plan(["ep-element"], element_paths=[element_dir], skip_base=True, env={})
    assert result.elements == ("ep-element", "test-os")


def test_entry_points_can_be_turned_off(entry_point_site: str) -> None:
    assert "ep-element" not in ElementIndex.discover(use_entry_points=False).names()
    assert "ep-element" in ElementIndex.discover().names()


def test_a_path_element_overrides_an_entry_point(entry_point_site: str, tmp_path: Path) -> None:
    make_element(tmp_path / "mine", "ep-element", '"""Mine."""\n')
    index = ElementIndex.discover([tmp_path / "mine"])
    assert index.source("ep-element").origin.kind == "path"
    assert index.get("ep-element").summary == "Mine."


def test_entry_point_elements_do_not_share_state_between_loads(entry_point_site: str) -> None:
    first = ElementIndex.discover().get("ep-element")
    second = ElementIndex.discover().get("ep-element")
    first.hooks[0].function("only-the-first")
    assert second.module.CALLS == []


def test_a_broken_entry_point_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = f"brokenpkg_{uuid.uuid4().hex[:12]}"
    site = tmp_path / "site"
    install_entry_point(site, package, "import no_such_module_for_dibpy_tests\n", "ep-broken")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    index = ElementIndex.discover()
    with pytest.raises(ElementLoadError) as caught:
        index.get("ep-broken")
    assert "ep-broken" in str(caught.value)
    assert "no_such_module_for_dibpy_tests" in str(caught.value)


def test_dibs_folder_with_an_empty_init_is_a_legacy_element(tmp_path: Path) -> None:
    """DIB's svc-map, package-installs and cache-url hold an empty __init__.py for DIB's own
    tests: copied onto the element path, they are legacy elements whose hooks run."""
    folder = tmp_path / "svc-map"
    (folder / "extra-data.d").mkdir(parents=True)
    (folder / "extra-data.d" / "10-merge").write_text("#!/bin/bash\n")
    (folder / "extra-data.d" / "10-merge").chmod(0o755)
    (folder / "__init__.py").write_text("")
    element = index_of(tmp_path).get("svc-map")
    assert element.kind == "legacy"
    assert [h.name for h in element.hooks] == ["10-merge"]
    (folder / "__init__.py").write_text("DEPENDS = []\n")  # a Python package element
    assert index_of(tmp_path).get("svc-map").kind == "python"
