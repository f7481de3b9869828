"""Pausing a task type (DESIGN §7.4): while a type is paused nothing new of it starts,
on any broker — the store parks each task of it a worker claims, as at a limit of 0 —
running tasks finish, other types flow, and its concurrency limit is kept. Resuming
wakes what its limits let start. Both are one atomic store step
(:meth:`~xqueue_core.interfaces.Store.set_paused`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .handlers import check_type_name

if TYPE_CHECKING:
    from .interfaces import Backends


class PauseControl:
    """Mixed into :class:`~xqueue_core.XQueue`."""

    def backends(self) -> Backends:
        raise NotImplementedError

    async def _check_type(self, task_type: str) -> None:
        raise NotImplementedError

    async def pause(self, task_type: str) -> bool:
        """Stop tasks of a type from starting (running ones finish; its limit is kept).
        The type must be registered (by this app or an announced worker). False when
        it was paused already."""
        check_type_name(task_type)
        await self._check_type(task_type)
        return await self.backends().store.set_paused(task_type, True)

    async def resume(self, task_type: str) -> bool:
        """Let a paused type start tasks again (as many as its limits let at once).
        False when it was not paused."""
        check_type_name(task_type)
        store = self.backends().store
        if task_type not in await store.paused():  # (a paused type resumes, known or not)
            await self._check_type(task_type)
        return await store.set_paused(task_type, False)

    async def paused(self) -> dict[str, float]:
        """The paused types, each with when it was paused (epoch seconds, the store's
        clock)."""
        return await self.backends().store.paused()
