"""Settings sections: one loader for the core's settings and every plugin's own.

A section is a frozen dataclass whose settings are fields declared with
:func:`setting`, their constraints beside them. :func:`load_section` reads the
values from layers, lowest first (a settings-file table, a URL query, the
environment, explicit values), converts each to its field's type, checks its
constraints and remembers where it came from, so every error is one line
naming the setting, the value (``***`` for a secret) and its source::

    @dataclass(frozen=True, slots=True)
    class CacheSettings:
        size: int = setting(100, minimum=1)
        token: str | None = setting(None, secret=True)

    loaded = load_section(
        CacheSettings,
        "cache",
        [table_layer(settings, "cache"), *env_layers(os.environ, "XQUEUE_CACHE_", CacheSettings)],
    )
    cache = loaded.build()

Checks that involve several settings stay with the section; they raise
``loaded.error(name, problem)`` so their messages read the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast
from urllib.parse import urlsplit

from .errors import SettingsError

T = TypeVar("T")
HIDDEN = "***"  # how a secret's value is shown in messages
_META = "xqueue_setting"
_EXPECTED = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "tuple[str, ...]": "a comma-separated list",
}

#: one source of values: its name in messages ("URL query", "environment X") and the values
Layer = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Rule:
    """The constraints of one setting (see :func:`setting`)."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple[Any, ...] | None = None
    case: Literal["lower", "upper"] | None = None
    secret: bool = False
    nonempty: bool = False
    blank_is_unset: bool = False
    convert: Callable[[Any], Any] | None = None
    check: Callable[[Any], str | None] | None = None


def setting(
    default: Any = dataclasses.MISSING,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: Sequence[Any] | None = None,
    case: Literal["lower", "upper"] | None = None,
    secret: bool = False,
    nonempty: bool = False,
    blank_is_unset: bool = False,
    convert: Callable[[Any], Any] | None = None,
    check: Callable[[Any], str | None] | None = None,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field that :func:`load_section` reads, with its constraints.

    :param minimum: / :param maximum: inclusive bounds of a number.
    :param above: the number must be greater than this.
    :param choices: the allowed values (compared after ``case``).
    :param case: fold a text value to ``"lower"`` or ``"upper"`` case first.
    :param secret: shown as ``***`` in messages and left out of ``repr``.
    :param nonempty: an empty text is refused.
    :param blank_is_unset: an empty text means "not set" (``None``).
    :param convert: replaces the conversion by type; raises ``ValueError(problem)``.
    :param check: returns what is wrong with a converted value, or ``None``.

    The problems that ``convert`` and ``check`` report are shown as they are
    (name the value in them when it helps); the built-in rules add ``got <value>``.
    """
    rule = Rule(
        minimum,
        maximum,
        above,
        tuple(choices) if choices is not None else None,
        case,
        secret,
        nonempty,
        blank_is_unset,
        convert,
        check,
    )
    metadata = {_META: rule}
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=metadata, repr=not secret)
    return field(default=default, metadata=metadata, repr=not secret)


def settings_of(cls: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """The fields of a section that are settings (declared with :func:`setting`)."""
    return {f.name: f for f in dataclasses.fields(cls) if _META in f.metadata}


def defaults_of(cls: type[Any]) -> dict[str, Any]:
    """Every setting of a section with its default (for docs and ``xqueue plugins``)."""
    out = {}
    for name, f in sorted(settings_of(cls).items()):
        if f.default is not dataclasses.MISSING:
            out[name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[name] = f.default_factory()
    return out


def convert_value(kind: str, value: Any, where: str, shown: str | None = None) -> Any:
    """Convert a raw value (from TOML, a URL, the environment or a flag) to ``kind``.

    :param kind: a field's annotation: ``bool``, ``int``, ``float``,
        ``tuple[str, ...]`` or ``str``, optionally ``| None``.
    :param where: names the setting and its source in the error message.
    :param shown: how to show the value in the message (e.g. hidden for a secret).

    Raises :class:`SettingsError` naming the expected form.
    """
    base = kind.split(" |")[0]
    try:
        if value is None and "None" in kind:
            return None
        if base == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
            return number
        if base == "tuple[str, ...]":
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        expected = _EXPECTED.get(base, "a string")
        raise SettingsError(
            f"{where}: expected {expected}, got {shown if shown is not None else repr(value)}"
        ) from None


def _or_list(values: Sequence[Any]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _problem(rule: Rule, value: Any) -> str | None:
    """What is wrong with a converted value by its rule, or ``None``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rule.minimum is not None and value < rule.minimum:
            return (
                "must not be negative"
                if rule.minimum == 0
                else f"must be at least {rule.minimum:g}"
            )
        if rule.maximum is not None and value > rule.maximum:
            return f"must be at most {rule.maximum:g}"
        if rule.above is not None and value <= rule.above:
            return f"must be greater than {rule.above:g}"
    if isinstance(value, str) and rule.nonempty and not value.strip():
        return "must not be empty"
    if rule.choices is not None and value not in rule.choices:
        return f"must be one of {_or_list(rule.choices)}"
    return None


@dataclass(slots=True)
class Loaded(Generic[T]):
    """A section's values, converted and checked, with the source of each."""

    cls: type[T]
    section: str | None
    values: dict[str, Any]
    sources: dict[str, str]

    def where(self, name: str) -> str:
        """How messages name a setting: ``kafka setting 'x' (from URL query)``."""
        return _where(self.section, name, self.sources.get(name, "default"))

    def error(self, name: str, problem: str, *, show_value: bool = True) -> SettingsError:
        """A one-line error about a setting that fails a check of the section's own."""
        value = self.values.get(name)
        if not show_value:
            return SettingsError(f"{self.where(name)}: {problem}")
        shown = HIDDEN if _rule(self.cls, name).secret else repr(value)
        return SettingsError(f"{self.where(name)}: {problem}, got {shown}")

    def build(self, **more: Any) -> T:
        """The section's dataclass from these values and ``more`` (not settings)."""
        return self.cls(**self.values, **more)


def _where(section: str | None, name: str, source: str) -> str:
    noun = f"{section} setting" if section else "setting"
    return f"{noun} {name!r} (from {source})"


def _kind(annotation: Any) -> str:
    """A field's annotation as text (``"int | None"``), postponed or not."""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation).replace("typing.", "")
    if text.startswith("Optional[") and text.endswith("]"):
        return f"{text[9:-1]} | None"
    return text


def _rule(cls: type[Any], name: str) -> Rule:
    return cast(Rule, settings_of(cls)[name].metadata[_META])


def read_value(cls: type[Any], section: str | None, name: str, raw: Any, source: str) -> Any:
    """One setting of ``cls`` from a raw value: converted, folded and checked."""
    f = settings_of(cls)[name]
    rule: Rule = f.metadata[_META]
    where = _where(section, name, source)
    shown = HIDDEN if rule.secret else repr(raw)
    if rule.blank_is_unset and (raw is None or raw == ""):
        return None
    if rule.convert is not None:
        try:
            value = rule.convert(raw)
        except ValueError as exc:
            raise SettingsError(f"{where}: {exc}") from None
    else:
        value = convert_value(_kind(f.type), raw, where, shown)
    if rule.case is not None and isinstance(value, str):
        value = value.lower() if rule.case == "lower" else value.upper()
    problem = _problem(rule, value)
    if problem is not None:
        shown = HIDDEN if rule.secret else repr(value)
        raise SettingsError(f"{where}: {problem}, got {shown}")
    problem = rule.check(value) if rule.check is not None and value is not None else None
    if problem is not None:
        raise SettingsError(f"{where}: {problem}")
    return value


def load_section(
    cls: type[T],
    section: str | None,
    layers: Iterable[Layer],
    *,
    base: Mapping[str, Any] | None = None,
    base_source: str = "default",
) -> Loaded[T]:
    """Read a section's settings from ``layers`` (lowest first; later ones win).

    :param section: the section's name in messages (``"kafka"``), ``None`` for the core.
    :param base: values to start from, checked like the layers (e.g. a copy's originals).
    :raises SettingsError: for an unknown name (listing the known ones) or a bad value.
    """
    known = settings_of(cls)
    raw: dict[str, Any] = dict(base or {})
    sources = dict.fromkeys(raw, base_source)
    for source, values in layers:
        for name, value in values.items():
            if name not in known:
                noun = f"{section} setting" if section else "setting"
                raise SettingsError(
                    f"unknown {noun} {name!r} (from {source}); "
                    f"known settings: {', '.join(sorted(known))}"
                )
            raw[name] = value
            sources[name] = source
    values = {
        name: read_value(cls, section, name, value, sources[name]) for name, value in raw.items()
    }
    return Loaded(cls, section, values, sources)


def table_layer(table: Mapping[str, Any], section: str) -> Layer:
    """The layer of a settings-file table such as ``[kafka]``."""
    return (f"settings file [{section}]", table)


def env_layers(env: Mapping[str, str], prefix: str, cls: type[Any]) -> list[Layer]:
    """One layer per ``{prefix}{NAME}`` variable that is set and not empty."""
    layers: list[Layer] = []
    for name in settings_of(cls):
        variable = f"{prefix}{name.upper()}"
        raw = env.get(variable)
        if raw is not None and raw != "":
            layers.append((f"environment {variable}", {name: raw}))
    return layers


def explicit_layer(values: Mapping[str, Any], source: str = "command line") -> Layer:
    """Explicit values (flags, arguments); ``None`` means "not given"."""
    return (source, {k: v for k, v in values.items() if v is not None})


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs).

    Works for several hosts (``kafka://u:p@a:9092,b:9092``) and IPv6 literals.
    """
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:{HIDDEN}@{hosts}").geturl()
