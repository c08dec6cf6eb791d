"""`make demo`: start the local PostHog-compatible server, run the quickstart against it,
and print what the server stored. Everything stays on 127.0.0.1; exits 0 on success."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from posthog_devserver.server import DevServer

HERE = Path(__file__).resolve().parent
PROJECT_KEY = "phc_demo_project"
PERSONAL_KEY = "phx_demo_personal"


def get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "demo.sqlite3")
        server = DevServer(
            port=0,
            db=db,
            flags_path=str(HERE / "flags.json"),
            project_api_key=PROJECT_KEY,
            personal_api_key=PERSONAL_KEY,
        )
        with server:
            print(f"local PostHog-compatible server at {server.url} (database {db})\n")
            env = {
                **os.environ,
                "POSTHOG_HOST": server.url,
                "POSTHOG_PROJECT_API_KEY": PROJECT_KEY,
                "POSTHOG_PERSONAL_API_KEY": PERSONAL_KEY,
            }
            print("$ python examples/quickstart.py")
            run = subprocess.run(
                [sys.executable, str(HERE / "quickstart.py")], env=env, timeout=120
            )
            if run.returncode != 0:
                print("quickstart failed", file=sys.stderr)
                return run.returncode
            return report(server.url)


def report(base: str) -> int:
    events = get(base, "/api/events?limit=1000")["results"]
    print(f"\nThe server stored {len(events)} events:")
    for name, count in sorted(collections.Counter(e["event"] for e in events).items()):
        print(f"  {count:3d}  {name}")
    persons = get(base, "/api/persons?limit=100")["results"]
    print(f"\n{len(persons)} person(s):")
    for person in persons:
        ids = ", ".join(person.get("distinct_ids", []))
        print(f"  [{ids}]")
        print(f"    properties: {json.dumps(person.get('properties', {}), sort_keys=True)}")
    groups = get(base, "/api/groups?limit=100")["results"]
    print(f"\n{len(groups)} group(s):")
    for group in groups:
        print(
            f"  {group.get('group_type')} {group.get('group_key')}: "
            f"{json.dumps(group.get('properties', {}), sort_keys=True)}"
        )
    merged = [
        p for p in persons if {"distinct id", "session:12345"} <= set(p.get("distinct_ids", []))
    ]
    ok = bool(events) and bool(merged) and bool(groups)
    print("\ndemo OK" if ok else "\ndemo FAILED: expected a merged person and a group")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
