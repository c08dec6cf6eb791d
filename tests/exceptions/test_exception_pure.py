"""The pure pieces: token buckets, masking, frame naming. No I/O, fake clocks."""

from __future__ import annotations

import pytest

from posthog._exceptions.frames import InAppRule
from posthog._exceptions.ratelimit import TokenBuckets
from posthog._exceptions.variables import REDACTED, VariableOptions, looks_like_secret, render_value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_empties_then_refills_per_interval() -> None:
    clock = Clock()
    buckets = TokenBuckets(size=3, refill_rate=2, refill_interval=10, clock=clock)
    assert [buckets.allow("ValueError") for _ in range(4)] == [True, True, True, False]
    assert buckets.allow("KeyError") is True  # each type has its own bucket
    clock.now += 9.9
    assert buckets.allow("ValueError") is False
    clock.now += 0.1
    assert [buckets.allow("ValueError") for _ in range(3)] == [True, True, False]
    clock.now += 1000
    assert [buckets.allow("ValueError") for _ in range(4)] == [True, True, True, False]  # capped


@pytest.mark.parametrize(("size", "expected"), [(-5, 0), (500, 100)])
def test_bucket_size_is_clamped(size: int, expected: int) -> None:
    buckets = TokenBuckets(size=size, clock=Clock())
    allowed = 0
    while allowed <= 101 and buckets.allow("E"):
        allowed += 1
    assert allowed == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello world", "hello world"),
        (42, 42),
        (1.5, 1.5),
        (float("nan"), "nan"),
        (None, None),
        (True, True),
        ("redis://:pa55@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
        ("Server=db;Password=hunter2;", REDACTED),
        ({"api_key": "x"}, REDACTED),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", REDACTED),
        ("550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-446655440000"),
        ([1, 2, 3], "[1, 2, 3]"),
    ],
)
def test_render_value_masks_secrets(value: object, expected: object) -> None:
    assert render_value(value, VariableOptions()) == expected


SECRET_NAMES = [
    "password", "db_passwd", "pwd", "client_secret", "refresh_token", "api_key", "apiKey",
    "x-api-key", "aws_access_key_id", "accessKey", "private_key", "privateKey", "auth_header",
    "Authorization", "oauth", "credential", "credentials", "session", "sessionid", "cookie",
    "csrftoken", "x_csrf", "jwt", "bearer", "sentry_dsn", "connection_string", "conn_str",
    "ConnectionString", "database_url", "DATABASE_URL", "databaseUrl", "db_url",
    # deliberately masked too: patterns match anywhere, and a masked harmless value is cheap
    "author", "tokenizer", "max_tokens",
]  # fmt: skip
KEPT_NAMES = ["username", "email", "attempts", "url", "host", "port", "user_id", "message"]


def test_secret_names_are_masked_and_plain_ones_kept() -> None:
    options = VariableOptions()
    assert [name for name in SECRET_NAMES if not options.masked(name)] == []
    assert [name for name in KEPT_NAMES if options.masked(name)] == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bearer eyJhbGciOi.x.y", REDACTED),
        ("authorization: bearer abc", REDACTED),
        ("Basic dXNlcjpwYXNzd29yZA==", REDACTED),
        ("basic plan", "basic plan"),
        ("postgres://u:p@ss/w:rd@db/app", "postgres://u:[redacted]@db/app"),
        ("mysql://root:@db/app", "mysql://root:[redacted]@db/app"),
        ("https://ghp1@github.com/o/r.git", "https://[redacted]@github.com/o/r.git"),
        ("['amqp://a:b@h', 'c@d']", "['amqp://a:[redacted]@h', 'c@d']"),
        ("https://medium.com/@ada/post", "https://medium.com/@ada/post"),
        ("http://localhost:8000/api", "http://localhost:8000/api"),
        (
            "http://localhost:8000/users/bob@example.com",
            "http://localhost:8000/users/bob@example.com",
        ),
        ("postgres://u:123456@db:5432/app", "postgres://u:[redacted]@db:5432/app"),
    ],
)
def test_bearer_tokens_and_url_credentials(value: str, expected: str) -> None:
    assert render_value(value, VariableOptions()) == expected


@pytest.mark.parametrize(
    "value",
    [
        "x" * 1000 + " redis://app:hunter2hunter2@cache",  # cut at the end of the value
        ["a" * 490 + "redis://app:hunter2hunter2@cache" + "b" * 600],  # repr cuts the middle
    ],
)
def test_truncation_never_leaves_part_of_a_url_password(value: object) -> None:
    rendered = render_value(value, VariableOptions())
    assert isinstance(rendered, str) and "redis://app:[redacted]..." in rendered
    assert "hunter" not in rendered


def test_long_values_are_bounded() -> None:
    rendered = render_value("word " * 1000, VariableOptions())
    assert isinstance(rendered, str) and len(rendered) <= 1030


def test_user_patterns_replace_defaults_and_switches_work() -> None:
    options = VariableOptions(
        mask_patterns=[r"(?i)ssn", "[invalid"],  # a bad pattern is skipped, not raised
        mask_url_credentials=False,
        detect_secrets=False,
    )
    assert render_value("ssn 123", options) == REDACTED
    assert render_value("password", options) == "password"
    assert render_value("https://u:p@x/", options) == "https://u:p@x/"
    assert render_value("Ab3dE9fG1hJ2kL4mN6pQ8rS0tU5vW7xY", options) != REDACTED


def test_secret_detection_needs_length_mix_and_entropy() -> None:
    assert looks_like_secret("token Ab3dE9fG1hJ2kL4mN6pQ8rS0tU5vW7xY here")
    assert not looks_like_secret("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1")
    assert not looks_like_secret("short1A")
    assert not looks_like_secret("this_is_a_long_identifier_name")


def test_in_app_rule_order() -> None:
    rule = InAppRule("/srv/app", ["vendored"])
    assert rule("myapp.views", "/srv/app/myapp/views.py") is True
    assert rule("requests.api", "/srv/app/.venv/lib/site-packages/requests/api.py") is False
    assert rule("vendored.x", "/srv/app/.venv/lib/site-packages/vendored/x.py") is True
    assert rule("vendoredness", "/elsewhere/vendoredness.py") is False
    assert rule("json", "/usr/lib/python3.11/json/__init__.py") is False
    assert rule(None, "<string>") is False
