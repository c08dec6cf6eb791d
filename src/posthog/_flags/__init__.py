"""Local feature-flag evaluation: parse definitions once, evaluate purely.

This package never does I/O and never imports the event or delivery layers. Its names
load on first use (PEP 562), so importing a light submodule such as
``posthog._flags.events`` does not pull in the whole engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posthog._lazy import lazy_exports

if TYPE_CHECKING:
    from posthog._flags.evaluator import evaluate, evaluate_all, payload_for
    from posthog._flags.hashing import bucket_hash
    from posthog._flags.model import EMPTY_FLAGSET, FlagDefinition, FlagSet, parse_definitions
    from posthog._flags.results import Evaluation, Reason, Subject

_WHERE = {
    "evaluate": "evaluator",
    "evaluate_all": "evaluator",
    "payload_for": "evaluator",
    "bucket_hash": "hashing",
    "EMPTY_FLAGSET": "model",
    "FlagDefinition": "model",
    "FlagSet": "model",
    "parse_definitions": "model",
    "Evaluation": "results",
    "Reason": "results",
    "Subject": "results",
}

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


__getattr__ = lazy_exports(__name__, {k: f"{__name__}.{v}" for k, v in _WHERE.items()})
