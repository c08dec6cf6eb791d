"""Local feature-flag evaluation: parse definitions once, evaluate purely.

This package never does I/O and never imports the event or delivery layers.
"""

from posthog._flags.evaluator import evaluate, evaluate_all, payload_for
from posthog._flags.hashing import bucket_hash
from posthog._flags.model import EMPTY_FLAGSET, FlagDefinition, FlagSet, parse_definitions
from posthog._flags.results import Evaluation, Reason, Subject

__all__ = [
    "EMPTY_FLAGSET",
    "Evaluation",
    "FlagDefinition",
    "FlagSet",
    "Reason",
    "Subject",
    "bucket_hash",
    "evaluate",
    "evaluate_all",
    "parse_definitions",
    "payload_for",
]
