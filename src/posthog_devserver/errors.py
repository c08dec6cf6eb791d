"""The one error type the request handlers raise; it becomes a JSON error response.

The body mirrors PostHog's error shape (``type``, ``code``, ``detail``, ``attr``) so an
SDK's error handling sees what it would see in production.
"""

from __future__ import annotations

from typing import Any


class HttpError(Exception):
    """A request that cannot be served; ``status`` and a body naming the problem."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        attr: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.attr = attr
        self.error_type = error_type or _default_type(status)

    def body(self) -> dict[str, Any]:
        return {
            "type": self.error_type,
            "code": self.code,
            "detail": self.detail,
            "attr": self.attr,
        }


def _default_type(status: int) -> str:
    if status in (401, 403):
        return "authentication_error"
    if status >= 500:
        return "server_error"
    return "validation_error"


def bad_request(code: str, detail: str, attr: str | None = None) -> HttpError:
    return HttpError(400, code, detail, attr=attr)


def unauthorized(code: str, detail: str) -> HttpError:
    return HttpError(401, code, detail)


def not_found(detail: str = "Not found.") -> HttpError:
    return HttpError(404, "not_found", detail, error_type="invalid_request")
