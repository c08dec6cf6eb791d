"""Command line of the dev server: ``python -m posthog_devserver`` and ``posthog dev``."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .migrations import SchemaError

DEFAULT_PORT = 8010
DEFAULT_DB = "posthog-dev.db"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local PostHog-compatible server: ingestion, persons, groups, feature"
        " flags and a live web page. Everything stays on this machine.",
    )
    env = os.environ.get
    parser.add_argument(
        "--host",
        default=env("POSTHOG_DEV_HOST", "127.0.0.1"),
        help="address to bind (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env("POSTHOG_DEV_PORT", DEFAULT_PORT)),
        help=f"port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--db",
        default=env("POSTHOG_DEV_DB", DEFAULT_DB),
        help=f"SQLite file, or :memory: (default: ./{DEFAULT_DB})",
    )
    parser.add_argument(
        "--flags",
        dest="flags_path",
        default=env("POSTHOG_DEV_FLAGS"),
        help="flag definitions JSON file (reloaded when it changes)",
    )
    parser.add_argument(
        "--project-api-key",
        "--api-key",
        dest="project_api_key",
        default=env("POSTHOG_DEV_PROJECT_API_KEY"),
        help="accept only this project key (default: any key)",
    )
    parser.add_argument(
        "--personal-api-key",
        dest="personal_api_key",
        default=env("POSTHOG_DEV_PERSONAL_API_KEY"),
        help="accept only this personal key for definitions (default: any)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    # This process is only the server: hand the GIL over sooner, so the writer thread
    # resumes promptly after SQLite work while request threads parse JSON.
    sys.setswitchinterval(0.0005)
    # Parsing allocates a few dicts per event; with the default threshold (700) the
    # collector runs every couple of requests and keeps walking the events queued for
    # the writer. Nothing the server builds is cyclic, so collect far less often.
    gc.set_threshold(20_000, 10, 10)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    from .server import DevServer

    server = DevServer(
        host=args.host,
        port=args.port,
        db=args.db,
        flags_path=args.flags_path,
        project_api_key=args.project_api_key,
        personal_api_key=args.personal_api_key,
    )
    try:
        server.start()
    except (SchemaError, OSError) as exc:
        print(f"posthog dev server: cannot start: {exc}", file=sys.stderr)
        return 1
    _print_banner(server.url, args.db, args.flags_path, args.project_api_key)

    def _stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _print_banner(url: str, db: str, flags: str | None, key: str | None) -> None:
    lines = [
        "PostHog dev server is running",
        f"  web page:  {url}/",
        f'  SDK:       Posthog("{key or "phc_anything"}", host="{url}")',
        f"  host=      {url}",
        f"  database:  {db if db == ':memory:' else os.path.abspath(db)}",
        f"  flags:     {os.path.abspath(flags) if flags else '(none; pass --flags FILE)'}",
        "Press Ctrl+C to stop.",
    ]
    print("\n".join(lines), flush=True)
