"""Capture benchmark: this SDK and the reference SDK (PyPI posthog 7.91.1), same run.

Figures (printed, never asserted):
  * caller cost of one capture() with a realistic 10-property event (median µs)
  * end-to-end events/s until a loopback server has received 100,000 events
  * memory per queued event (RSS growth with 100,000 events queued, no consumer)
  * import time of the package, and import + first client + first capture (median over
    fresh interpreters, both from a bytecode cache)

The reference runs from a throwaway virtualenv, never the project's own:
  python3 -m venv benchmarks/.refvenv && benchmarks/.refvenv/bin/pip install posthog==7.91.1
Usage: .venv/bin/python benchmarks/capture_bench.py [--events 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REF_PY = ROOT / "benchmarks" / ".refvenv" / "bin" / "python"
OURS_PY = Path(sys.executable)

PROPS = {
    "movie_id": "123",
    "category": "romcom",
    "duration_seconds": 5400,
    "rating": 4.5,
    "is_premium": True,
    "device": "web",
    "country": "DE",
    "referrer": "https://example.com/landing?utm_source=newsletter",
    "session_length": 120,
    "plan": "pro",
}


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(mode: str, url: str, n: int) -> dict[str, Any]:
    """Runs inside the measured interpreter (ours or the reference)."""
    import warnings

    warnings.simplefilter("ignore")
    from posthog import Posthog

    if mode == "caller":
        client = Posthog("phc_bench", host=url, max_queue_size=n + 10)
        samples = []
        clock = time.perf_counter_ns
        for _ in range(2_000):
            client.capture("warmup", distinct_id="user-1", properties=PROPS)
        for i in range(20_000):
            t0 = clock()
            client.capture("movie played", distinct_id=f"user-{i % 100}", properties=PROPS)
            samples.append(clock() - t0)
        client.flush()
        client.shutdown()
        return {"median_us": statistics.median(samples) / 1000}
    if mode == "e2e":
        client = Posthog("phc_bench", host=url, max_queue_size=n + 10)
        start = time.perf_counter()
        for i in range(n):
            client.capture("movie played", distinct_id=f"user-{i % 100}", properties=PROPS)
        end_capture = time.perf_counter()
        client.flush(600)
        return {"start": start, "end_capture": end_capture}
    if mode == "memory":
        client = Posthog("phc_bench", host=url, max_queue_size=n + 10, thread=0)
        before = _rss_kb()
        for i in range(n):
            client.capture("movie played", distinct_id=f"user-{i % 100}", properties=PROPS)
        after = _rss_kb()
        return {"bytes_per_event": (after - before) * 1024 / n}
    raise SystemExit(f"unknown mode {mode}")


def run_child(python: Path, mode: str, url: str, n: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [str(python), __file__, "--child", mode, "--url", url, "--events", str(n)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


FIRST_CAPTURE = (
    "from posthog import Posthog\n"
    "c = Posthog('phc', host='http://127.0.0.1:9', send=False)\n"
    "c.capture('first', distinct_id='d', properties={'a': 1})"
)


def import_ms(python: Path, env: dict[str, str], runs: int = 9) -> tuple[float, float]:
    """(``import posthog``, import + first client + first capture), ms over ``pass``."""
    # Both sides import from a bytecode cache, as after ``pip install`` (which compiles):
    # with PYTHONDONTWRITEBYTECODE set, our source tree would be recompiled on every run
    # while the reference's installed .pyc files are used.
    env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([str(python), "-c", "import posthog"], env=env, check=True)  # warm up

    def wall(code: str) -> float:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([str(python), "-c", code], env=env, check=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    base = wall("pass")
    return (wall("import posthog") - base) * 1000, (wall(FIRST_CAPTURE) - base) * 1000


def measure(python: Path, env: dict[str, str], n: int, sink: Any) -> dict[str, float]:
    caller = run_child(python, "caller", sink.url, n, env)["median_us"]
    sink.reset()
    t0 = time.perf_counter()
    run_child(python, "e2e", sink.url, n, env)
    received = sink.wait_for(n, timeout=30)
    elapsed = time.perf_counter() - t0
    e2e = (sink.count / elapsed) if received else float("nan")
    mem = run_child(python, "memory", sink.url, n, env)["bytes_per_event"]
    imported, first = import_ms(python, env)
    return {
        "caller_us": caller,
        "events_per_s": e2e,
        "bytes_per_event": mem,
        "import_ms": imported,
        "first_ms": first,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--url", default="")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.events)))
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _sink import Sink

    sink = Sink()
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ours_env = {**base_env, "PYTHONPATH": str(ROOT / "src")}
    results = {"hogwire": measure(OURS_PY, ours_env, args.events, sink)}
    if REF_PY.exists():
        results["reference 7.91.1"] = measure(REF_PY, base_env, args.events, sink)
    else:
        print(f"(reference venv missing at {REF_PY}; see the docstring)")
    sink.close()
    header = (
        f"{'':18}{'caller µs':>12}{'events/s':>12}{'B/queued':>12}{'import ms':>12}"
        f"{'1st capture':>13}"
    )
    print(header)
    for name, r in results.items():
        print(
            f"{name:18}{r['caller_us']:12.2f}{r['events_per_s']:12.0f}"
            f"{r['bytes_per_event']:12.0f}{r['import_ms']:12.1f}{r['first_ms']:13.1f}"
        )
    if len(results) == 2:
        ours, ref = results["hogwire"], results["reference 7.91.1"]
        print("ratios (reference / ours; higher is better for us, events/s inverted):")
        print(f"  caller cost      {ref['caller_us'] / ours['caller_us']:.1f}x cheaper")
        print(f"  throughput       {ours['events_per_s'] / ref['events_per_s']:.1f}x higher")
        print(f"  memory per event {ref['bytes_per_event'] / ours['bytes_per_event']:.1f}x smaller")
        print(f"  import time      {ref['import_ms'] / ours['import_ms']:.1f}x faster")
        print(f"  import + 1st capture {ref['first_ms'] / ours['first_ms']:.1f}x faster")


if __name__ == "__main__":
    main()
