"""The settings-section loader: layers and their precedence, conversion, constraints, messages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from xqueue_core.errors import SettingsError
from xqueue_core.sections import (
    defaults_of,
    env_layers,
    explicit_layer,
    load_section,
    redact_url,
    setting,
    settings_of,
    table_layer,
)
from xqueue_core.settings import load_settings


def _even(value: int) -> str | None:
    return None if value % 2 == 0 else f"must be even, got {value}"


def _level(value: object) -> int:
    words = {"low": 1, "high": 9}
    if str(value) in words:
        return words[str(value)]
    raise ValueError(f"must be low or high, got {value!r}")


@dataclass(frozen=True, slots=True)
class Sample:
    host: str  # from somewhere else: not a setting
    size: int = setting(4, minimum=1, maximum=64)
    ratio: float = setting(0.5, above=0)
    fast: bool = setting(False)
    tags: tuple[str, ...] = setting(())
    mode: str = setting("lazy", choices=("lazy", "eager"), case="lower")
    name: str = setting("x", nonempty=True)
    token: str | None = setting(None, secret=True, blank_is_unset=True)
    pairs: int = setting(2, check=_even)
    level: int = setting(1, convert=_level)
    limit: int | None = setting(None, minimum=0)


def load(*layers: tuple[str, dict[str, object]]) -> Sample:
    return load_section(Sample, "sample", layers).build(host="h")


def error(*layers: tuple[str, dict[str, object]]) -> str:
    with pytest.raises(SettingsError) as info:
        load(*layers)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_later_layers_win_and_each_value_keeps_its_source() -> None:
    loaded = load_section(
        Sample,
        "sample",
        [
            table_layer({"size": 8, "fast": True}, "sample"),
            ("URL query", {"size": "16"}),
            *env_layers(
                {"XQUEUE_SAMPLE_RATIO": "2.5", "XQUEUE_SAMPLE_NAME": ""}, "XQUEUE_SAMPLE_", Sample
            ),
            explicit_layer({"tags": "a, b", "mode": None}),
        ],
    )
    assert loaded.values == {"size": 16, "fast": True, "ratio": 2.5, "tags": ("a", "b")}
    assert loaded.where("size") == "sample setting 'size' (from URL query)"
    assert loaded.where("fast") == "sample setting 'fast' (from settings file [sample])"
    assert loaded.where("ratio") == "sample setting 'ratio' (from environment XQUEUE_SAMPLE_RATIO)"
    assert loaded.where("tags") == "sample setting 'tags' (from command line)"
    assert loaded.where("mode") == "sample setting 'mode' (from default)"
    built = loaded.build(host="h")
    assert (built.size, built.mode, built.name) == (16, "lazy", "x")


def test_values_are_converted_from_text_as_urls_and_the_environment_give_them() -> None:
    s = load(
        ("q", {"fast": "on", "ratio": "1e-3", "size": " 7 ", "mode": "EAGER", "level": "high"})
    )
    assert (s.fast, s.ratio, s.size, s.mode, s.level) == (True, 0.001, 7, "eager", 9)
    assert load(("q", {"fast": "0", "limit": None})).fast is False
    assert load(("q", {"size": 8.0})).size == 8  # TOML's 8.0 is a whole number


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"size": "many"}, "sample setting 'size' (from q): expected a whole number, got 'many'"),
        ({"size": 2.5}, "expected a whole number, got 2.5"),
        ({"size": True}, "expected a whole number, got True"),
        ({"size": 0}, "sample setting 'size' (from q): must be at least 1, got 0"),
        ({"size": 65}, "must be at most 64, got 65"),
        ({"ratio": 0}, "must be greater than 0, got 0.0"),
        ({"ratio": "nan"}, "expected a number, got 'nan'"),
        ({"fast": "maybe"}, "expected true or false, got 'maybe'"),
        ({"tags": 3}, "expected a comma-separated list, got 3"),
        ({"mode": "busy"}, "must be one of lazy or eager, got 'busy'"),
        ({"name": " "}, "must not be empty, got ' '"),
        ({"pairs": 3}, "sample setting 'pairs' (from q): must be even, got 3"),
        ({"level": "mid"}, "sample setting 'level' (from q): must be low or high, got 'mid'"),
        ({"limit": -1}, "must not be negative, got -1"),
        ({"colour": "red"}, "unknown sample setting 'colour' (from q); known settings: fast, "),
        ({"host": "h2"}, "unknown sample setting 'host'"),  # not a setting: cannot be layered
    ],
)
def test_bad_values_are_one_line_naming_setting_source_and_value(
    values: dict[str, object], message: str
) -> None:
    assert message in error(("q", values))


def test_a_secret_is_never_shown() -> None:
    text = error(("q", {"token": 12345678}))
    assert text == "sample setting 'token' (from q): expected a string, got ***"
    built = load(("q", {"token": "s3cret-token"}))
    assert built.token == "s3cret-token" and "s3cret" not in repr(built)
    assert load(("q", {"token": ""})).token is None  # blank means unset


def test_base_values_are_kept_and_checked_again() -> None:
    loaded = load_section(Sample, "sample", [("flag", {"ratio": 3})], base={"size": 9})
    assert (loaded.values, loaded.where("size")) == (
        {"size": 9, "ratio": 3.0},
        "sample setting 'size' (from default)",
    )
    with pytest.raises(SettingsError, match="'size' \\(from default\\): must be at most 64"):
        load_section(Sample, "sample", [], base={"size": 99})


def test_an_error_of_the_sections_own_reads_the_same() -> None:
    loaded = load_section(Sample, "sample", [("q", {"size": 3, "token": "abcdefgh"})])
    assert str(loaded.error("size", "must be below 'pairs'")) == (
        "sample setting 'size' (from q): must be below 'pairs', got 3"
    )
    assert (
        str(loaded.error("token", "is revoked"))
        == "sample setting 'token' (from q): is revoked, got ***"
    )


def test_fields_and_defaults() -> None:
    assert "host" not in settings_of(Sample) and "size" in settings_of(Sample)
    assert defaults_of(Sample)["size"] == 4 and list(defaults_of(Sample)) == sorted(
        defaults_of(Sample)
    )


def test_the_core_settings_use_the_same_loader() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(
            config_file=None, env={"XQUEUE_PROCESSES": "0"}, overrides={"log_level": None}
        )
    assert (
        str(info.value)
        == "setting 'processes' (from environment XQUEUE_PROCESSES): must be at least 1, got 0"
    )
    with pytest.raises(
        SettingsError, match=r"setting 'log_format' \(from command line\): must be one of"
    ):
        load_settings(env={}, overrides={"log_format": "xml"})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("kafka://alice:s%40cret@a:9092,b:9093?x=1", "kafka://alice:***@a:9092,b:9093?x=1"),
        ("mqtt://u:p@[::1]:1883/", "mqtt://u:***@[::1]:1883/"),
        ("mqtt://user@h", "mqtt://user@h"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
