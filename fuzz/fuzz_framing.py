"""atheris entry point for the frame decoder: ``python -m fuzz.fuzz_framing [libFuzzer flags]``."""

import sys

import atheris

with atheris.instrument_imports():
    from fuzz.targets import frame_decoder


def main() -> None:
    """Fuzz until libFuzzer's limits (-max_total_time, -runs) stop it."""
    atheris.Setup(sys.argv, frame_decoder)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
