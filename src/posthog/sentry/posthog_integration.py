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

* adds the Sentry tag ``PostHog URL``: the person's page in PostHog (set before the
  application's ``before_send``, which sees it);
* once Sentry sends the event (after ``before_send`` and error sampling: an event Sentry
  drops makes no PostHog event), captures ``$exception`` for that person through the
  PostHog client (the integration's ``client``, else the module-level default client),
  with ``$sentry_event_id``, ``$sentry_url`` (the Sentry event's page),
  ``$sentry_exception``, ``$sentry_exception_message``, ``$sentry_exception_type`` and
  ``$sentry_tags`` read from the event as Sentry sends it.

``$exception_list`` is our own: built from the exception object as ``capture_exception``
builds it when Sentry saw one (so ``code_variables`` only if
``capture_exception_code_variables`` is on, masked by our masking); else from Sentry's
exception interface; for an event with only a message (``logging.error`` through
Sentry's logging integration, ``capture_message(level="error")``) one entry whose type is
the logger's name (else ``"Error"``), whose value is the formatted message and whose
mechanism is ``{"type": "generic", "handled": true, "synthetic": true}``, with the
stack Sentry attached, if any. ``$sentry_exception`` is Sentry's exception interface
without the frames' local variables (``vars``): PostHog never gets Sentry's locals.
Events logged by the SDK itself (logger ``posthog``) are left to Sentry alone.

With our Django/Flask/ASGI integrations also capturing view errors, a request's error is
handed to this integration instead (see ``posthog.integrations._common``): it is
captured here in the request's context, personless if the request has no person, with
``$exception_source``, so the error makes one PostHog event and that one is linked. If
Sentry drops that event, the error is captured without the Sentry links.

Whether Sentry sent the event is known from a hook on Sentry's transport (see
``posthog.sentry._in_flight``); what is read from the event, from
``posthog.sentry._sentry_event``.

The Sentry URL is ``{prefix}{organization}/issues/?project={project_id}&query={event_id}``;
the project id comes from the DSN unless set. For self-hosted Sentry set ``prefix``.
Nothing here ever raises into Sentry's pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.scope import add_global_event_processor

from posthog.integrations._common import (
    PENDING_CAPTURE_ATTR,
    SENTRY_INTEGRATION_ID,
    SENTRY_LINK_ATTR,
    PendingCapture,
    take_pending_capture,
)
from posthog.sentry._in_flight import InFlight, hook_transport, note_in_flight
from posthog.sentry._sentry_event import (
    ERROR_LEVELS,
    exception_list,
    exception_of,
    message_of,
    sentry_properties,
)

__all__ = ["PERSON_URL_TAG", "PostHogIntegration", "posthog_person_url"]

log = logging.getLogger("posthog")

DISTINCT_ID_TAG = "posthog_distinct_id"
PERSON_URL_TAG = "PostHog URL"
_OWN_LOGGER = "posthog"


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

    def prepare(self, event: dict[str, Any], hint: dict[str, Any], noted: InFlight) -> None:
        """At the event processor: whose error it is; tags the Sentry event with the
        person's URL (so the application's ``before_send`` sees the tag)."""
        tags = event.get("tags")
        if not isinstance(tags, dict):
            tags = {}
            event["tags"] = tags
        exc = exception_of(hint)
        note = getattr(exc, PENDING_CAPTURE_ATTR, None) if exc is not None else None
        if isinstance(note, PendingCapture):  # a framework integration handed it over
            distinct_id = tags.get(DISTINCT_ID_TAG) or note.context.run(_context_distinct_id)
            client = note.client
        else:
            distinct_id = tags.get(DISTINCT_ID_TAG) or _context_distinct_id()
            client = self.posthog_client() if distinct_id else None
        noted.integration = self
        noted.exc = exc
        noted.distinct_id = distinct_id
        noted.client = client
        host = self.posthog_host or getattr(client, "host", None)
        if distinct_id and host:
            tags[PERSON_URL_TAG] = posthog_person_url(host, distinct_id)

    def sent(self, noted: InFlight, event: dict[str, Any]) -> None:
        """Sentry sends ``event`` (as ``before_send`` left it): the linked ``$exception``."""
        exc = noted.exc
        note = take_pending_capture(exc)
        if note is not None and exc is not None:  # a framework integration handed it over
            self._sent_request_error(noted, event, exc, note)
            return
        properties = self._link_properties(noted, event)
        if properties is None:
            return
        if exc is not None:  # a framework integration capturing it later links it too
            _remember_link(exc, properties)
        client = noted.client
        if client is None:
            return
        if exc is not None:
            client.capture_exception(exc, distinct_id=noted.distinct_id, properties=properties)
        else:
            client.capture("$exception", distinct_id=noted.distinct_id, properties=properties)

    def _sent_request_error(
        self, noted: InFlight, event: dict[str, Any], exc: BaseException, note: PendingCapture
    ) -> None:
        """Captured in the request's context: its person, or personless as the request
        would have captured it."""
        try:
            properties = self._link_properties(noted, event)
        except Exception:
            note.capture(exc, {})  # taken from the request: it must not be lost here
            raise
        if properties is None:  # no longer an error to Sentry: captured unlinked
            note.capture(exc, {})
            return
        _remember_link(exc, properties)
        note.capture(exc, properties, distinct_id=noted.distinct_id)  # the tag wins

    def _link_properties(self, noted: InFlight, event: dict[str, Any]) -> dict[str, Any] | None:
        """The PostHog event's Sentry properties, or ``None`` if ``before_send`` made the
        event something else than an error."""
        if event.get("level") not in ERROR_LEVELS:
            return None
        properties = sentry_properties(event, self.sentry_url(noted.event_id))
        if noted.exc is not None:
            return properties
        entries = exception_list(event)
        if not entries:
            return None
        if "$sentry_exception" not in properties:  # a message: named by its entry
            properties["$sentry_exception_type"] = entries[0]["type"]
            properties["$sentry_exception_message"] = entries[0]["value"]
        properties["$exception_list"] = entries
        return properties


# -- Sentry's pipeline -----------------------------------------------------------------------
def _process_event(event: Any, hint: dict[str, Any]) -> Any:
    try:
        if event.get("type") == "transaction":
            return event
        client = sentry_sdk.get_client()
        integration = client.get_integration(PostHogIntegration)
        if integration is None:
            return event
        noted = InFlight(str(event.get("event_id")))
        sendable = hook_transport(client)
        if sendable:  # noted first: a failure below must not unbalance the stack
            note_in_flight(noted)
        if _ours(event, hint):
            integration.prepare(event, hint, noted)
            if not sendable:  # no transport: Sentry sends nothing
                noted.dropped()
    except Exception as exc:  # never break Sentry's pipeline
        log.warning("[PostHog] Sentry integration failed: %r", exc)
    return event


def _ours(event: Mapping[str, Any], hint: Mapping[str, Any]) -> bool:
    if event.get("level") not in ERROR_LEVELS:
        return False
    logger = event.get("logger")
    if isinstance(logger, str) and (logger == _OWN_LOGGER or logger.startswith("posthog.")):
        return False  # the SDK's own diagnostics would feed themselves
    return bool(event.get("exception") or exception_of(hint) or message_of(event))


def _remember_link(exc: BaseException, properties: dict[str, Any]) -> None:
    try:
        setattr(exc, SENTRY_LINK_ATTR, dict(properties))
    except Exception:  # an exception type that refuses attributes: no link to remember
        pass


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
