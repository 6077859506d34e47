"""The ``iaqgw`` command line (SPEC.md §8). Exit codes: 0 ok, 1 job failed, 2 bad usage."""

import asyncio
import contextlib
import gc
import os
import signal
import sqlite3
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import uvloop

from gateway.cli_audit import register_audit
from gateway.cli_convert import register_convert
from gateway.cli_errors import FAILED, as_flag, job_failed, settings_from_flags, usage_error
from gateway.cli_mqtt import bus_problem, register_mqtt
from gateway.cli_services import RECORDS_OPTION, SYNTHETIC_RECORDS_OPTION, register_services
from gateway.config import SettingError
from gateway.logs import configure_logging, get_logger
from gateway.sqlite_setup import configure_sqlite
from gateway.store import PostgresError
from routing.lines import hash_key

# Entry points that add commands from outside the switch (pyproject.toml: the simulator's).
COMMANDS_GROUP = "iaqgw.commands"

app = typer.Typer(
    help="iaq-gateway: an Nlets-style message switch with an emulated ICE LESC. Exit codes: "
    "0 ok, 1 the job failed, 2 bad usage (one line saying what to fix).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build the data the gateway serves.", no_args_is_help=True)
keys_app = typer.Typer(help="Line keys for the line registry.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")


DataDir = Annotated[
    Path | None, typer.Option(help="Journal and index directory", show_default="data")
]


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on", show_default="127.0.0.1")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port", show_default="7300")] = None,
    data_dir: DataDir = None,
    records: Annotated[Path | None, RECORDS_OPTION] = None,
    synthetic_records: Annotated[int | None, SYNTHETIC_RECORDS_OPTION] = None,
    lines: Annotated[Path | None, typer.Option(help="Line registry CSV", readable=False)] = None,
    oris: Annotated[Path | None, typer.Option(help="ORI registry CSV", readable=False)] = None,
    bus: Annotated[str | None, typer.Option(help="Message bus URL (mqtt://HOST:PORT)")] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Shared PostgreSQL database (postgresql://...) instead of the "
                     "SQLite journal in --data-dir"),
    ] = None,
    lease_time: Annotated[
        # Read as text, so that a bad value gets the settings' one-line message.
        str | None,
        typer.Option(metavar="SECONDS",
                     help="With --bus and --store: how long an instance's lease on its lines' "
                          "homes lasts, at least 1 (IAQGW_LEASE_TIME)", show_default="15"),
    ] = None,
    instance: Annotated[
        str | None, typer.Option(help="This instance's name on the bus", show_default="gw1")
    ] = None,
    instances: Annotated[
        str | None, typer.Option(help="All instances on the bus, comma-separated (scale-out)")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Server certificate (PEM)", readable=False)
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="Server private key (PEM)", readable=False)
    ] = None,
    tls_ca: Annotated[
        Path | None, typer.Option(help="CA for client certificates", readable=False)
    ] = None,
    log_format: Annotated[
        str | None,
        typer.Option(help="json (JSON lines) or console (text, coloured on a terminal)",
                     show_default="json"),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(help="Lowest level logged: debug, info, warning, error, critical",
                     show_default="INFO"),
    ] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="Close a silent session after seconds", show_default="120")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (0: any free one)")
    ] = None,
    lesc_ori: Annotated[
        str | None,
        typer.Option(help="The LESC ORI the LESC sends as: VTINS07S0 or VTICE0900",
                     show_default="VTINS07S0"),
    ] = None,
    lesc_timing: Annotated[
        str | None,
        typer.Option(help="When the LESC's IAR goes out: immediate (with the acknowledgement) "
                          "or realistic (after the indices' research time, docs/lesc.md)",
                     show_default="immediate"),
    ] = None,
) -> None:
    """Run the gateway.

    A port in use, a file that cannot be read or a data directory that cannot be written
    stops it before it serves, with one line saying what to fix (exit 2).
    """
    settings = settings_from_flags(
        host=host, port=port, data_dir=data_dir, records=records,
        synthetic_records=synthetic_records, lines=lines, oris=oris, bus=bus,
        store=store, lease_time=lease_time, instance=instance, instances=instances,
        tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca, log_format=log_format,
        log_level=log_level, idle_timeout=idle_timeout, metrics_port=metrics_port,
        lesc_ori=lesc_ori, lesc_timing=lesc_timing,
    )
    from gateway.app import Gateway
    from gateway.cli_startup import (
        data_dir_problem,
        file_problem,
        listen_problem,
        store_problem,
        tls_problem,
    )

    problem = bus_problem(settings) or file_problem(settings) or tls_problem(settings)
    if problem is not None:
        usage_error(problem)
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as exc:
        usage_error(f"--log-level {exc}")
    try:
        # Bound once, now that logging is configured: the lazy proxy get_logger() returns
        # binds again on every call, about 1 us of each of the three lines an IAQ logs.
        gateway = Gateway(settings, log=get_logger().bind(), on_store_lost=_exit_store_lost)
    except SettingError as exc:
        usage_error(as_flag(str(exc), lesc_ori=lesc_ori, lesc_timing=lesc_timing))
    except ValueError as exc:
        job_failed(str(exc))
    except (OSError, sqlite3.Error) as exc:
        usage_error(data_dir_problem(exc, settings))
    except PostgresError as exc:
        usage_error(store_problem(exc))
    try:
        uvloop.run(_serve(gateway))
    except OSError as exc:
        usage_error(listen_problem(exc, settings))


def _exit_store_lost() -> NoReturn:
    """Exit at once (the gateway logged ``store.lost``): everything accepted is committed, and
    nothing may be accepted or acknowledged without the journal (docs/reliability.md)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(FAILED)


# Young objects between collections of the youngest generation (CPython's default: 700). An
# IAQ leaves few objects alive, but a batch's live a whole iteration, so at 700 they were
# collected, promoted and scanned again in full collections (docs/benchmarks.md, round 4).
YOUNG_COLLECTION_THRESHOLD = 20_000


def steady_state_gc() -> None:
    """Keep the objects built at start-up (registries, caches, the index's arrays) out of
    every later collection, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


async def _serve(gateway: Any) -> None:
    steady_state_gc()
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await gateway.serve_forever()


@keys_app.command("hash")
def keys_hash(
    key: Annotated[
        str | None, typer.Argument(help="The key; read from stdin when left out")
    ] = None,
) -> None:
    """Print the hash of a line key for the `key` column of the line registry."""
    if key is None:
        key = sys.stdin.readline().strip()
    if not key:
        usage_error("no key given")
    typer.echo(hash_key(key, os.urandom(16)))


def register_commands(root: typer.Typer) -> None:
    """Let every installed ``iaqgw.commands`` entry point add its commands (the simulator's)."""
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        entry.load()(root)


register_services(app, data_app)
register_mqtt(app)
register_audit(app)
register_convert(app)
register_commands(app)


def main() -> None:
    """Entry point of the ``iaqgw`` console script."""
    # First, while no SQLite connection is open (gateway/sqlite_setup.py).
    configure_sqlite()
    app()
