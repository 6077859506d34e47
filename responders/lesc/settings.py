"""The LESC's settings: ``IAQGW_*`` environment variables, over which the switch's values win.

The switch passes on what it was given (``serve`` flags such as ``--records``, and values for
services given in Python); the rest comes from the environment, as for the switch's own.
"""

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from formats.datafile import SettingError
from responders.lesc import LESC_ORI
from responders.lesc.records import index_path
from routing.lines import LineRegistry
from routing.oris import FBI_CJIS_ORI


class LescSettings(BaseSettings):
    """Everything the LESC can be told (docs/lesc.md)."""

    model_config = SettingsConfigDict(env_prefix="IAQGW_", extra="ignore")

    data_dir: Path = Path("data")
    # The immigration index: built from the records CSV (SPEC.md §5), else generated.
    records: Path | None = None
    synthetic_records: int = Field(1_000_000, ge=1)
    # A directory of index files (iii.csv, sevis.csv, ident.csv, nseers.csv): each index with
    # a file holds the people it lists instead of its synthetic data.
    index_data: Path | None = None
    # The simulated technician's delay per case, in seconds ("off": only the operator
    # answers, with `iaqgw queue answer`), capped at the maximum.
    technician_delay: Literal["off", "fixed", "uniform", "exponential"] = "exponential"
    technician_delay_mean: float = Field(3.0, ge=0)
    technician_delay_max: float = Field(30.0, ge=0)
    # A PENDING YR goes out this many seconds before a hit confirmation's deadline at latest.
    hit_margin_urgent: float = Field(120.0, gt=0, lt=600)
    hit_margin_routine: float = Field(600.0, gt=0, lt=3600)
    # How often the gateway looks for answers an operator gave through the CLI.
    queue_poll: float = Field(1.0, gt=0)
    # Every PUR/F (Brady) response is copied to this ORI (the FBI NICS Section).
    nics_ori: str = Field("WVFBINICS", pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")
    # An IAQ from this ORI (the FBI CJIS Division) is biometric: answered to its booking ORI.
    cjis_ori: str = Field(FBI_CJIS_ORI, pattern=r"^[A-Z]{2}[A-Z0-9]{7}$")
    # Which of the LESC's ORIs it sends as; it is reached at both.
    lesc_ori: Literal["VTINS07S0", "VTICE0900"] = LESC_ORI
    # When the IAR goes out: with the acknowledgement, or after the research time of the
    # slowest index searched (docs/lesc.md, "Response times"), every draw times the scale,
    # or the fixed seconds instead of a draw (tests).
    lesc_timing: Literal["immediate", "realistic"] = "immediate"
    lesc_timing_scale: float = Field(1.0, ge=0)
    lesc_timing_fixed: float | None = Field(None, ge=0)

    @property
    def index_path(self) -> Path:
        """The immigration index built from ``records`` or generated."""
        return index_path(self.data_dir, self.records, self.synthetic_records)


def lesc_settings(given: Mapping[str, Any]) -> LescSettings:
    """The LESC's settings: ``given`` values (None: not given) over the environment.

    Raises SettingError naming the first unusable one.
    """
    values = {
        name: value
        for name, value in given.items()
        if name in LescSettings.model_fields and value is not None
    }
    try:
        return LescSettings(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise SettingError(f"IAQGW_{str(first['loc'][0]).upper()}: {first['msg']}") from None


def nics_copies_to(
    settings: LescSettings, lines: LineRegistry, line_of: Callable[[str], str | None], log: Any
) -> str | None:
    """The ORI PUR/F responses are copied to, or None when the line registry has no line for it.

    The default NICS ORI on a line the registry lacks (a registry of a few states) turns the
    copies off with a warning; a NICS ORI the operator set must be on a line (docs/lesc.md).
    """
    ori = settings.nics_ori
    if line_of(ori) is not None:
        return ori
    if "nics_ori" in settings.model_fields_set:
        codes = f" ({', '.join(lines.codes)})" if len(lines) <= 10 else ""
        raise SettingError(
            f"IAQGW_NICS_ORI: {ori} is on no line of the line registry; set it to an ORI on"
            f" one of its lines{codes}, or add line {ori[:2]} to the --lines file"
        )
    log.warning(
        "config.nics_copies_off", nics_ori=ori,
        detail=f"line {ori[:2]} is not in the line registry; set IAQGW_NICS_ORI to copy PUR/F"
        " responses to an ORI on one of its lines",
    )  # fmt: skip
    return None
