"""Local and remote evaluation agree against the local PostHog-compatible dev server."""

from __future__ import annotations

import json
import random
from pathlib import Path

from flag_support import PROJECT_KEY, SECRET, client, cond, definitions, flag, prop

from posthog_devserver.server import DevServer

DEFS = definitions(
    flag("plan", cond(prop("plan", ["pro", "team"])), cond(rollout=30), id=1),
    flag("mv", cond(rollout=80), variants=[("a", 50), ("b", 50)], id=2),
    flag("age", cond(prop("age", 30, "gt"), rollout=70), id=3),
    flag("mail", cond(prop("email", "@example.com", "icontains")), id=4),
)


def test_local_and_remote_evaluation_agree(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(DEFS))
    server = DevServer(
        port=0,
        db=":memory:",
        flags_path=str(path),
        project_api_key=PROJECT_KEY,
        personal_api_key=SECRET,
    ).start()
    try:
        c = client(server.url, secret_key=SECRET, send=False)
        rng = random.Random(5)
        for i in range(40):
            props = {
                "plan": rng.choice(["free", "pro", "team"]),
                "age": rng.randint(10, 60),
                "email": rng.choice(["x@example.com", "y@corp.io"]),
            }
            ident = f"user-{i}"
            for key in ("plan", "mv", "age", "mail"):
                local = c.get_feature_flag_result(
                    key, ident, person_properties=props, send_feature_flag_events=False
                )
                assert local is not None and local.locally_evaluated
                remote = c._flags.remote(  # the raw /flags call, same subject
                    c._query(ident, {"person_properties": props}), [key]
                ).flags[key]
                assert remote.value == local.get_value(), (key, ident, props)
    finally:
        server.stop()
