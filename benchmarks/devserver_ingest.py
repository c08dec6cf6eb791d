"""Dev server ingestion throughput: events stored per second.

Posts 200,000 SDK-shaped events in /batch/ bodies of 100 (the SDK's default batch
size) over loopback keep-alive connections to a dev server running in its own process
with a SQLite file database, then verifies the stored count through the query API.

    python benchmarks/devserver_ingest.py [--events 200000] [--batch 100] [--clients 4] [--gzip]
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
from typing import Any

TARGET = 20_000


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


def start_server(db: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "posthog_devserver", "--port", "0", "--db", db]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("host="):
            return proc, line.split("=", 1)[1].strip()
    raise RuntimeError("dev server did not start")


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


def get_json(url: str, path: str) -> Any:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    bodies = make_bodies(args.events, args.batch, args.gzip)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(os.path.join(tmp, "bench.db"))
        try:
            started = time.perf_counter()
            errors = post_all(url, bodies, args.clients, args.gzip)
            stored = get_json(url, "/api/stats")["events"]  # waits for the writer to drain
            elapsed = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    rate = args.events / elapsed
    print(
        f"devserver ingest: {args.events} events in {len(bodies)} /batch/ bodies of {args.batch}"
        f" ({'gzip' if args.gzip else 'plain JSON'}, {args.clients} clients):"
        f" {elapsed:.2f} s, {rate:,.0f} events/s stored; {stored} in the database;"
        f" {len(errors)} errors; target {TARGET:,} events/s:"
        f" {'met' if rate >= TARGET and stored == args.events and not errors else 'NOT met'}"
    )
    for error in errors[:5]:
        print("  error:", error)
    return 0 if stored == args.events and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
