"""Run a folder of a user's test files under pytest, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_pytest(folder: Path) -> str:
    """pytest's output for ``folder`` (warnings as errors, as in this project)."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return run.stdout + run.stderr
