"""``PostHogIntegration``: every Sentry error for a known person is also a PostHog
``$exception`` event, and each points at the other.

Usage (documented)::

    import sentry_sdk
    from posthog.sentry.posthog_integration import PostHogIntegration

    PostHogIntegration.organization = "orgname"
    sentry_sdk.init(dsn=..., integrations=[PostHogIntegration()])
    sentry_sdk.set_tag("posthog_distinct_id", "some distinct id")

For a Sentry event of level ``error`` or ``fatal`` whose ``posthog_distinct_id`` tag is
set (or, failing that, inside a PostHog context with a distinct id), the integration

* adds the Sentry tag ``PostHog URL``: the person's page in PostHog;
* captures ``$exception`` for that person through the PostHog client (the integration's
  ``client``, else the module-level default client) with the full ``$exception_list``
  when Sentry saw the exception object, plus ``$sentry_event_id``, ``$sentry_url`` (the
  Sentry event's page), ``$sentry_exception``, ``$sentry_exception_message``,
  ``$sentry_exception_type`` and ``$sentry_tags``.

With our Django/Flask/ASGI integrations also capturing view errors, a request's error is
handed to this integration instead (see ``posthog.integrations._common``): it is
captured here in the request's context, personless if the request has no person, with
``$exception_source``, so the error makes one PostHog event and that one is linked.

The Sentry URL is ``{prefix}{organization}/issues/?project={project_id}&query={event_id}``;
the project id comes from the DSN unless set. For self-hosted Sentry set ``prefix``.
Nothing here ever raises into Sentry's pipeline.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.scope import add_global_event_processor

from posthog.integrations._common import (
    SENTRY_INTEGRATION_ID,
    SENTRY_LINK_ATTR,
    PendingCapture,
    take_pending_capture,
)

__all__ = ["PERSON_URL_TAG", "PostHogIntegration", "posthog_person_url"]

log = logging.getLogger("posthog")

DISTINCT_ID_TAG = "posthog_distinct_id"
PERSON_URL_TAG = "PostHog URL"
_ERROR_LEVELS = frozenset({"error", "fatal"})


def posthog_app_host(host: str) -> str:
    """The app's address for an ingestion host: ``us.i.posthog.com`` -> ``us.posthog.com``."""
    host = host.rstrip("/")
    return host.replace(".i.posthog.com", ".posthog.com")


def posthog_person_url(host: str, distinct_id: str) -> str:
    return f"{posthog_app_host(host)}/person/{quote(str(distinct_id), safe='')}"


class PostHogIntegration(Integration):
    identifier = SENTRY_INTEGRATION_ID

    organization: str | None = None
    project_id: str | None = None
    prefix: str = "https://sentry.io/organizations/"
    client: Any = None  # a posthog Client; None -> the module-level default client
    posthog_host: str | None = None  # the PostHog app's URL, if not derived from the client

    def __init__(
        self,
        organization: str | None = None,
        project_id: str | None = None,
        prefix: str | None = None,
        client: Any = None,
        posthog_host: str | None = None,
    ) -> None:
        if organization is not None:
            self.organization = organization
        if project_id is not None:
            self.project_id = project_id
        if prefix is not None:
            self.prefix = prefix
        if client is not None:
            self.client = client
        if posthog_host is not None:
            self.posthog_host = posthog_host

    @staticmethod
    def setup_once() -> None:
        add_global_event_processor(_process_event)

    # -- the link --------------------------------------------------------------------------
    def posthog_client(self) -> Any:
        if self.client is not None:
            return self.client
        from posthog import _default

        return _default.get_client()

    def sentry_url(self, event_id: str) -> str | None:
        if not self.organization:
            return None
        project = self.project_id or _dsn_project_id()
        url = f"{self.prefix}{self.organization}/issues/?query={event_id}"
        if project:
            url = f"{self.prefix}{self.organization}/issues/?project={project}&query={event_id}"
        return url

    def link(self, event: dict[str, Any], hint: dict[str, Any] | None) -> None:
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = {}
            event["tags"] = tags
        exc = _exception_of(hint)
        note = take_pending_capture(exc)
        if note is not None and exc is not None:  # a framework integration handed it over
            try:
                self._link_request_error(event, tags, exc, note)
            except Exception:
                note.capture(exc, {})  # taken from the request: it must not be lost here
                raise
            return
        distinct_id = tags.get(DISTINCT_ID_TAG) or _context_distinct_id()
        client = self.posthog_client() if distinct_id else None
        properties = self._properties(event, tags, client, distinct_id)
        if exc is not None:  # a framework integration capturing it later links it too
            _remember_link(exc, properties)
        if client is None:
            return
        if exc is not None:
            client.capture_exception(exc, distinct_id=distinct_id, properties=properties)
        else:
            client.capture("$exception", distinct_id=distinct_id, properties=properties)

    def _link_request_error(
        self,
        event: dict[str, Any],
        tags: dict[str, Any],
        exc: BaseException,
        note: PendingCapture,
    ) -> None:
        """Captured in the request's context: its person, or personless as the request
        would have captured it."""
        distinct_id = tags.get(DISTINCT_ID_TAG) or note.context.run(_context_distinct_id)
        properties = self._properties(event, tags, note.client, distinct_id)
        _remember_link(exc, properties)
        note.capture(exc, properties, distinct_id=distinct_id)  # the tag wins over the context

    def _properties(
        self, event: dict[str, Any], tags: dict[str, Any], client: Any, distinct_id: Any
    ) -> dict[str, Any]:
        """Tags the Sentry event with the person's URL; the PostHog event's Sentry links."""
        host = self.posthog_host or getattr(client, "host", None)
        if distinct_id and host:
            tags[PERSON_URL_TAG] = posthog_person_url(host, distinct_id)
        return _sentry_properties(event, tags, self.sentry_url(str(event.get("event_id"))))


def _process_event(event: Any, hint: dict[str, Any]) -> Any:
    try:
        integration = sentry_sdk.get_client().get_integration(PostHogIntegration)
        if integration is None or event.get("level") not in _ERROR_LEVELS:
            return event
        if not event.get("exception") and _exception_of(hint) is None:
            return event
        integration.link(event, hint)
    except Exception as exc:  # never break Sentry's pipeline
        log.warning("[PostHog] Sentry integration failed: %r", exc)
    return event


def _exception_of(hint: dict[str, Any] | None) -> BaseException | None:
    exc_info = (hint or {}).get("exc_info")
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None


def _remember_link(exc: BaseException, properties: dict[str, Any]) -> None:
    try:
        setattr(exc, SENTRY_LINK_ATTR, dict(properties))
    except Exception:  # an exception type that refuses attributes: no link to remember
        pass


def _sentry_properties(
    event: dict[str, Any], tags: dict[str, Any], url: str | None
) -> dict[str, Any]:
    values = (event.get("exception") or {}).get("values") or []
    last = values[-1] if values else {}
    props: dict[str, Any] = {
        "$sentry_event_id": event.get("event_id"),
        "$sentry_exception": event.get("exception"),
        "$sentry_exception_message": last.get("value"),
        "$sentry_exception_type": last.get("type"),
        "$sentry_tags": dict(tags),
    }
    if url is not None:
        props["$sentry_url"] = url
    return props


def _dsn_project_id() -> str | None:
    try:
        from sentry_sdk.utils import Dsn

        dsn = sentry_sdk.get_client().dsn
        return str(Dsn(dsn).project_id) if dsn else None
    except Exception:
        return None


def _context_distinct_id() -> str | None:
    from posthog.contexts import get_context_distinct_id

    return get_context_distinct_id()
