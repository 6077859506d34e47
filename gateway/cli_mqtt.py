"""``iaqgw mqtt-config`` (SPEC.md §7) and the usage checks of ``serve --bus``."""

from pathlib import Path
from typing import Annotated

import typer

from gateway.bus import parse_bus_url, parse_instances
from gateway.cli_errors import job_failed, os_reason, settings_from_flags, usage_error
from gateway.config import SettingError, Settings
from gateway.datafiles import load_lines, read_csv
from gateway.mqtt_config import DEFAULT_PORT, BrokerAccount, line_accounts, write_config


def bus_problem(settings: Settings) -> str | None:
    """The one-line reason the bus settings of ``serve`` are unusable, or None."""
    if settings.bus is None and settings.instances and "," in settings.instances:
        return "--instances needs --bus: instances meet only through a broker"
    try:
        parse_instances(settings.instance, settings.instances)
    except ValueError as exc:
        return f"--instances: {exc}"
    if settings.bus is None:
        return None
    try:
        parse_bus_url(settings.bus)
    except ValueError as exc:
        return f"--bus: {exc}"
    return None


def mqtt_config(
    out: Annotated[Path, typer.Option(help="Directory to write mosquitto.conf, passwords, acl")],
    port: Annotated[int, typer.Option(help="Broker port (loopback listener)")] = DEFAULT_PORT,
    lines: Annotated[
        Path | None, typer.Option(help="Line registry CSV", show_default="the development registry")
    ] = None,
    keys: Annotated[
        Path | None, typer.Option(help="CSV line,key of plain keys when the registry holds hashes")
    ] = None,
) -> None:
    """Write a mosquitto configuration (conf, passwords, ACLs) for the line registry.

    Lines log in with their line code and key; gateway instances with the account
    IAQGW_BUS_USER / IAQGW_BUS_PASSWORD (development: iaqgw / DEV-IAQGW).
    """
    if not 0 < port < 65536:
        usage_error("--port: 1 to 65535")
    for flag, path in (("lines", lines), ("keys", keys)):
        if path is not None and not path.is_file():
            usage_error(f"--{flag}: no file {path}")
    settings = settings_from_flags()
    try:
        registry = load_lines(lines)
        plain = {row["line"].strip(): row["key"].strip() for row in read_csv(keys)} if keys else {}
    except KeyError as exc:
        usage_error(f"--keys: no column {exc} (the header is line,key)")
    except SettingError as exc:
        usage_error(str(exc))
    except (ValueError, OSError) as exc:
        job_failed(str(exc))
    if out.exists() and not out.is_dir():
        usage_error(f"--out {out} is a file: give a directory")
    try:
        accounts = line_accounts(registry, plain, development=lines is None)
        written = write_config(
            out, registry, accounts, BrokerAccount(settings.bus_user, settings.bus_password), port
        )
    except ValueError as exc:
        job_failed(str(exc))
    except OSError as exc:
        job_failed(f"--out {out}: {os_reason(exc)}")
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"run: mosquitto -c {out / 'mosquitto.conf'}")


def register_mqtt(app: typer.Typer) -> None:
    """Add ``mqtt-config`` to the ``iaqgw`` command line."""
    app.command("mqtt-config")(mqtt_config)
