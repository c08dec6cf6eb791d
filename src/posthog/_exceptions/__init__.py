"""Pure pieces of exception capture: frames, the exception chain, local variables and
rate limiting. Nothing here does I/O except reading source lines through ``linecache``
(which is how tracebacks are printed, too) and nothing here knows about the client.
"""

from __future__ import annotations

from posthog._exceptions.chain import ExceptionOptions, build_exception_list
from posthog._exceptions.ratelimit import TokenBuckets

__all__ = ["ExceptionOptions", "TokenBuckets", "build_exception_list"]
