"""Homes as leases, for instances that share a PostgreSQL store (docs/scale-out.md).

Each instance holds a lease row it renews every third of the lease time. The homes of the
lines are spread by rendezvous hashing over the listed instances whose lease stands, so when
an instance dies its lines pass to the live ones once its lease has run out, and come back
when it renews again; every instance reads the same rows and computes the same homes. Times
are the database's clock, so the instances' clocks need not agree (nor the gateway's test
clock, which moves the LESC's deadlines and not the leases).

The work a dead instance leaves — its broker session and the inputs it journaled and never
answered — is claimed by exactly one live instance: the claim is the dead instance's lease row,
locked (``FOR UPDATE SKIP LOCKED``) and marked ``adopted_by`` in the transaction that also makes
its unanswered inputs the claimer's. A claim by an instance that has died in turn is taken over
the same way; the instance's own renewal ends it.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

from gateway.bus import Homes
from gateway.journal import Journal
from gateway.store import DATABASE_ERRORS, Transaction, first_line

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS bus_leases (
    instance TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
ALTER TABLE bus_leases ADD COLUMN IF NOT EXISTS adopted_by TEXT;
ALTER TABLE bus_leases ADD COLUMN IF NOT EXISTS sees TEXT;
"""
# How often an instance that waits to join looks whether the others have let its lines go.
JOIN_POLL_S: Final = 0.25
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
        # The live instances this one last recorded having seen (bus_leases.sees).
        self._seen: set[str] = set()
        journal.schema(SCHEMA)
        self.renew()

    def on_change(self, listener: HomesChanged) -> None:
        """Call ``listener`` whenever homes move."""
        self._listeners.append(listener)

    def renew(self) -> None:
        """Extend this instance's lease, read the others' and move homes accordingly."""
        me = self._homes.instance
        with self._journal.transaction() as tx:
            tx.execute(
                f"INSERT INTO bus_leases (instance, expires_at) VALUES (?, {_NOW} + ?)"
                " ON CONFLICT (instance) DO UPDATE SET expires_at = excluded.expires_at,"
                " adopted_by = NULL",
                (me, self._lease_time),
            )
            sees = {
                str(name): set(str(seen or "").split(","))
                for name, seen in tx.execute(
                    f"SELECT instance, sees FROM bus_leases WHERE expires_at > {_NOW}"
                )
            }
            live = set(sees) | {me}
            claimed = self._claim(tx, live)
            taken = self._journal.take_inputs(claimed)
            adopted = frozenset(
                str(name)
                for (name,) in tx.execute(
                    "SELECT instance FROM bus_leases"
                    f" WHERE adopted_by = ? AND expires_at <= {_NOW}",
                    (me,),
                )
            )
        if claimed:
            self._log.warning("bus.instance_claimed", instance=me,
                              dead=",".join(sorted(claimed)), inputs=taken)
        # Joined once every other live instance has seen this one's lease (and so let its
        # lines go): until then this one homes nothing, so no line has two homes at once.
        joined = all(me in sees[name] for name in self._homes.instances
                     if name in sees and name != me)
        gained, lost = self._homes.set_live(live, joined=joined)
        if gained:
            self._journal.refresh(gained)
        if gained or lost:
            self._log.info("bus.homes_moved", instance=me,
                           live=",".join(sorted(live & set(self._homes.instances))),
                           gained=len(gained), lost=len(lost))
        if self._homes.set_adopted(adopted) or gained or lost:
            for listener in self._listeners:
                listener(gained, lost)
        if live != self._seen:
            # After the listeners: an instance that joins reads that its lines were let go.
            with self._journal.transaction() as tx:
                tx.execute("UPDATE bus_leases SET sees = ? WHERE instance = ?",
                           (",".join(sorted(live)), me))
            self._seen = live

    def _claim(self, tx: Transaction, live: set[str]) -> list[str]:
        """Claim, in the open transaction, the listed dead instances that no live instance
        holds; the names claimed now.

        Every listed instance gets a row (one that never ran may still have a broker session),
        and a row another instance is claiming right now is skipped, so no two wait on each
        other; its claim shows at the next renewal.
        """
        dead = [name for name in self._homes.instances if name not in live]
        if not dead:
            return []
        tx.executemany(
            "INSERT INTO bus_leases (instance, expires_at) VALUES (?, 0) ON CONFLICT DO NOTHING",
            [(name,) for name in dead],
        )
        free = [
            str(name)
            for name, holder in tx.execute(
                "SELECT instance, adopted_by FROM bus_leases"
                f" WHERE instance = ANY(?) AND expires_at <= {_NOW}"
                " ORDER BY instance FOR UPDATE SKIP LOCKED",
                (dead,),
            )
            if holder is None or holder not in live
        ]
        if free:
            tx.execute(
                "UPDATE bus_leases SET adopted_by = ? WHERE instance = ANY(?)",
                (self._homes.instance, free),
            )
        return free

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
        # Run out at once rather than deleted: what stays in this instance's broker session
        # is claimed by another instance like a dead one's.
        with contextlib.suppress(*DATABASE_ERRORS), self._journal.transaction() as tx:
            tx.execute(f"UPDATE bus_leases SET expires_at = {_NOW} WHERE instance = ?",
                       (self._homes.instance,))

    async def _run(self) -> None:
        while True:
            period = self._lease_time / 3
            await asyncio.sleep(period if self._homes.joined else min(period, JOIN_POLL_S))
            try:
                self.renew()
            except DATABASE_ERRORS as exc:
                # The lease runs out unless a later renewal gets through; the homes move then.
                self._log.error("bus.lease_failed", error=first_line(exc))
