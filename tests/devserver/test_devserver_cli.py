"""The command line: ``posthog dev`` and ``python -m posthog_devserver``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from posthog.cli import main as posthog_main


def start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    proc = subprocess.Popen(
        args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # bounded: the server prints its banner, then keeps running
        lines.append(line)
        if line.strip().startswith("host="):
            return proc, line.split("=", 1)[1].strip(), lines
    proc.kill()
    proc.communicate(timeout=30)
    raise AssertionError(f"no banner: {lines} {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "posthog_devserver"],
        [sys.executable, "-c", "import sys; from posthog.cli import main; sys.exit(main())", "dev"],
    ],
    ids=["python-m", "posthog-dev"],
)
def test_server_starts_prints_its_address_and_stops_on_sigterm(
    command: list[str], tmp_path: Path
) -> None:
    proc, url, lines = start([*command, "--port", "0", "--project-api-key", "phc_k"], tmp_path)
    try:
        assert any(f"{url}/" in line for line in lines)  # the web page
        body = json.dumps({"api_key": "phc_k", "event": "cli", "distinct_id": "d"}).encode()
        req = urllib.request.Request(f"{url}/i/v0/e/", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"{url}/api/stats", timeout=10) as resp:
            assert json.loads(resp.read())["events"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    assert (tmp_path / "posthog-dev.db").exists()  # the default database, under the cwd


def test_help_and_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        posthog_main(["dev", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "posthog dev" in out and "--flags" in out and "--db" in out
    assert posthog_main([]) == 2
    with pytest.raises(SystemExit):
        posthog_main(["nope"])


def test_bad_database_is_reported(tmp_path: Path) -> None:
    db = tmp_path / "foreign.db"
    db.write_bytes(b"not a database at all" * 100)
    result = subprocess.run(
        [sys.executable, "-m", "posthog_devserver", "--port", "0", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "cannot start" in result.stderr
