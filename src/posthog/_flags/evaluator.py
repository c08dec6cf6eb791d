"""The pure local evaluator (spec 6.2, 6.3, 6.6): no I/O, no threads, no logging.

``evaluate`` walks a precompiled ``FlagDefinition``: active -> experience continuity ->
group resolution -> bucketing value -> early access -> holdout -> conditions in order.
Each call owns a small ``_Call`` context: the clock (read at most once), the mode, and
a cache so that flag dependencies are evaluated once per call and cycles are caught.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from posthog._flags.hashing import HOLDOUT_PREFIX, SCALE, hash_prefixed, sha1, top64
from posthog._flags.model import Condition, FlagDefinition, FlagSet, payload_key
from posthog._flags.results import (
    DEPENDENCY,
    MISSING,
    REQUIRES_SERVER,
    UNSUPPORTED,
    Evaluation,
    MatchResult,
    Reason,
    Subject,
    Unresolved,
    better,
    missing_flag,
)

__all__ = [
    "Evaluation",
    "Reason",
    "Subject",
    "evaluate",
    "evaluate_all",
    "evaluate_person",
    "payload_for",
]

_NO_MATCH = object()
_SCALE = SCALE
_OUT_OF_ROLLOUT = object()
_EMPTY: Mapping[str, Any] = {}


class _Call:
    """Per-call state shared by every flag evaluated in one ``evaluate*`` call.

    Built on every evaluation, so it is kept tiny: the dependency cache and cycle guard
    are created only when the definitions have dependencies, and the fast person path
    (``evaluate_person``) builds its ``Subject`` only if something asks for it.
    """

    __slots__ = ("_now", "_person", "_subject", "active", "cache", "flags", "server_side")

    def __init__(
        self,
        flags: FlagSet,
        subject: Subject | None,
        server_side: bool,
        now: datetime | None,
        person: tuple[Mapping[str, Any], Any, str | None] | None = None,
    ) -> None:
        self.flags = flags
        self._subject = subject
        self.server_side = server_side
        self._now = now
        self._person = person
        if flags.has_dependencies:
            self.cache: dict[tuple[str, int, str, str], Evaluation] = {}
            self.active: set[tuple[str, int, str, str]] = set()

    @property
    def subject(self) -> Subject:
        subject = self._subject
        if subject is None:
            assert self._person is not None
            given, distinct_id, device = self._person
            person = dict(given)
            person.setdefault("distinct_id", distinct_id)
            subject = self._subject = Subject(str(distinct_id), device, {}, person, {})
        return subject

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = datetime.now(timezone.utc)
        return self._now

    def top(self, flag: FlagDefinition) -> Evaluation:
        """Spec 6.2 steps 1-4: decide the context, then match."""
        if flag.plain:  # active person flag bucketed by distinct id: nothing to decide
            subject = self.subject
            if not self.flags.has_dependencies:
                return match_flag(flag, subject.person_properties, subject.distinct_id, self)
            return self.run(flag, subject.person_properties, subject.distinct_id)
        if not flag.active:
            return flag.outcomes["disabled"]
        if flag.ensure_experience_continuity and not self.server_side:
            return flag.outcomes["continuity"]
        if flag.defect is not None:
            return flag.outcomes["defect"]
        subject = self.subject
        if flag.group_type is not None:
            group_key = subject.groups.get(flag.group_type)
            if group_key is None:
                return flag.outcomes["group_not_passed"]
            props = subject.group_properties.get(flag.group_type)
            if props is None:
                if not self.server_side:
                    why = f"group properties for {flag.group_type!r}"
                    return flag.inconclusive(Unresolved(MISSING, f"missing {why}"))
                props = _EMPTY
            return self.run(flag, props, str(group_key))
        identity = subject.distinct_id
        bucket = self.person_bucket(flag, identity)
        if bucket is None:
            return flag.inconclusive(Unresolved(MISSING, "missing device_id for bucketing"))
        return self.run(flag, subject.person_properties, bucket, identity)

    def person_bucket(self, flag: FlagDefinition, identity: str) -> str | None:
        """``device_id`` when the flag buckets by device (server mode falls back)."""
        if not flag.bucket_by_device:
            return identity
        device = self.subject.device_id
        if device is None and self.server_side:
            return identity
        return device

    def run(
        self,
        flag: FlagDefinition,
        props: Mapping[str, Any],
        bucket: str,
        identity: str | None = None,
    ) -> Evaluation:
        """Match with the per-call cache and cycle guard (needed only with dependencies)."""
        if not self.flags.has_dependencies:
            return match_flag(flag, props, bucket, self, identity)
        identity = bucket if identity is None else identity
        slot = (flag.key, id(props), bucket, identity)
        cached = self.cache.get(slot)
        if cached is not None:
            return cached
        if slot in self.active:
            return flag.inconclusive(Unresolved(DEPENDENCY, f"circular dependency on {flag.key!r}"))
        self.active.add(slot)
        try:
            result = match_flag(flag, props, bucket, self, identity)
        finally:
            self.active.discard(slot)
        self.cache[slot] = result
        return result

    def dependency(
        self, key: str, props: Mapping[str, Any], identity: str
    ) -> bool | str | MatchResult:
        """Value of flag ``key`` as a dependency (spec 6.6), or why it is unknown.

        ``identity`` is who the calling flag is evaluated for: the distinct id for a
        person flag (even one bucketed by device), the group key for a group flag,
        unchanged through mixed conditions and dependency chains. A group-aggregated
        dependency buckets by it; any other uses its own ``bucketing_identifier``
        resolved against it -- the reference's ``distinct_id`` argument exactly.
        """
        flag = self.flags.flags.get(key)
        if flag is None:
            return Unresolved(UNSUPPORTED, f"dependency {key!r} is not loaded")
        if not flag.active:
            return False
        if flag.ensure_experience_continuity and not self.server_side:
            return Unresolved(DEPENDENCY, f"dependency {key!r} needs experience continuity")
        if flag.dependency_defect is not None:
            why = flag.dependency_defect.description
            return Unresolved(DEPENDENCY, f"dependency {key!r}: {why}")
        grouped = flag.aggregation_group_type_index is not None
        own = identity if grouped else self.person_bucket(flag, identity)
        if own is None:
            return Unresolved(DEPENDENCY, f"dependency {key!r}: missing device_id")
        result = self.run(flag, props, own, identity)
        if result.value is not None:
            return result.value
        if result.unresolved == REQUIRES_SERVER:
            return Unresolved(REQUIRES_SERVER, result.description)
        return Unresolved(DEPENDENCY, f"dependency {key!r} unresolved")


def _variant(flag: FlagDefinition, bucket: str) -> str | None:
    value = hash_prefixed(flag.hash_prefix, bucket + "variant")
    for name, low, high in flag.variant_table:
        if low <= value < high:
            return name
    return None


def _condition(
    flag: FlagDefinition,
    cond: Condition,
    props: Mapping[str, Any],
    bucket: str,
    identity: str,
    call: _Call,
) -> object:
    """Spec 6.3: an ``Evaluation`` on match, else a sentinel or an ``Unresolved``.

    A mixed-targeting condition reads its group's properties and hashes its rollout and
    variant on the group key, while its filters still get the flag's ``identity``: a
    group-aggregated flag dependency there buckets by the person of a person flag
    (spec 6.6, as the reference does), not by the condition's group.
    """
    if cond.defect is not None:
        return cond.defect
    if cond.group_type is not None or cond.unknown_group:
        group_key = None if cond.group_type is None else call.subject.groups.get(cond.group_type)
        if group_key is None:
            return _NO_MATCH
        group_props = call.subject.group_properties.get(cond.group_type or "")
        if group_props is None:
            if not call.server_side:
                return Unresolved(MISSING, f"missing group properties for {cond.group_type!r}")
            group_props = _EMPTY
        props, bucket = group_props, str(group_key)
    pending: Unresolved | None = None
    for matcher in cond.matchers:
        result = matcher(props, call, identity)
        if result is True:
            continue
        if result is False:
            return _NO_MATCH
        if isinstance(result, Unresolved) and (pending is None or pending.kind != REQUIRES_SERVER):
            pending = result if pending is None else better(pending, result)
    if pending is not None:
        return pending
    if cond.threshold is not None and hash_prefixed(flag.hash_prefix, bucket) > cond.threshold:
        return _OUT_OF_ROLLOUT
    return _matched(flag, cond, bucket)


def _matched(flag: FlagDefinition, cond: Condition, bucket: str) -> Evaluation:
    """The precomputed result of a matching condition: override, hashed variant or True."""
    if cond.variant_override is not None:
        return cond.matched[cond.variant_override]
    if flag.variant_table:
        name = _variant(flag, bucket)
        if name is not None:
            return cond.matched[name]
    return cond.matched[True]


def match_flag(
    flag: FlagDefinition,
    props: Mapping[str, Any],
    bucket: str,
    call: _Call,
    identity: str | None = None,
) -> Evaluation:
    """Spec 6.2 step 5: early access, holdout, then conditions in order (OR).

    Conditions in the flag's own context (``simple``) are evaluated inline -- the hot
    loop of every evaluation -- and share one rollout hash, which depends only on the
    flag and the bucketing value. Others go through ``_condition``. Filters receive
    ``identity`` (who the flag is evaluated for, see ``_Call.dependency``), which is
    ``bucket`` unless a person flag buckets by device or this is a dependency.
    """
    who = bucket if identity is None else identity
    if flag.feature_enrollment:
        return _enrollment(flag, props, call)
    holdout = flag.holdout_threshold
    if holdout is not None and hash_prefixed(HOLDOUT_PREFIX, bucket) <= holdout:
        return flag.outcomes["holdout"]
    pending: Unresolved | None = None
    out_of_rollout: Condition | None = None
    rollout = -1.0  # the flag's rollout hash for ``bucket``; computed at most once
    for cond in flag.conditions:
        if cond.simple:
            unresolved: Unresolved | None = None
            for matcher in cond.matchers:
                result = matcher(props, call, who)
                if result is True:
                    continue
                if result is False:
                    break
                if isinstance(result, Unresolved) and (
                    unresolved is None or unresolved.kind != REQUIRES_SERVER
                ):
                    unresolved = result if unresolved is None else better(unresolved, result)
            else:
                if unresolved is None:
                    threshold = cond.threshold
                    # A hash is at most 1.0, so a 100 % rollout needs no hash at all.
                    if threshold is not None and threshold < 1.0:
                        if rollout < 0.0:  # hash_prefixed, inlined
                            digest = sha1((flag.hash_prefix + bucket).encode()).digest()
                            rollout = (top64(digest)[0] >> 4) / _SCALE
                        if rollout > threshold:
                            out_of_rollout = out_of_rollout or cond
                            if flag.early_exit:
                                break
                            continue
                    fixed = cond.fixed
                    return fixed if fixed is not None else _matched(flag, cond, bucket)
                if unresolved.kind == REQUIRES_SERVER:
                    return flag.inconclusive(unresolved)
                pending = better(pending, unresolved)
            continue
        outcome = _condition(flag, cond, props, bucket, who, call)
        if isinstance(outcome, Evaluation):
            return outcome
        if outcome is _OUT_OF_ROLLOUT:
            out_of_rollout = out_of_rollout or cond
            if flag.early_exit:
                break
        elif isinstance(outcome, Unresolved):
            if outcome.kind == REQUIRES_SERVER:
                return flag.inconclusive(outcome)
            pending = better(pending, outcome)
    if pending is not None:
        return flag.inconclusive(pending)
    if out_of_rollout is not None:
        return out_of_rollout.out_of_rollout
    return flag.outcomes["no_match"]


def _enrollment(flag: FlagDefinition, props: Mapping[str, Any], call: _Call) -> Evaluation:
    """Early-access features ignore conditions and read one person property."""
    if flag.aggregation_group_type_index is not None:
        return flag.inconclusive(Unresolved(UNSUPPORTED, "early access on a group flag"))
    name = f"$feature_enrollment/{flag.key}"
    value = props.get(name, _NO_MATCH)
    if value is _NO_MATCH:
        if call.server_side:
            return flag.outcomes["not_enrolled"]
        return flag.inconclusive(Unresolved(MISSING, f"missing property {name!r}"))
    enrolled = value is True or value == "true"
    return flag.outcomes["enrolled" if enrolled else "not_enrolled"]


def evaluate(
    flags: FlagSet,
    key: str,
    subject: Subject,
    *,
    server_side: bool = False,
    now: datetime | None = None,
) -> Evaluation:
    """Evaluate one flag locally; never raises."""
    flag = flags.flags.get(key)
    if flag is None:
        return missing_flag(key)
    return _safe(flag, _Call(flags, subject, server_side, now))


def evaluate_person(
    flags: FlagSet,
    flag: FlagDefinition,
    person_properties: Mapping[str, Any],
    distinct_id: Any,
    device_id: str | None,
) -> Evaluation:
    """``evaluate`` for a caller with no groups, without building a ``Subject`` up front.

    ``person_properties`` must already hold ``distinct_id`` unless
    ``flags.reads_distinct_id`` is False (then no filter can tell the difference).
    """
    call = _Call(flags, None, False, None, (person_properties, distinct_id, device_id))
    try:
        if flag.plain:
            bucket = distinct_id if distinct_id.__class__ is str else str(distinct_id)
            if not flags.has_dependencies:
                return match_flag(flag, person_properties, bucket, call)
            return call.run(flag, person_properties, bucket)
        return call.top(flag)
    except Exception:
        return flag.inconclusive(Unresolved(UNSUPPORTED, "unexpected evaluation error"))


def evaluate_all(
    flags: FlagSet,
    subject: Subject,
    keys: Iterable[str] | None = None,
    *,
    server_side: bool = False,
    now: datetime | None = None,
) -> dict[str, Evaluation]:
    """Evaluate many flags with one shared cache (dependencies computed once)."""
    call = _Call(flags, subject, server_side, now)
    index = flags.index if flags.index else flags.flags
    out: dict[str, Evaluation] = {}
    top = call.top
    # Plain flags skip ``top`` (nothing to decide) when there is no dependency cache.
    direct = not flags.has_dependencies
    person, bucket = subject.person_properties, subject.distinct_id
    for key in index if keys is None else keys:
        flag = index.get(key)
        if flag is None:
            out[key] = missing_flag(key)
            continue
        try:
            out[key] = (
                match_flag(flag, person, bucket, call) if direct and flag.plain else top(flag)
            )
        except Exception:
            out[key] = flag.inconclusive(Unresolved(UNSUPPORTED, "unexpected evaluation error"))
    return out


def _safe(flag: FlagDefinition, call: _Call) -> Evaluation:
    """Last line of defence: an unexpected error becomes an inconclusive result."""
    try:
        return call.top(flag)
    except Exception:
        return flag.inconclusive(Unresolved(UNSUPPORTED, "unexpected evaluation error"))


def payload_for(flags: FlagSet, key: str, value: bool | str) -> str | None:
    """The JSON payload string stored for ``value`` of flag ``key`` (spec 6.7)."""
    flag = flags.flags.get(key)
    if flag is None:
        return None
    return flag.payloads.get(payload_key(value))
