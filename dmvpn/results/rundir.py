"""reports/<run id>/ and the reports/latest pointer."""

from __future__ import annotations

import os
import time
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[2] / "reports"


def new_run_dir(reports: Path | None = None, label: str = "") -> Path:
    """A fresh reports/<run id>/ directory, with reports/latest pointing at it."""
    reports = reports or REPORTS
    run_id = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}" + (f"-{label}" if label else "")
    run_dir = reports / run_id
    run_dir.mkdir(parents=True, exist_ok=False)
    latest = reports / "latest"
    tmp = reports / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(run_id)
    os.replace(tmp, latest)  # atomic: a reader never sees a missing pointer
    return run_dir
