"""Records to pandas, reports to reports/<run id>/: CSV, Parquet, JUnit XML, report.html."""

from .conformance import COLUMNS, load_conformance, write_conformance
from .rundir import new_run_dir

__all__ = ["COLUMNS", "load_conformance", "new_run_dir", "write_conformance"]
