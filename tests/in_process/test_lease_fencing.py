"""A worker that cannot renew its leases stops its runs before they can expire."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from xqueue_core.leases import LeaseKeeper
from xqueue_core.models import Heartbeat


class UnreachableStore:
    """Answers heartbeats until ``down`` is set, then hangs like a dead server."""

    url = "stub://"

    def __init__(self) -> None:
        self.down = False
        self.beats = 0

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def heartbeat(self, worker_id: str, task_ids: Any, lease: float) -> Heartbeat:
        if self.down:
            await asyncio.sleep(3600)
        self.beats += 1
        return Heartbeat()


async def test_runs_are_given_up_before_an_unrenewed_lease_expires() -> None:
    store = UnreachableStore()
    reports: list[tuple[float, Heartbeat]] = []
    keeper = LeaseKeeper(
        lambda: store,  # type: ignore[arg-type,return-value]
        "w1",
        lease=2.0,
        interval=0.1,
        on_heartbeat=lambda beat: reports.append((time.monotonic(), beat)),
    )
    await keeper.start()
    try:
        keeper.add("t1")
        while store.beats < 3:  # renewals work: nothing is given up
            await asyncio.sleep(0.05)
        assert reports == []
        store.down = True
        went_down = time.monotonic()
        while not reports:
            await asyncio.sleep(0.02)
            assert time.monotonic() - went_down < 10, "never fenced"
        fenced_at, beat = reports[0]
        assert beat.lost == {"t1"}
        # reported before the lease (renewed at the latest just before going down) ran out
        assert fenced_at - went_down < keeper.lease
    finally:
        await keeper.stop()
