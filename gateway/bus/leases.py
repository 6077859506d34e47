"""Homes as leases, for instances that share a PostgreSQL store (docs/scale-out.md).

Each instance holds a lease row it renews every third of the lease time. The homes of the
lines are spread by rendezvous hashing over the listed instances whose lease stands, so when
an instance dies its lines pass to the live ones once its lease has run out, and come back
when it renews again; every instance reads the same rows and computes the same homes. Times
are the database's clock, so the instances' clocks need not agree (nor the gateway's test
clock, which moves the LESC's deadlines and not the leases).
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

from gateway.bus import Homes
from gateway.journal import Journal
from gateway.store import DATABASE_ERRORS, first_line

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS bus_leases (
    instance TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
"""
# The database's time in epoch seconds; clock_timestamp moves within a transaction.
_NOW: Final = "EXTRACT(EPOCH FROM clock_timestamp())"

# Called with the lines that became homed here and those homed elsewhere now.
HomesChanged = Callable[[list[str], list[str]], None]


class Leases:
    """This instance's lease, renewed on the event loop, and the homes it implies."""

    def __init__(
        self, journal: Journal, homes: Homes, lease_time: float, log: Any
    ) -> None:
        self._journal = journal
        self._homes = homes
        self._lease_time = lease_time
        self._log = log
        self._listeners: list[HomesChanged] = []
        self._task: asyncio.Task[None] | None = None
        journal.schema(SCHEMA)
        self.renew()

    def on_change(self, listener: HomesChanged) -> None:
        """Call ``listener`` whenever homes move."""
        self._listeners.append(listener)

    def renew(self) -> None:
        """Extend this instance's lease, read the others' and move homes accordingly."""
        with self._journal.transaction() as tx:
            tx.execute(
                f"INSERT INTO bus_leases (instance, expires_at) VALUES (?, {_NOW} + ?)"
                " ON CONFLICT (instance) DO UPDATE SET expires_at = excluded.expires_at",
                (self._homes.instance, self._lease_time),
            )
            live = {
                str(name)
                for (name,) in tx.execute(
                    f"SELECT instance FROM bus_leases WHERE expires_at > {_NOW}"
                )
            }
        gained, lost = self._homes.set_live(live)
        if gained or lost:
            self._journal.refresh(gained)
            self._log.info("bus.homes_moved", instance=self._homes.instance,
                           live=",".join(sorted(live & set(self._homes.instances))),
                           gained=len(gained), lost=len(lost))
            for listener in self._listeners:
                listener(gained, lost)

    async def start(self) -> None:
        """Renew in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop renewing and give the lease up, so that the homes move at once."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(*DATABASE_ERRORS), self._journal.transaction() as tx:
            tx.execute("DELETE FROM bus_leases WHERE instance = ?", (self._homes.instance,))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._lease_time / 3)
            try:
                self.renew()
            except DATABASE_ERRORS as exc:
                # The lease runs out unless a later renewal gets through; the homes move then.
                self._log.error("bus.lease_failed", error=first_line(exc))
