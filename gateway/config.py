"""Gateway settings: command-line flags override ``IAQGW_*`` environment variables.

These are the switch's. A service reads its own settings with a model of its own (the LESC's:
responders/lesc/settings.py), from the same environment and from what the switch passes on:
these values, and values for services given here in Python (kept as extras).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from formats.datafile import SettingError
from formats.framing import DEFAULT_MAX_TEXT
from gateway.store import Location, is_url

__all__ = ["SettingError", "Settings"]


class Settings(BaseSettings):
    """Everything ``iaqgw serve`` can be told."""

    model_config = SettingsConfigDict(env_prefix="IAQGW_", extra="allow")

    host: str = "127.0.0.1"
    port: int = Field(7300, ge=0, le=65535)
    data_dir: Path = Path("data")
    # The journal's database when not the SQLite file in data_dir: a PostgreSQL URL that
    # several instances share (docs/scale-out.md).
    store: str | None = None
    # With --store and --bus: how long an instance's lease on its lines' homes lasts (renewed
    # every third of it); the homes of an instance that dies pass to the others after it.
    lease_time: float = Field(15.0, ge=1.0, allow_inf_nan=False)
    records: Path | None = None
    synthetic_records: int = Field(1_000_000, ge=1)
    lines: Path | None = None
    oris: Path | None = None
    bus: str | None = None
    # Scale-out over the bus (docs/scale-out.md): this instance's name, every instance's
    # names (comma-separated, the same list on all), and the instances' broker account.
    instance: str = "gw1"
    instances: str | None = None
    bus_user: str = "iaqgw"
    bus_password: str = "DEV-IAQGW"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    max_frame: int = Field(DEFAULT_MAX_TEXT, ge=256)
    signon_timeout: float = Field(10.0, gt=0)
    idle_timeout: float = Field(120.0, gt=0)
    heartbeat_interval: float = Field(60.0, gt=0)
    write_buffer_limit: int = Field(4 * 1024 * 1024, ge=65536)
    # Stored outputs read from the journal at a time for a line catching up after sign-on.
    backlog_page: int = Field(500, ge=1)
    # Prometheus /metrics on this port (same host as the line listener); None: no metrics.
    metrics_port: int | None = Field(None, ge=0, le=65535)
    # CJIS 5.5.3: at most 5 consecutive invalid sign-ons, then a 10-minute lock.
    signon_max_failures: int = Field(5, ge=1)
    signon_lockout: float = Field(600.0, gt=0)
    # How long a SIGTERM waits for sessions to take their last frames before exiting.
    shutdown_grace: float = Field(5.0, gt=0)

    @field_validator("store")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is not None and not is_url(value):
            raise ValueError("give a PostgreSQL URL: postgresql://USER@HOST:PORT/DATABASE")
        return value

    @property
    def journal_path(self) -> Path:
        """The SQLite journal of inputs, outputs and line state."""
        return self.data_dir / "journal.sqlite3"

    @property
    def journal_location(self) -> Location:
        """Where the journal is: the PostgreSQL database given, else the SQLite file."""
        return self.store if self.store is not None else self.journal_path
