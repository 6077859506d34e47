"""The services' sub-commands of ``iaqgw``: each service's ``cli`` hook, and what it is lent."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

import typer
from typer.models import OptionInfo

from gateway.cli_errors import job_failed, journal_file, settings_from_flags, stop
from gateway.store import STORE_ERRORS, FileStore, first_line
from responders.base import ServiceStore
from responders.registry import PluginError, installed, service_table

# Options of `serve` (SPEC.md §8) a service's command takes too (the LESC's `data build`):
# declared once, here, so that the commands' help texts cannot drift apart. The file is
# checked by the commands themselves (readable=False), to say in one line what is wrong.
RECORDS_OPTION: Final[OptionInfo] = typer.Option(
    help="Immigration index CSV (SPEC.md §5) instead of synthetic data", readable=False
)
SYNTHETIC_RECORDS_OPTION: Final[OptionInfo] = typer.Option(
    help="Size of the generated index", show_default="1000000"
)


class ServiceCommands:
    """What the command line lends a service's ``cli`` hook (responders.base.CommandLine)."""

    def __init__(self, app: typer.Typer, data: typer.Typer) -> None:
        self._app = app
        self._data = data

    @property
    def app(self) -> typer.Typer:
        """The ``iaqgw`` command."""
        return self._app

    @property
    def data(self) -> typer.Typer:
        """The ``iaqgw data`` group."""
        return self._data

    @property
    def records_option(self) -> OptionInfo:
        """``serve``'s ``--records``."""
        return RECORDS_OPTION

    @property
    def synthetic_records_option(self) -> OptionInfo:
        """``serve``'s ``--synthetic-records``."""
        return SYNTHETIC_RECORDS_OPTION

    def settings(self, **flags: Any) -> Mapping[str, Any]:
        """The gateway's settings from flags, as a service reads them; exit 2 on a bad one."""
        return settings_from_flags(**flags).model_dump(exclude={"bus_user", "bus_password"})

    @contextmanager
    def store(
        self, data_dir: Path | None, *, read_only: bool = False, url: str | None = None
    ) -> Iterator[ServiceStore]:
        """The store of the PostgreSQL database at ``url`` (or ``IAQGW_STORE``), else of the
        journal under ``data_dir``; exit 1 without a journal there, or when the database
        cannot be used."""
        shared = settings_from_flags(data_dir=data_dir, store=url).store
        location = shared if shared is not None else journal_file(data_dir)
        store = FileStore(location, read_only=read_only)
        try:
            yield store
        except STORE_ERRORS as exc:
            # Not the URL: it may hold a password.
            where = "--store" if shared is not None else location
            job_failed(f"{where}: {first_line(exc)}")
        finally:
            store.close()

    def fail(self, reason: str, code: int = 1) -> NoReturn:
        """Print ``iaqgw: reason`` on stderr and exit with ``code``."""
        stop(reason, code)


def register_services(app: typer.Typer, data: typer.Typer) -> None:
    """Let every installed service add its sub-commands.

    Services that contradict each other add none, and the command line says so on stderr (the
    gateway refuses to start with them).
    """
    try:
        table = service_table(installed())
    except PluginError as exc:
        typer.echo(f"iaqgw: {exc}", err=True)
        return
    commands = ServiceCommands(app, data)
    for service in table.services.values():
        if service.cli is not None:
            service.cli(commands)
