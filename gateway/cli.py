"""The ``iaqgw`` command line (SPEC.md §8). Exit codes: 0 ok, 1 job failed, 2 bad usage."""

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import uvloop
from pydantic import ValidationError

from gateway.cli_audit import register_audit
from gateway.cli_mqtt import bus_problem, register_mqtt
from gateway.cli_services import register_services
from gateway.cli_tools import register_tools
from gateway.config import SettingError, Settings
from gateway.logs import configure_logging
from routing.lines import hash_key

app = typer.Typer(
    help="iaq-gateway: an Nlets-style message switch with an emulated ICE LESC.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build the data the gateway serves.", no_args_is_help=True)
keys_app = typer.Typer(help="Line keys for the line registry.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(keys_app, name="keys")


def usage_error(reason: str) -> NoReturn:
    """Print a one-line reason and exit 2."""
    typer.echo(f"iaqgw: {reason}", err=True)
    raise typer.Exit(2)


def make_settings(**values: Any) -> Settings:
    """Settings from flags (None means: not given, use the environment or the default)."""
    try:
        return Settings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        usage_error(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}")


DataDir = Annotated[
    Path | None, typer.Option(help="Journal and index directory", show_default="data")
]
Records = Annotated[
    Path | None, typer.Option(help="Immigration index CSV (SPEC.md §5) instead of synthetic data")
]
SyntheticRecords = Annotated[
    int | None, typer.Option(help="Size of the generated index", show_default="1000000")
]


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on", show_default="127.0.0.1")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port", show_default="7300")] = None,
    data_dir: DataDir = None,
    records: Records = None,
    synthetic_records: SyntheticRecords = None,
    lines: Annotated[Path | None, typer.Option(help="Line registry CSV")] = None,
    oris: Annotated[Path | None, typer.Option(help="ORI registry CSV")] = None,
    bus: Annotated[str | None, typer.Option(help="Message bus URL (mqtt://HOST:PORT)")] = None,
    instance: Annotated[
        str | None, typer.Option(help="This instance's name on the bus", show_default="gw1")
    ] = None,
    instances: Annotated[
        str | None, typer.Option(help="All instances on the bus, comma-separated (scale-out)")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server private key (PEM)")] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="CA for client certificates")] = None,
    log_format: Annotated[
        str | None, typer.Option(help="json or console", show_default="json")
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="Log level", show_default="INFO")] = None,
    idle_timeout: Annotated[
        float | None, typer.Option(help="Close a silent session after seconds", show_default="120")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus /metrics on this port (0: any free one)")
    ] = None,
) -> None:
    """Run the gateway."""
    settings = make_settings(
        host=host, port=port, data_dir=data_dir, records=records,
        synthetic_records=synthetic_records, lines=lines, oris=oris, bus=bus,
        instance=instance, instances=instances,
        tls_cert=tls_cert, tls_key=tls_key, tls_ca=tls_ca, log_format=log_format,
        log_level=log_level, idle_timeout=idle_timeout, metrics_port=metrics_port,
    )
    problem = bus_problem(settings)
    if problem is not None:
        usage_error(problem)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        usage_error("--tls-cert and --tls-key go together")
    for flag, path in (("records", settings.records), ("lines", settings.lines),
                       ("oris", settings.oris)):
        if path is not None and not path.is_file():
            usage_error(f"--{flag}: no file {path}")
    configure_logging(settings.log_format, settings.log_level)
    from gateway.app import Gateway

    try:
        gateway = Gateway(settings)
    except SettingError as exc:
        usage_error(str(exc))
    except (ValueError, OSError) as exc:
        typer.echo(f"iaqgw: {exc}", err=True)
        raise typer.Exit(1) from exc
    uvloop.run(_serve(gateway))


async def _serve(gateway: Any) -> None:
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


register_tools(app)
register_services(app, data_app, make_settings)
register_mqtt(app)
register_audit(app)


def main() -> None:
    """Entry point of the ``iaqgw`` console script."""
    app()
