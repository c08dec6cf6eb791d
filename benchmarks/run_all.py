"""Run every benchmark script in this folder, one after another (``make bench``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("capture_bench.py", "flags_bench.py", "devserver_ingest.py"):
    path = HERE / script
    if path.exists():
        print(f"== {script}", flush=True)
        subprocess.run([sys.executable, str(path)], check=False)
