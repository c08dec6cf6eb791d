"""A local PostHog-compatible server: ingestion, persons, groups, flags and a web page.

Start it with ``posthog dev`` or ``python -m posthog_devserver``, or in code::

    from posthog_devserver import DevServer

    with DevServer() as server:
        ...  # point the SDK at host=server.url

It imports the SDK's pure flag engine; the SDK never imports this package.
"""

from __future__ import annotations

from .server import DevServer

__all__ = ["DevServer"]
