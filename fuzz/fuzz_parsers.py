"""atheris entry point for the parsers: ``python -m fuzz.fuzz_parsers [libFuzzer flags]``."""

import sys

import atheris

with atheris.instrument_imports():
    from fuzz.targets import parsers


def main() -> None:
    """Fuzz until libFuzzer's limits (-max_total_time, -runs) stop it."""
    atheris.Setup(sys.argv, parsers)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
