"""The asyncio edge of the SDK: transport, delivery task and flag I/O for ``AsyncPosthog``.

Everything that decides something is imported from the pure core (``posthog._events``,
``posthog._flags``); these modules only await.
"""
