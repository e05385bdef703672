"""Typed settings from the environment, and the BuildConfig made from options and DIB_*."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from dibpy.config.model import BuildConfig, normalise_arch
from dibpy.config.settings import ElementSettings, parse_bool, read_settings, setting
from dibpy.errors import InputError, SettingsError
from dibpy.phases import Phase


class Model(ElementSettings):
    number: int = setting("DIB_X", 3, "a number")
    word: str = setting("DIB_WORD", "default")
    flag: bool = setting("DIB_FLAG", False)


class Required(ElementSettings):
    needed: str = setting("DIB_NEEDED")


def test_defaults() -> None:
    assert read_settings(Model, {}) == Model.model_validate({})
    settings = read_settings(Model, {"UNRELATED": "x"})
    assert (settings.number, settings.word, settings.flag) == (3, "default", False)


def test_override() -> None:
    settings = read_settings(Model, {"DIB_X": "7", "DIB_WORD": "hello", "DIB_FLAG": "true"})
    assert (settings.number, settings.word, settings.flag) == (7, "hello", True)


def test_empty_string_counts_as_unset() -> None:
    settings = read_settings(Model, {"DIB_X": "", "DIB_WORD": ""})
    assert (settings.number, settings.word) == (3, "default")


def test_field_names_are_not_variables() -> None:
    assert read_settings(Model, {"number": "9", "word": "no"}).number == 3


@pytest.mark.parametrize("value", ["abc", "1.5", "3x"])
def test_bad_int_names_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        read_settings(Model, {"DIB_X": value}, owner="my-element")
    message = str(caught.value)
    assert f"DIB_X={value!r}" in message
    assert "'my-element'" in message
    assert caught.value.exit_code == 2


def test_several_bad_values_are_all_named() -> None:
    with pytest.raises(SettingsError) as caught:
        read_settings(Model, {"DIB_X": "abc", "DIB_FLAG": "perhaps"})
    assert "DIB_X" in str(caught.value)
    assert "DIB_FLAG" in str(caught.value)


def test_a_missing_required_setting_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"DIB_NEEDED \(not set\)"):
        read_settings(Required, {"DIB_NEEDED": ""})
    assert read_settings(Required, {"DIB_NEEDED": "here"}).needed == "here"


def test_settings_are_frozen() -> None:
    settings = read_settings(Model, {})
    with pytest.raises(pydantic.ValidationError):
        settings.number = 5  # type: ignore[misc]


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "Yes", "on", "y", " 1 "])
def test_parse_bool_true(word: str) -> None:
    assert parse_bool("DIB_FLAG", word) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "off", "n", "", "  "])
def test_parse_bool_false(word: str) -> None:
    assert parse_bool("DIB_FLAG", word) is False


@pytest.mark.parametrize("word", ["2", "maybe", "tru", "-1"])
def test_parse_bool_refuses_other_words(word: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_bool("DIB_SOMETHING", word)
    assert f"DIB_SOMETHING={word!r}" in str(caught.value)


# --- BuildConfig -------------------------------------------------------------------------


def config(env: dict[str, str], **options: object) -> BuildConfig:
    options.setdefault("elements", ("vm", "ubuntu"))
    return BuildConfig.from_environment(env, **options)


def test_image_cache_defaults_under_home(tmp_path: Path) -> None:
    assert config({"HOME": str(tmp_path)}).image_cache == tmp_path / ".cache/image-create"


def test_image_cache_from_the_environment_and_the_option(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "DIB_IMAGE_CACHE": str(tmp_path / "cache")}
    assert config(env).image_cache == tmp_path / "cache"
    assert config(env, image_cache=tmp_path / "other").image_cache == tmp_path / "other"
    assert config({**env, "DIB_IMAGE_CACHE": ""}).image_cache == tmp_path / ".cache/image-create"


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)]
)
def test_offline(value: str, expected: bool) -> None:
    assert config({"DIB_OFFLINE": value}).offline is expected


def test_offline_unset_and_bad() -> None:
    assert config({}).offline is False
    with pytest.raises(SettingsError, match="DIB_OFFLINE"):
        config({"DIB_OFFLINE": "sometimes"})


def test_an_explicit_option_wins_over_the_environment() -> None:
    assert config({"DIB_OFFLINE": "1"}, offline=False).offline is False
    assert config({"DIB_OFFLINE": "1"}, offline=None).offline is True


@pytest.mark.parametrize(("value", "expected"), [("", 0), ("0", 0), ("2", 2)])
def test_debug_trace(value: str, expected: int) -> None:
    assert config({"DIB_DEBUG_TRACE": value}).debug_trace == expected


@pytest.mark.parametrize("value", ["abc", "-1", "1.0"])
def test_bad_debug_trace(value: str) -> None:
    with pytest.raises(SettingsError, match="DIB_DEBUG_TRACE"):
        config({"DIB_DEBUG_TRACE": value})


def test_tmp_dir(tmp_path: Path) -> None:
    assert config({}).tmp_dir == Path("/tmp")
    assert config({"TMP_DIR": str(tmp_path)}).tmp_dir == tmp_path


@pytest.mark.parametrize(
    ("env", "option", "expected"),
    [
        ({"ARCH": "x86_64"}, None, "amd64"),
        ({"ARCH": "arm64"}, None, "arm64"),
        ({"ARCH": "arm64"}, "aarch64", "arm64"),
        ({"ARCH": "arm64"}, "amd64", "amd64"),
        ({}, "ppc64le", "ppc64el"),
    ],
)
def test_arch(env: dict[str, str], option: str | None, expected: str) -> None:
    assert config(env, arch=option).arch == expected


@pytest.mark.parametrize("arch", ["sparc", "x86-64", ""])
def test_unknown_arch(arch: str) -> None:
    with pytest.raises(InputError, match="Unknown architecture"):
        normalise_arch(arch)
    with pytest.raises(InputError, match="Unknown architecture"):
        config({}, arch=arch or "nothing")


@pytest.mark.parametrize(
    ("name", "formats", "fmt", "expected"),
    [
        ("foo.tar", ("tar",), "tar", "foo.tar"),
        ("foo", ("tar",), "tar", "foo.tar"),
        ("out/foo.qcow2", ("qcow2",), "qcow2", "out/foo.qcow2"),
        ("foo.qcow2", ("tar",), "tar", "foo.qcow2.tar"),
        ("foo.tar", ("tar", "qcow2"), "tar", "foo.tar.tar"),
        ("foo.tar", ("tar", "qcow2"), "qcow2", "foo.tar.qcow2"),
    ],
)
def test_output_path(name: str, formats: tuple[str, ...], fmt: str, expected: str) -> None:
    assert config({}, image_name=name, formats=formats).output_path(fmt) == Path(expected)


@pytest.mark.parametrize("formats", [("floppy",), ("tar", "floppy"), ()])
def test_unknown_formats(formats: tuple[str, ...]) -> None:
    with pytest.raises(InputError, match="Unknown output format"):
        config({}, formats=formats)


def test_the_environment_is_a_snapshot() -> None:
    env = {"DIB_RELEASE": "noble"}
    made = config(env, stop_after=Phase.INSTALL)
    env["DIB_RELEASE"] = "changed"
    assert made.env["DIB_RELEASE"] == "noble"
    assert made.stop_after is Phase.INSTALL
