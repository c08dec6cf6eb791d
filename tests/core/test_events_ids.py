"""Event uuids and personless ids stay unique whatever the application does to ``random``."""

from __future__ import annotations

import os
import random
import uuid

import pytest

from posthog import Posthog
from support.recording_server import RecordingServer


def test_seeding_the_random_module_does_not_repeat_event_uuids(server: RecordingServer) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    returned = []
    for _ in range(2):
        random.seed(42)  # an application (or a test suite) making its own randomness repeatable
        returned.append(client.capture("seeded"))  # personless: a random distinct id too
    assert client.flush(10)
    first, second = server.wait_for_events(2)
    assert [first["uuid"], second["uuid"]] == returned
    assert first["uuid"] != second["uuid"]
    assert first["distinct_id"] != second["distinct_id"]
    assert all(uuid.UUID(e["uuid"]).version == 4 for e in (first, second))
    client.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_repeat_the_parents_uuids() -> None:
    client = Posthog("phc", send=False)
    client.capture("before fork")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_end)
            ids = [client.capture("child") or "" for _ in range(5)]
            os.write(write_end, ",".join(ids).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    parent_ids = [client.capture("parent") for _ in range(5)]
    with os.fdopen(read_end, "rb") as pipe:
        child_ids = pipe.read().decode().split(",")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(child_ids) == 5 and all(uuid.UUID(i).version == 4 for i in child_ids)
    assert not set(child_ids) & set(parent_ids)
    client.shutdown()
