"""``--records`` and ``--synthetic-records``: ``iaqgw serve`` (SPEC.md §8) and the LESC's
``iaqgw data build`` take one declaration of each, lent by the command line
(responders.base.CommandLine), so their help texts cannot drift apart."""

from typing import get_type_hints

import pytest
import typer
import typer.rich_utils
from typer.testing import CliRunner

from gateway.cli import app, data_app

HELP = {
    "records": "Immigration index CSV (SPEC.md §5) instead of synthetic data",
    "synthetic_records": "Size of the generated index [default: (1000000)]",
}


def declaration(group: typer.Typer, command: str, parameter: str) -> object:
    """The typer.Option a command of ``group`` declares ``parameter`` with."""
    callbacks = {(info.name or info.callback.__name__): info.callback
                 for info in group.registered_commands if info.callback is not None}
    hint = get_type_hints(callbacks[command], include_extras=True)[parameter]
    return hint.__metadata__[0]


def help_row(args: list[str], flag: str) -> str:
    """The row of ``iaqgw ARGS --help`` that describes ``flag``, its spaces collapsed."""
    shown = CliRunner().invoke(app, [*args, "--help"])
    assert shown.exit_code == 0, shown.output
    rows = [" ".join(line.strip("│ ").split()) for line in shown.output.splitlines()]
    [row] = [row for row in rows if row.startswith(f"{flag} ")]
    return row


@pytest.mark.parametrize("parameter", ["records", "synthetic_records"])
def test_serve_and_data_build_take_one_declaration(parameter: str) -> None:
    assert declaration(app, "serve", parameter) is declaration(data_app, "build", parameter)


@pytest.mark.parametrize("parameter", ["records", "synthetic_records"])
def test_serve_and_data_build_show_the_same_help(
    parameter: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Wide enough for each row on one line. typer reads TERMINAL_WIDTH once, when its help
    # renderer is first imported, which another test of the process may have done already.
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 200)
    flag = "--" + parameter.replace("_", "-")
    serve, build = help_row(["serve"], flag), help_row(["data", "build"], flag)
    assert serve == build
    assert serve.endswith(HELP[parameter])
