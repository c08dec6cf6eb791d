"""Framework integrations, each behind an optional extra and imported on its own.

* :mod:`posthog.integrations.django` - ``PosthogContextMiddleware`` (sync and async);
* :mod:`posthog.integrations.drf` - Django REST framework ``exception_handler`` / ``wrap``;
* :mod:`posthog.integrations.flask` - ``PosthogFlask`` extension (``init_app``);
* :mod:`posthog.integrations.asgi` - ``PosthogASGIMiddleware`` (FastAPI, Starlette);
* :mod:`posthog.integrations.celery` - ``PosthogCeleryIntegration``;
* :mod:`posthog.integrations.openfeature` - OpenFeature provider.

Importing this package imports no framework.
"""
