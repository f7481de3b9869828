"""Plugin discovery and the backend registry.

One :class:`Plugins` per app: a fresh pluggy manager, loaded lazily and once.
Built-in backends register through the same hook as any installed plugin.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pluggy

from . import hookspecs
from .entry_points import EntryPoint, entry_points
from .errors import PluginError
from .hooks import Hooks
from .interfaces import ROLES, BackendSpec, Role
from .settings import Settings

ENTRY_POINT_GROUP = "xqueue"
BUILTIN_PLUGINS: dict[str, str] = {"sqlite": "xqueue_core.sqlite.plugin"}

# Which distribution provides a scheme that is not installed: the install hint.
KNOWN_PROVIDERS: Mapping[str, str] = {
    "redis": "xqueue-redis",
    "rediss": "xqueue-redis",
    "kafka": "xqueue-kafka",
    "mqtt": "xqueue-mqtt",
    "mqtts": "xqueue-mqtt",
    "ws": "xqueue-mqtt",
    "wss": "xqueue-mqtt",
}


@dataclass(slots=True)
class PluginInfo:
    """One loaded plugin, as ``xqueue plugins`` lists it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    hooks: list[str] = field(default_factory=list)
    schemes: dict[str, list[str]] = field(default_factory=dict)


def _name_list(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


class Plugins:
    """The plugins of one app and what they registered."""

    def __init__(
        self,
        *,
        autoload: bool = True,
        extra: Iterable[object] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._autoload = autoload
        self._extra = list(extra)
        self._env = os.environ if env is None else env
        self._pm: pluggy.PluginManager | None = None
        self._hooks: Hooks | None = None
        self._infos: dict[str, PluginInfo] = {}
        self._backends: dict[tuple[Role, str], BackendSpec] = {}

    # -- loading -------------------------------------------------------------

    @property
    def manager(self) -> pluggy.PluginManager:
        """The pluggy manager, loading plugins on first use."""
        if self._pm is None:
            self._pm = self._load()
        return self._pm

    @property
    def hooks(self) -> Hooks:
        """Typed calls of every hook the core calls, loading plugins on first use."""
        if self._hooks is None:
            self._hooks = Hooks(self.manager)
        return self._hooks

    def _load(self) -> pluggy.PluginManager:
        pm = pluggy.PluginManager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        for name, module_name in BUILTIN_PLUGINS.items():
            self._register(pm, importlib.import_module(module_name), name, None)
        if self._autoload:
            self._load_entry_points(pm)
        for index, obj in enumerate(self._extra):
            name = getattr(obj, "__name__", None) or f"{type(obj).__name__}-{index}"
            self._register(pm, obj, str(name), None)
        try:
            pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or "?"
            raise PluginError(
                f"plugin {name!r} implements a hook xqueue does not have: {exc}; "
                f"check the spelling, or disable it with XQUEUE_DISABLE_PLUGINS={name}"
            ) from None
        self._collect_backends(pm)
        return pm

    def _load_entry_points(self, pm: pluggy.PluginManager) -> None:
        disabled = _name_list(self._env.get("XQUEUE_DISABLE_PLUGINS")) or set()
        allowed = _name_list(self._env.get("XQUEUE_LOAD_PLUGINS"))
        seen: dict[str, str] = {}
        for ep in entry_points(ENTRY_POINT_GROUP):
            if ep.name in disabled or (allowed is not None and ep.name not in allowed):
                continue
            dist_name = ep.distribution
            if ep.name in seen:
                if seen[ep.name] == dist_name:
                    continue  # the same distribution seen twice on sys.path
                raise PluginError(
                    f"distributions {seen[ep.name]} and {dist_name} both declare the xqueue "
                    f"plugin {ep.name!r}; uninstall one of them"
                )
            seen[ep.name] = dist_name
            try:
                obj = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} (distribution {dist_name}) failed to load: "
                    f"{type(exc).__name__}: {exc}; disable it with "
                    f"XQUEUE_DISABLE_PLUGINS={ep.name}"
                ) from exc
            self._register(pm, obj, ep.name, ep)

    def _register(
        self, pm: pluggy.PluginManager, obj: object, name: str, ep: EntryPoint | None
    ) -> None:
        if pm.has_plugin(name):
            raise PluginError(f"two plugins are named {name!r}; rename one")
        try:
            pm.register(obj, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
        module = obj.__name__ if isinstance(obj, ModuleType) else type(obj).__module__
        info = PluginInfo(name=name, module=module)
        if ep is not None:
            info.distribution = ep.distribution
            info.version = ep.version
        elif name in BUILTIN_PLUGINS:
            info.distribution = "xqueue-core (built in)"
        info.hooks = sorted(caller.name for caller in pm.get_hookcallers(obj) or [])
        self._infos[name] = info

    def _collect_backends(self, pm: pluggy.PluginManager) -> None:
        def register_for(plugin: str) -> Callable[[BackendSpec], None]:
            return lambda spec: self._add_backend(spec, plugin)

        Hooks(pm).register_backends(register_for)

    def _add_backend(self, spec: BackendSpec, plugin_name: str) -> None:
        if spec.role not in ROLES:
            raise PluginError(
                f"plugin {plugin_name!r} registered role {spec.role!r}; "
                f"roles are {', '.join(ROLES)}"
            )
        spec = replace(spec, plugin=plugin_name)
        for scheme in spec.schemes:
            key = (spec.role, scheme.lower())
            if key in self._backends:
                other = self._backends[key].plugin
                raise PluginError(
                    f"plugins {other!r} and {plugin_name!r} both offer the {spec.role} "
                    f"scheme {scheme!r}; disable one with XQUEUE_DISABLE_PLUGINS"
                )
            self._backends[key] = spec
            self._infos[plugin_name].schemes.setdefault(spec.role, []).append(scheme)

    # -- queries -------------------------------------------------------------

    def infos(self) -> list[PluginInfo]:
        """Every loaded plugin with its distribution, hooks and schemes."""
        self.manager  # noqa: B018 - load
        return list(self._infos.values())

    def schemes(self, role: Role) -> dict[str, str]:
        """``{scheme: plugin}`` for one role."""
        self.manager  # noqa: B018
        return {scheme: spec.plugin for (r, scheme), spec in self._backends.items() if r == role}

    def create(self, role: Role, url: str, settings: Settings) -> Any:
        """A new, unopened backend for ``url`` from the factory its plugin registered."""
        return self.backend_spec(role, url).factory(url, settings)

    def backend_spec(self, role: Role, url: str) -> BackendSpec:
        """The registered factory for ``url``'s scheme, or a PluginError that says what exists."""
        self.manager  # noqa: B018
        scheme = urlsplit(url).scheme.lower()
        spec = self._backends.get((role, scheme))
        if spec is not None:
            return spec
        offered = self.schemes(role)
        listing = ", ".join(f"{s}:// ({p})" for s, p in sorted(offered.items())) or "none"
        hint = ""
        provider = KNOWN_PROVIDERS.get(scheme)
        if provider:
            hint = f"; install {provider} (pip install {provider}) to use {scheme}://"
        raise PluginError(
            f"no installed plugin offers a {role} for {scheme or '?'}:// URLs "
            f"({url!r}); installed {role} schemes: {listing}{hint}"
        )
