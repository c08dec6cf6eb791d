"""Users with an ``email`` for the integrations' ``email`` tag tests, by user id: a
readable one and ones that must add no tag (empty, not a string, failing to read)."""

from __future__ import annotations

EMAILS: dict[str, object] = {
    "ada": "ada@example.com",
    "blank": "",
    "number": 42,
    "none": None,
    "broken": RuntimeError("email column missing"),
}


class WithEmail:
    """Mixed into a framework's user class: ``email`` is ``EMAILS[user_id]``, and reading
    it raises when that is an exception."""

    def __init__(self, user_id: str, *args: object) -> None:
        super().__init__(*args)
        self._email = EMAILS[user_id]

    @property
    def email(self) -> object:
        if isinstance(self._email, Exception):
            raise self._email
        return self._email
