"""Bucketing consistency (spec 6.1) against the spec's verified sample and a hashlib oracle."""

from __future__ import annotations

import hashlib
import random

from flagengine_builders import cond, flag, flagset, person
from hypothesis import given, settings
from hypothesis import strategies as st

from posthog._flags.evaluator import evaluate
from posthog._flags.hashing import bucket_hash

VARIANTS = {
    "first-variant": 50,
    "second-variant": 20,
    "third-variant": 20,
    "fourth-variant": 5,
    "fifth-variant": 5,
}
SIMPLE = flagset(flag("simple-flag", cond(rollout=45)))
MULTI = flagset(flag("multivariate-flag", cond(rollout=55), variants=VARIANTS))


def oracle(key: str, value: str, salt: str = "") -> float:
    """Spec 6.1 literally: hex digest, first 15 digits, divided by 0xFFFFFFFFFFFFFFF."""
    digest = hashlib.sha1(f"{key}.{value}{salt}".encode()).hexdigest()
    return int(digest[:15], 16) / float(0xFFFFFFFFFFFFFFF)


def oracle_multivariate(distinct_id: str) -> str | bool:
    if oracle("multivariate-flag", distinct_id) > 0.55:
        return False
    h = oracle("multivariate-flag", distinct_id, "variant")
    low = 0.0
    for name, pct in VARIANTS.items():
        high = low + pct / 100
        if low <= h < high:
            return name
        low = high
    return True


def test_verified_sample_from_the_spec():
    simple = [evaluate(SIMPLE, "simple-flag", person(f"distinct_id_{i}")).value for i in range(6)]
    assert simple == [False, True, True, False, True, False]
    multi = [
        evaluate(MULTI, "multivariate-flag", person(f"distinct_id_{i}")).value for i in range(6)
    ]
    assert multi == [
        "second-variant",
        "second-variant",
        "first-variant",
        False,
        False,
        "second-variant",
    ]


def test_simple_flag_matches_the_oracle_for_a_thousand_ids():
    for i in range(1000):
        distinct_id = f"distinct_id_{i}"
        expected = oracle("simple-flag", distinct_id) <= 0.45
        assert evaluate(SIMPLE, "simple-flag", person(distinct_id)).value is expected, distinct_id


def test_multivariate_flag_matches_the_oracle_for_a_thousand_ids():
    for i in range(1000):
        distinct_id = f"distinct_id_{i}"
        actual = evaluate(MULTI, "multivariate-flag", person(distinct_id)).value
        assert actual == oracle_multivariate(distinct_id), distinct_id


@given(
    st.text(max_size=30),
    st.one_of(st.text(max_size=30), st.integers()),
    st.sampled_from(["", "variant"]),
)
def test_bucket_hash_equals_the_oracle(key, value, salt):
    assert bucket_hash(key, value, salt) == oracle(key, str(value), salt)
    assert 0.0 <= bucket_hash(key, value, salt) <= 1.0


def test_holdout_hash_uses_a_dash_separator():
    digest = hashlib.sha1(b"holdout-user").hexdigest()
    assert bucket_hash("holdout", "user", sep="-") == int(digest[:15], 16) / float(
        0xFFFFFFFFFFFFFFF
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=5, max_value=95), st.text(min_size=1, max_size=10))
def test_rollout_fraction_is_close_to_the_percentage(pct, key):
    flags = flagset(flag(key, cond(rollout=pct)))
    n = 3000
    inside = sum(evaluate(flags, key, person(f"user-{i}")).value is True for i in range(n))
    # 5 standard deviations of a binomial(3000, p) is under 4.6 percentage points.
    assert abs(inside / n - pct / 100) < 0.046


THIRDS = {"control": 33, "test-a": 33, "test-b": 34}


def thirds():  # a fresh parse each time
    return flagset(flag("three-way", cond(rollout=100), variants=THIRDS))


SPLIT = thirds()


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**64), st.text(max_size=8))
def test_three_variant_split_is_uniform_for_random_ids(seed, prefix):
    rnd = random.Random(seed)
    ids = {f"{prefix}{rnd.getrandbits(64):x}" for _ in range(3000)}
    counts = dict.fromkeys(THIRDS, 0)
    for distinct_id in ids:
        counts[evaluate(SPLIT, "three-way", person(distinct_id)).value] += 1
    for variant, pct in THIRDS.items():
        # 5 standard deviations of a binomial(3000, 0.34) is under 4.4 percentage points.
        assert abs(counts[variant] / len(ids) - pct / 100) < 0.044, (variant, counts)


@given(
    st.one_of(st.text(), st.uuids().map(str), st.integers().map(str)),
    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
def test_the_same_id_always_gets_the_same_variant(distinct_id, props):
    first = evaluate(SPLIT, "three-way", person(distinct_id)).value
    assert first in THIRDS
    props.pop("distinct_id", None)
    again = evaluate(thirds(), "three-way", person(distinct_id, **props)).value  # fresh parse
    assert again == first
