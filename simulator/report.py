"""Outcome and latency summary of a simulation run (HdrHistogram tables rendered with rich)."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram
from rich.console import Console
from rich.table import Table

# Microseconds from 1 µs to 10 minutes at three significant figures.
_LOWEST_US = 1
_HIGHEST_US = 600_000_000
_DIGITS = 3
PERCENTILES = (50.0, 95.0, 99.0)
# Enhanced responses are second answers to IAQs, not inputs: their row counts expected ones.
ENHANCED = "iaq-enh"
# The LESC's acknowledgements of the IAQs sent, apart from the IAR (which comes minutes later
# with realistic timing).
ACKNOWLEDGED = "iaq-ack"
# Rows that are not inputs of the mix.
NOT_INPUTS = frozenset({ENHANCED, ACKNOWLEDGED})
ROW_ORDER = ("iaq-c", "iaq-f", "iaq-b", ACKNOWLEDGED, "qw", "yq", "am", "bad", ENHANCED)


@dataclass(slots=True)
class KindStats:
    """Counts and latencies of one message kind."""

    sent: int = 0
    answered: int = 0
    errors: int = 0
    latency: HdrHistogram = field(
        default_factory=lambda: HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)
    )

    def record(self, seconds: float) -> None:
        """Add one latency."""
        micros = min(max(int(seconds * 1e6), _LOWEST_US), _HIGHEST_US)
        self.latency.record_value(micros)

    def percentile_ms(self, percentile: float) -> float | None:
        """Latency at ``percentile`` in milliseconds, None without samples."""
        if self.latency.get_total_count() == 0:
            return None
        return float(self.latency.get_value_at_percentile(percentile)) / 1000

    def max_ms(self) -> float | None:
        """Largest latency in milliseconds, None without samples."""
        if self.latency.get_total_count() == 0:
            return None
        return float(self.latency.get_max_value()) / 1000


@dataclass(slots=True)
class Report:
    """Everything a run saw; rendered as tables or JSON."""

    kinds: dict[str, KindStats] = field(default_factory=dict)
    errors_by_code: Counter[str] = field(default_factory=Counter)
    outputs_by_mke: Counter[str] = field(default_factory=Counter)
    yr_status: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    sending: float = 0.0  # seconds from the first input due to the last one sent
    lines: int = 0
    scheduled: int = 0  # inputs of the mix sent (``sent`` adds the YQs that follow QW hits)
    earlier: int = 0  # outputs received that no input of this run caused (left out)
    # How late each input of the mix went out after its scheduled moment: whether the
    # generator kept its pace (latencies count from that moment, so its lateness is in them).
    pacing: KindStats = field(default_factory=KindStats)

    def kind(self, name: str) -> KindStats:
        """The stats of a kind, created on first use."""
        stats = self.kinds.get(name)
        if stats is None:
            stats = self.kinds[name] = KindStats()
        return stats

    def violation(self, what: str, example: str) -> None:
        """Count a protocol violation and keep the first example of its kind."""
        self.violations[what] += 1
        self.examples.setdefault(what, example)

    @property
    def sent(self) -> int:
        """Inputs sent, all kinds."""
        return sum(stats.sent for name, stats in self.kinds.items() if name not in NOT_INPUTS)

    @property
    def answered(self) -> int:
        """Inputs answered, all kinds."""
        return sum(
            stats.answered for name, stats in self.kinds.items() if name not in NOT_INPUTS
        )

    def counts(self) -> str:
        """What came back so far, as the progress bar and the summary both say it."""
        enhanced = self.kinds.get(ENHANCED)
        came, due = (enhanced.answered, enhanced.sent) if enhanced is not None else (0, 0)
        return f"{self.sent} sent, {self.answered} answered, {came}/{due} enhanced"

    def rows(self) -> list[tuple[str, KindStats]]:
        """Kinds in the report's order."""
        rank = {name: number for number, name in enumerate(ROW_ORDER)}
        return sorted(self.kinds.items(), key=lambda item: rank.get(item[0], len(rank)))

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data (``--json``)."""
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {
            "elapsed_s": round(self.elapsed, 3),
            "sending_s": round(self.sending, 3),
            "lines": self.lines,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "answered": self.answered,
            "earlier_outputs": self.earlier,
            "sent_late_ms": {
                **{f"p{p:g}": ms(self.pacing.percentile_ms(p)) for p in PERCENTILES},
                "max": ms(self.pacing.max_ms()),
            },
            "kinds": {
                name: {
                    "sent": stats.sent,
                    "answered": stats.answered,
                    "errors": stats.errors,
                    **{f"p{p:g}_ms": ms(stats.percentile_ms(p)) for p in PERCENTILES},
                    "max_ms": ms(stats.max_ms()),
                }
                for name, stats in self.rows()
            },
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "outputs_by_mke": dict(sorted(self.outputs_by_mke.items())),
            "yr_status": dict(sorted(self.yr_status.items())),
            "violations": dict(self.violations),
            "examples": self.examples,
        }

    def render(self, console: Console) -> None:
        """Print the latency and outcome tables."""
        rate = self.scheduled / self.sending if self.sending > 0 else 0.0
        console.print(
            f"{self.counts()}; the mix: {self.scheduled} inputs in {self.sending:.1f} s "
            f"({rate:,.0f} inputs/s) on {self.lines} lines; {self.elapsed:.1f} s in all"
        )
        pacing = self.pacing
        if pacing.latency.get_total_count():
            p50, p99, most = pacing.percentile_ms(50.0), pacing.percentile_ms(99.0), pacing.max_ms()
            console.print(f"inputs sent after their scheduled moment: p50 {p50:.2f} ms, "
                          f"p99 {p99:.2f} ms, max {most:.2f} ms")
        if self.earlier:
            console.print(f"{self.earlier} outputs no input of this run caused were left out "
                          "(stored before the run, or answers to earlier inputs)")
        table = Table(title="Latency from send to answer (ms)")
        for column in ("kind", "sent", "answered", "ER", "p50", "p95", "p99", "max"):
            table.add_column(column, justify="left" if column == "kind" else "right")
        for name, stats in self.rows():
            cells = [stats.percentile_ms(p) for p in PERCENTILES] + [stats.max_ms()]
            table.add_row(
                name, str(stats.sent), str(stats.answered), str(stats.errors),
                *("-" if value is None else f"{value:.2f}" for value in cells),
            )
        console.print(table)
        outcome = Table(title="Outputs")
        outcome.add_column("what")
        outcome.add_column("count", justify="right")
        for code, count in sorted(self.errors_by_code.items()):
            outcome.add_row(f"ER {code}", str(count))
        for mke, count in sorted(self.outputs_by_mke.items()):
            outcome.add_row(mke, str(count))
        for status, count in sorted(self.yr_status.items()):
            outcome.add_row(f"YR {status}", str(count))
        console.print(outcome)
        if not self.violations:
            console.print("no protocol violation seen", style="green")
            return
        problems = Table(title="Protocol violations", title_style="bold red")
        problems.add_column("violation")
        problems.add_column("count", justify="right")
        problems.add_column("first example")
        for what, count in self.violations.items():
            problems.add_row(what, str(count), self.examples.get(what, ""))
        console.print(problems)
