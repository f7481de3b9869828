"""Runtime control of flow: limits, per-key limits and weights, rates (DESIGN §7.3).

The methods of :class:`~xqueue_core.XQueue` that read and change them, kept apart
from the task lifecycle; every change is checked here and made in one store call.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .flow import DEFAULT_KEY, check_key, check_limit_target, check_weight
from .handlers import check_type_name
from .models import KeyUsage
from .rates import TYPE_RATE, Rate, parse_rate, rate_target
from .validation import check_limit

if TYPE_CHECKING:
    from .interfaces import Backends


class FlowControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    def backends(self) -> Backends:
        raise NotImplementedError

    async def known_types(self, refresh: bool = False) -> set[str]:
        raise NotImplementedError

    async def _check_type(self, task_type: str) -> None:
        raise NotImplementedError

    async def set_concurrency(
        self,
        task_type: str,
        limit: int | None,
        *,
        key: str | None = None,
        per_key: bool = False,
    ) -> None:
        """Set the cluster-wide limit of running tasks of a type (None: no limit).

        With ``key``, the limit of one flow key of the type; with ``per_key``, the
        default limit of every key (a key's own limit wins over it). The type
        must be registered (by this app or an announced worker). Takes effect
        for new starts at once; running tasks finish.
        """
        _, store = self.backends()
        check_type_name(task_type)
        if limit is not None:
            limit = check_limit(limit)
        target = check_limit_target(key, per_key)
        await self._check_type(task_type)
        if key is None and not per_key:
            await store.set_limit(task_type, limit)
        else:
            await store.set_key_limit(task_type, target, limit)

    async def set_key_weight(self, task_type: str, key: str, weight: int | None) -> None:
        """Let one flow key of a type take ``weight`` tasks (1-1000; None: back to 1) per
        round-robin turn while keys wait for slots: weight 3 gets three starts for
        every one of a key of weight 1."""
        _, store = self.backends()
        check_type_name(task_type)
        checked_key, checked = check_key(key), check_weight(weight)
        await self._check_type(task_type)
        await store.set_key_weight(task_type, checked_key, checked)

    async def get_concurrency(self) -> dict[str, dict[str, Any]]:
        """``{type: {"max_concurrency", "running", "per_key", "keys", "weights",
        "paused"}}`` for every known type: its limit (None: none), runs with a live
        lease, the default limit of its keys, the limits of single keys, the keys'
        weights (other than 1) and whether it is paused (:mod:`xqueue_core.pausing`)."""
        _, store = self.backends()
        limits = await store.limits()
        running = await store.running()
        key_limits = await store.key_limits()
        weights = await store.key_weights()
        paused = await store.paused()
        types = sorted(
            set(limits)
            | set(running)
            | set(key_limits)
            | set(weights)
            | set(paused)
            | await self.known_types()
        )
        out: dict[str, dict[str, Any]] = {}
        for t in types:
            keys = dict(key_limits.get(t, {}))
            out[t] = {
                "max_concurrency": limits.get(t),
                "running": running.get(t, 0),
                "per_key": keys.pop(DEFAULT_KEY, None),
                "keys": keys,
                "weights": weights.get(t, {}),
                "paused": t in paused,
            }
        return out

    async def set_rate(
        self,
        task_type: str,
        rate: str | Rate | None,
        *,
        key: str | None = None,
        per_key: bool = False,
    ) -> None:
        """Let at most N tasks of a type start per period (``"50/s"``, ``"10/m"``,
        ``"1/200ms"``; None removes the rate), counted over every worker.

        With ``key``, the rate of one flow key of the type; with ``per_key``, the
        default rate of every key (a key's own wins). A task starts only while
        every rate over it has room; the others wait in the store. The type must
        be registered. Applies to the next start.
        """
        _, store = self.backends()
        check_type_name(task_type)
        parsed = None if rate is None else parse_rate(rate)
        target = rate_target(key, per_key)
        await self._check_type(task_type)
        await store.set_rate(task_type, target, parsed)

    async def get_rates(self) -> dict[str, dict[str, Any]]:
        """``{type: {"rate", "per_key", "keys"}}`` for every known type: its own rate,
        the default of its keys and the rates of single keys, as text (``"50/s"``;
        None: none)."""
        _, store = self.backends()
        rates = await store.rates()
        out: dict[str, dict[str, Any]] = {}
        for t in sorted(set(rates) | await self.known_types()):
            of_type = {k: str(r) for k, r in rates.get(t, {}).items()}
            own, default = of_type.pop(TYPE_RATE, None), of_type.pop(DEFAULT_KEY, None)
            out[t] = {"rate": own, "per_key": default, "keys": of_type}
        return out

    async def key_usage(self, task_type: str, top: int = 20) -> builtins.list[KeyUsage]:
        """The ``top`` busiest flow keys of a type: runs, waiting tasks and limit of each."""
        check_type_name(task_type)
        if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= 1000:
            raise ValidationError(f"top must be between 1 and 1000, got {top!r}")
        _, store = self.backends()
        return await store.key_usage(task_type, top)
