"""Per-client proxy and CA bundle, and the AI endpoint, through the real transport."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from posthog import Posthog, TransportError
from posthog._transport import HTTPTransport, Request
from support.recording_server import RecordingServer


def test_plain_http_proxy_receives_absolute_form_requests(server: RecordingServer) -> None:
    client = Posthog(
        "phc", host="http://analytics.internal:8000", proxy=server.url, flush_interval=0.01
    )
    client.capture("through proxy", distinct_id="u")
    assert client.flush(10)
    [request] = server.requests
    assert request.path == "http://analytics.internal:8000/batch/"
    assert request.headers["host"] == "analytics.internal:8000"
    client.shutdown()


def test_capture_ai_goes_to_the_ai_endpoint(server: RecordingServer) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.01)
    client.capture_ai("$ai_generation", distinct_id="u", properties={"$ai_model": "m"})
    client.capture("normal", distinct_id="u")
    assert client.flush(10)
    ai = server.events("/i/v0/ai/batch/")
    assert [e["event"] for e in ai] == ["$ai_generation"]
    assert [e["event"] for e in server.events("/batch/")] == ["normal"]
    client.shutdown()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _tls_server(cert: Path, key: Path) -> RecordingServer:
    srv = RecordingServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    return srv


def test_ca_bundle_per_client(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    with _tls_server(cert, key) as srv:
        url = srv.url.replace("http://", "https://")
        trusted = Posthog("phc", host=url, ca_bundle=str(cert), flush_interval=0.01)
        trusted.capture("over tls", distinct_id="u")
        assert trusted.flush(10)
        assert [e["event"] for e in srv.events()] == ["over tls"]
        untrusted = HTTPTransport()
        with pytest.raises(TransportError):  # our type, never ssl.SSLError
            untrusted.request(Request("POST", url + "/batch/", {}, b"{}", 5))
        trusted.shutdown()
