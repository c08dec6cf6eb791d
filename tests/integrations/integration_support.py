"""Helpers shared by the framework integration tests."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from support.recording_server import RecordingServer

DJANGO_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]


def configure_django() -> None:
    """Django settings for every Django test in this process (configured once): the real
    auth and session apps on a file-backed SQLite database (a file, not ``:memory:``,
    because Django's async path reaches it from other threads). Tables are created by
    :func:`django_database`, only for the tests that need them."""
    import django
    from django.conf import settings

    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="test-only",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=DJANGO_APPS,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": str(Path(tempfile.mkdtemp(prefix="hogwire-django-")) / "db.sqlite3"),
            }
        },
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


_migrated: list[bool] = []


def django_database() -> None:
    """Create the auth and session tables (once per process)."""
    from django.core.management import call_command

    configure_django()
    if not _migrated:
        call_command("migrate", verbosity=0, interactive=False)
        _migrated.append(True)


def events_named(server: RecordingServer, client: Any, name: str, count: int) -> list[Any]:
    """Flush, then wait (bounded) until ``count`` events called ``name`` have arrived."""
    assert client.flush(5)
    server.wait_for(lambda s: len([e for e in s.events() if e["event"] == name]) >= count, 5)
    return [e for e in server.events() if e["event"] == name]


TRACING = {
    "X-POSTHOG-SESSION-ID": "sess-1",
    "X-POSTHOG-WINDOW-ID": "win-1",
    "X-POSTHOG-DISTINCT-ID": "browser-person",
    "User-Agent": "pytest-agent/1.0",
}
