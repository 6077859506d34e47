"""How every ``iaqgw`` command stops on a problem: one line on stderr, the exit code of SPEC.md §8.

0 ok, 1 the job failed, 2 bad usage (a flag, a file or a setting to fix). Commands describe
what is wrong and what to do; they never show a traceback for bad input.
"""

import errno
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import ValidationError

from gateway.config import Settings

USAGE: int = 2
FAILED: int = 1


def stop(reason: str, code: int) -> NoReturn:
    """Print ``iaqgw: reason`` on stderr and exit with ``code``."""
    typer.echo(f"iaqgw: {reason}", err=True)
    raise typer.Exit(code)


def usage_error(reason: str) -> NoReturn:
    """Stop with exit 2: the user has something to fix in what they asked for."""
    stop(reason, USAGE)


def job_failed(reason: str) -> NoReturn:
    """Stop with exit 1: the request was good, the job could not be done."""
    stop(reason, FAILED)


def os_reason(exc: OSError) -> str:
    """What an OSError says, without the errno number: ``permission denied``."""
    if exc.errno == errno.ENOENT:
        return "no such file or directory"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def unreadable(path: Path, flag: str | None = None) -> str | None:
    """Why ``path`` (given with ``--flag``, if named) cannot be read as a file, in one line;
    None when it can."""
    named = f"--{flag} {path}" if flag else str(path)
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        return f"{named}: no such file"
    except IsADirectoryError:
        return f"{named} is a directory: give a file"
    except OSError as exc:
        return f"{named}: {os_reason(exc)}: make the file readable or give another"
    return None


def settings_from_flags(**flags: Any) -> Settings:
    """Settings from flags (None: not given, so the ``IAQGW_*`` environment or the default).

    A bad value stops with exit 2, naming the flag when it was given and the environment
    variable otherwise.
    """
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else ""
        where = f"--{name.replace('_', '-')}" if name in given else f"IAQGW_{name.upper()}"
        usage_error(f"{where}: {first['msg']}")


def as_flag(reason: str, **flags: Any) -> str:
    """A service's ``IAQGW_NAME: ...`` reason naming ``--name`` instead when that flag was given
    (services read the flags the switch passes on as they read the environment)."""
    for name, value in flags.items():
        variable = f"IAQGW_{name.upper()}:"
        if value is not None and reason.startswith(variable):
            return f"--{name.replace('_', '-')}:" + reason.removeprefix(variable)
    return reason


def journal_file(data_dir: Path | None) -> Path:
    """The journal under ``--data-dir``; stops with exit 1 when the gateway has written none."""
    path = settings_from_flags(data_dir=data_dir).journal_path
    if not path.is_file():
        job_failed(f"no journal at {path} (has the gateway run with this --data-dir?)")
    return path
