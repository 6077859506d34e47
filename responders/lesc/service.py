"""The LESC and NCIC IVF services, as the switch finds them (entry points ``iaqgw.services``).

Both read one immigration index, and NCIC's queries count in the LESC's yearly figures, so
NCIC shares the LESC's runtime. The help file is a bare pipeline (responders/lesc/help.py).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from responders.base import Gauge, Service, ServiceContext, ServiceRuntime, Transaction
from responders.lesc import LESC, LESC_ORIS, NCIC, NCIC_ORI, hit_confirmation, iaq, ncic
from responders.lesc.casebook import Casebook, create_tables
from responders.lesc.cli import add_commands
from responders.lesc.deadlines import Deadlines
from responders.lesc.desk import ENHANCED, HIT, LescState
from responders.lesc.held import SCHEMA as HELD_SCHEMA
from responders.lesc.held import HeldAnswers
from responders.lesc.indices.files import load_tables
from responders.lesc.records import open_index
from responders.lesc.settings import lesc_settings, nics_copies_to
from responders.lesc.technician import SimulatedTechnician, TechnicianDelay
from responders.lesc.timing import REALISTIC, AnswerHeld, AnswerReleased, ResearchTime

# The effects the held answers' table takes (a tuple: isinstance is quicker with one than
# with a union).
_HELD: Final = (AnswerHeld, AnswerReleased)


class LescRuntime(ServiceRuntime):
    """The LESC while the gateway runs: its index, its casebook and its timed actions."""

    def __init__(self, ctx: ServiceContext) -> None:
        settings = lesc_settings(ctx.settings)
        nics_ori = nics_copies_to(settings, ctx.lines, ctx.line_of, ctx.log)
        self.index = open_index(settings.index_path, settings.records, settings.synthetic_records)
        try:
            tables = load_tables(settings.index_data, self.index)
            create_tables(ctx.store)
            ctx.store.schema(HELD_SCHEMA)
            self.casebook = Casebook(
                ctx.store.reader(),
                dialect=ctx.store.dialect,
                clock=ctx.clock,
                margins={
                    "U": timedelta(seconds=settings.hit_margin_urgent),
                    "R": timedelta(seconds=settings.hit_margin_routine),
                },
                technician_delay=TechnicianDelay(
                    settings.technician_delay,
                    settings.technician_delay_mean,
                    settings.technician_delay_max,
                ).draw,
                nics_ori=nics_ori,
                log=ctx.log,
                uncommitted=ctx.uncommitted,
                on_write=ctx.nudge,
            )
        except BaseException:
            self.index.close()
            raise
        timing = (
            ResearchTime(settings.lesc_timing_scale, settings.lesc_timing_fixed)
            if settings.lesc_timing == REALISTIC
            else None
        )
        self.state = LescState(
            self.index,
            self.casebook,
            ctx.lines,
            settings.lesc_ori,
            settings.cjis_ori,
            ctx.line_of,
            tables,
            timing,
        )
        self.held = HeldAnswers(
            ctx.store.reader(),
            dialect=ctx.store.dialect,
            emit=ctx.emit,
            log=ctx.log,
            on_write=ctx.nudge,
        )
        self.deadlines = Deadlines(
            casebook=self.casebook,
            state=self.state,
            technician=SimulatedTechnician(self.state),
            clock=ctx.clock,
            emit=ctx.emit,
            poll=settings.queue_poll,
            log=ctx.log,
        )
        ctx.log.info(
            "lesc.opened", records=len(self.index), index=str(settings.index_path),
            index_files=sorted(tables),
        )  # fmt: skip

    def write(self, effects: Sequence[object], tx: Transaction) -> None:
        """Record queries served, changes to cases and detainers, and held answers."""
        held: list[AnswerHeld | AnswerReleased] = [
            effect for effect in effects if isinstance(effect, _HELD)
        ]
        if not held:
            # Immediate timing (the default) holds nothing: the batch goes through as it is.
            self.casebook.write(effects, tx)
            return
        self.casebook.write([effect for effect in effects if not isinstance(effect, _HELD)], tx)
        self.held.write(held, tx)

    def next_due(self) -> datetime:
        """The next timed action or held answer, or the next look for operators' answers."""
        due = self.deadlines.next_due()
        held = self.held.next_due()
        return due if held is None else min(due, held)

    def due(self, now: datetime) -> int:
        """Release held IARs, then send operators' and the technician's answers and PENDINGs
        due by ``now``."""
        return self.held.release(now) + self.deadlines.tick(now)

    def gauges(self) -> Sequence[Gauge]:
        """Open hit confirmations, the technician queue and held IARs."""
        counts = self.casebook.open_by_kind()
        return (
            Gauge(
                "iaqgw_open_hit_confirmations",
                "Hit confirmations waiting for the technician's final YR",
                counts.get(HIT, 0),
            ),
            Gauge(
                "iaqgw_technician_queue",
                "Cases in the technician queue (hit confirmations and enhanced responses)",
                counts.get(HIT, 0) + counts.get(ENHANCED, 0),
            ),
            Gauge(
                "iaqgw_held_iars",
                "IARs held for their research time (realistic timing), not sent yet",
                self.held.held_count(),
            ),
        )

    def close(self) -> None:
        """Close the index."""
        self.index.close()


lesc = Service(
    name=LESC,
    destinations=frozenset({"AX", *LESC_ORIS}),
    sends_as=LESC_ORIS,
    pipelines=(iaq.pipeline, hit_confirmation.pipeline),
    open=LescRuntime,
    cli=add_commands,
)
"""The LESC: IAQ and YQ to AX, VTINS07S0 or VTICE0900."""

ncic_ivf = Service(
    name=NCIC,
    destinations=frozenset({"NCIC"}),
    sends_as=frozenset({NCIC_ORI}),
    pipelines=(ncic.pipeline,),
    shares=LESC,
)
"""NCIC IVF inquiries: QW to NCIC, answered from the LESC's index."""
