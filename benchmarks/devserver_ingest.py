"""Dev server ingestion throughput: events stored per second.

By default the SDK itself sends: this process builds ``posthog.Posthog(key, host=...)``
with every option at its default (``flush_at=100``, ``flush_interval=5``, one sender
thread, ``max_queue_size=10,000``, no gzip), captures 200,000 realistic events (ten
properties, 500 distinct ids, 20 groups of one type), flushes, and stops the clock when
the server's query API (``/api/stats``, which waits for the writer) reports every event
stored. The clock starts at the first capture. Like an app that must not drop events,
the capture loop waits for room when the SDK's queue is nearly full (a loop capturing
200,000 events flat out would outrun any server and see queue_full drops), so the figure
is the rate the whole pipeline sustains. The dev server runs in its own process on
loopback with a SQLite file; its CPU time is printed too (Linux), since a shared 2-core
machine moves the rate a lot from run to run.

``--raw`` instead posts hand-built ``/batch/`` bodies from raw ``http.client`` threads:
the server's ceiling without the SDK's cost in front of it.

Figures are printed, never asserted.

    python benchmarks/devserver_ingest.py [--events 200000]
    python benchmarks/devserver_ingest.py --raw [--batch 100] [--clients 4] [--gzip]
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

TARGET = 20_000
PROJECT_KEY = "phc_bench"
PLANS = ("free", "pro", "enterprise")
COUNTRIES = ("DE", "US", "FR", "BR", "JP")
PACE_EVERY = 100


def start_server(db: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "posthog_devserver", "--port", "0", "--db", db]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("host="):
            return proc, line.split("=", 1)[1].strip()
    raise RuntimeError("dev server did not start")


def stored_events(url: str) -> int:
    """Events in the database; ``/api/stats`` first waits for every queued write."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("GET", "/api/stats")
        return int(json.loads(conn.getresponse().read())["events"])
    finally:
        conn.close()


# -- the SDK sends ------------------------------------------------------------------------


def sdk_events(total: int) -> list[tuple[str, str, dict[str, Any], dict[str, str]]]:
    """(event, distinct id, properties, groups) of a web shop's traffic, built up front."""
    events = []
    for i in range(total):
        name = ("$pageview", "product viewed", "order completed")[i % 3]
        props: dict[str, Any] = {
            "$current_url": f"https://shop.example.com/products/{i % 1000}",
            "product_id": f"sku-{i % 1000:05d}",
            "category": ("books", "games", "music", "garden")[i % 4],
            "price": round(5 + (i % 200) * 0.25, 2),
            "quantity": 1 + i % 3,
            "plan": PLANS[i % 3],
            "country": COUNTRIES[i % 5],
            "is_returning": i % 2 == 0,
            "session_length": 30 + i % 600,
            "referrer": "https://news.example.org/?utm_source=newsletter",
        }
        events.append((name, f"user-{i % 500}", props, {"company": f"company-{i % 20}"}))
    return events


def run_sdk(url: str, total: int) -> dict[str, Any]:
    from posthog import Posthog

    errors: list[str] = []
    client = Posthog(
        PROJECT_KEY,
        host=url,
        on_error=lambda exc, batch: errors.append(f"{exc!r} ({len(batch)} events)"),
    )
    events = sdk_events(total)
    limit = client.config.max_queue_size - 2 * PACE_EVERY
    captured = 0
    started = time.perf_counter()
    for i, (name, distinct_id, props, groups) in enumerate(events):
        if i % PACE_EVERY == 0:
            # An app that outruns delivery would see queue_full drops; this one waits for
            # room instead, so the figure is the rate the whole pipeline sustains.
            while client.stats().pending >= limit:
                time.sleep(0.001)
        if client.capture(name, distinct_id=distinct_id, properties=props, groups=groups):
            captured += 1
    captured_at = time.perf_counter()
    flushed = client.flush(600)
    stored = stored_events(url)
    elapsed = time.perf_counter() - started
    stats = client.stats()
    client.shutdown()
    return {
        "elapsed": elapsed,
        "capture_s": captured_at - started,
        "captured": captured,
        "flushed": flushed,
        "stored": stored,
        "sent": stats.sent,
        "retried": stats.retried,
        "failed_batches": stats.failed_batches,
        "dropped": stats.dropped,
        "errors": errors,
    }


def server_cpu(pid: int) -> float | None:
    """User plus system CPU seconds of a process so far (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def cpu_note(cpu: float | None, events: int) -> str:
    if cpu is None:
        return ""
    return f"; server CPU {cpu:.2f} s ({cpu / max(events, 1) * 1e6:.0f} µs/event)"


def report_sdk(total: int, r: dict[str, Any], cpu: float | None) -> int:
    rate = r["stored"] / r["elapsed"]
    dropped = sum(r["dropped"].values())
    lost = total - r["stored"]
    detail = f" {r['dropped']}" if dropped else ""
    met = rate >= TARGET and lost == 0 and not r["errors"] and not dropped
    print(
        f"devserver ingest (SDK, default batching): {r['captured']} of {total} events"
        f" captured in {r['capture_s']:.2f} s, stored in {r['elapsed']:.2f} s:"
        f" {rate:,.0f} events/s stored; {r['stored']} in the database"
        f" ({'verified' if lost == 0 else f'{lost} missing'});"
        f" sent {r['sent']}, retried {r['retried']}, failed batches {r['failed_batches']},"
        f" {len(r['errors'])} errors, {dropped} dropped{detail}"
        f"{cpu_note(cpu, r['stored'])}; target {TARGET:,} events/s:"
        f" {'met' if met else 'NOT met'}"
    )
    if not r["flushed"]:
        print("  flush did not finish within its timeout")
    for error in r["errors"][:5]:
        print("  error:", error)
    return 0 if lost == 0 and not r["errors"] and not dropped else 1


# -- raw bodies ---------------------------------------------------------------------------


def make_bodies(total: int, size: int, compress: bool) -> list[bytes]:
    bodies = []
    for start in range(0, total, size):
        batch = []
        for i in range(start, min(start + size, total)):
            batch.append(
                {
                    "event": "order completed" if i % 3 else "$pageview",
                    "distinct_id": f"user-{i % 5000}",
                    "uuid": str(uuid.uuid4()),
                    "timestamp": "2026-01-02T03:04:05.123456+00:00",
                    "properties": {
                        "amount": i * 0.5,
                        "$current_url": f"https://example.com/p/{i}",
                        "$groups": {"company": f"c{i % 50}"},
                        "$python_runtime": "CPython",
                        "$python_version": "3.11.7",
                        "$os": "Linux",
                        "$lib": "posthog-python",
                        "$lib_version": "1.0.0",
                        "$geoip_disable": True,
                        "$is_server": True,
                    },
                }
            )
        body = {"batch": batch, "historical_migration": False, "sent_at": "x", "api_key": "phc_b"}
        raw = json.dumps(body).encode()
        bodies.append(gzip.compress(raw) if compress else raw)
    return bodies


def post_all(url: str, bodies: list[bytes], clients: int, compress: bool) -> list[str]:
    host, port = url.removeprefix("http://").split(":")
    errors: list[str] = []
    headers = {"Content-Type": "application/json"}
    if compress:
        headers["Content-Encoding"] = "gzip"

    def worker(chunk: list[bytes]) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        for body in chunk:
            conn.request("POST", "/batch/", body, headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                errors.append(f"{resp.status} {data[:200]!r}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(bodies[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def run_raw(url: str, args: argparse.Namespace, cpu: Callable[[], float | None]) -> int:
    bodies = make_bodies(args.events, args.batch, args.gzip)
    started = time.perf_counter()
    errors = post_all(url, bodies, args.clients, args.gzip)
    stored = stored_events(url)
    elapsed = time.perf_counter() - started
    used = cpu()
    rate = stored / elapsed
    print(
        f"devserver ingest (raw): {args.events} events in {len(bodies)} /batch/ bodies of"
        f" {args.batch} ({'gzip' if args.gzip else 'plain JSON'}, {args.clients} clients):"
        f" {elapsed:.2f} s, {rate:,.0f} events/s stored; {stored} in the database;"
        f" {len(errors)} errors{cpu_note(used, stored)}; target {TARGET:,} events/s:"
        f" {'met' if rate >= TARGET and stored == args.events and not errors else 'NOT met'}"
    )
    for error in errors[:5]:
        print("  error:", error)
    return 0 if stored == args.events and not errors else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--raw", action="store_true", help="post hand-built bodies, no SDK")
    parser.add_argument("--batch", type=int, default=100, help="--raw: events per body")
    parser.add_argument("--clients", type=int, default=4, help="--raw: connections")
    parser.add_argument("--gzip", action="store_true", help="--raw: gzip the bodies")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(os.path.join(tmp, "bench.db"))
        before = server_cpu(proc.pid)

        def cpu() -> float | None:
            now = server_cpu(proc.pid)
            return None if now is None or before is None else now - before

        try:
            if args.raw:
                return run_raw(url, args, cpu)
            result = run_sdk(url, args.events)
            return report_sdk(args.events, result, cpu())
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
