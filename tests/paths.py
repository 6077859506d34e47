"""Where the tests' data files are."""

from pathlib import Path

DATA = Path(__file__).parent / "data"
RECORDS = DATA / "records.csv"
