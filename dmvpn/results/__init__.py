"""Records to pandas, reports to reports/<run id>/: CSV, Parquet, JUnit XML, report.html.

Writers write data only: `write_conformance` (conformance.csv/.parquet, junit.xml),
`performance.write_performance` (performance.csv/.parquet, performance-notes.json). The page is
`report.render_report(run_dir)`, which reads them through its ordered sections (one module each
under dmvpn/results/report/: add a file and its name to `SECTIONS`). `performance.compare_runs`
compares two runs by what each benchmark declares (dmvpn.bench). Nothing here runs anything.
"""

from .conformance import COLUMNS, load_conformance, write_conformance
from .rundir import new_run_dir

__all__ = ["COLUMNS", "load_conformance", "new_run_dir", "write_conformance"]
