"""atheris entry point for the Nlets XML readers: ``python -m fuzz.fuzz_xml [libFuzzer flags]``."""

import sys

import atheris

with atheris.instrument_imports():
    from fuzz.targets import xml_parsers


def main() -> None:
    """Fuzz until libFuzzer's limits (-max_total_time, -runs) stop it."""
    atheris.Setup(sys.argv, xml_parsers)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
