"""The ``posthog`` command line.

Subcommands are registered in :func:`build_parser`; each one imports what it needs
only when it runs, so ``posthog`` stays cheap to start and the SDK never imports the
dev server at import time.

    posthog dev [--port 8010] [--db FILE] [--flags FILE] ...   local PostHog-compatible server
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posthog", description="PostHog SDK command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "dev",
        help="run a local PostHog-compatible server (see 'posthog dev --help')",
        add_help=False,  # its own options and --help belong to the dev server's parser
    )
    return parser


def _run_dev(argv: Sequence[str]) -> int:
    from posthog_devserver.cli import main as dev_main

    return dev_main(list(argv), prog="posthog dev")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    namespace, rest = parser.parse_known_args(args)
    if namespace.command == "dev":
        return _run_dev(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if namespace.command is None:
        parser.print_help()
        return 2
    parser.error(f"unknown command {namespace.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
