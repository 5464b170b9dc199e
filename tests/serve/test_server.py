"""``elman serve`` as a process on a loopback port, through its HTTP API: request bodies a
hostile client sends (issue 26) are answered with a JSON 4xx and one sentence, never a
plain-text 500; and a port it cannot listen on is refused with one sentence, exit code 2."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from tests.cli.test_lm import elman
from tests.parts import require_module

require_module("starlette", "elman serve needs the [serve] extra: pip install 'elman[serve]'")
require_module("uvicorn", "elman serve needs the [serve] extra: pip install 'elman[serve]'")


def post(url: str, body: bytes) -> tuple[int, str, str]:
    """POST ``body`` as it is: (status, content type, text)."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


HUGE = "9" * 5000  # more digits than Python reads as an int (4,300)
SURROGATE = '"\\ud800"'  # JSON for half of a surrogate pair, not a character

HOSTILE = [
    ("generate", f'{{"model": "lm", "length": {HUGE}}}', "number too long to read"),
    ("generate", f'{{"model": "lm", "seed": {HUGE}}}', "number too long to read"),
    ("generate", "[" * 100_000 + "]" * 100_000, "is over"),  # the size limit comes first
    ("generate", "[" * 30_000 + "]" * 30_000, "nested too deeply"),
    ("generate", '{"model": "lm", "a": ' + "[" * 20_000 + "]" * 20_000 + "}", "nested too"),
    ("tag", f'{{"model": "tagger", "text": {SURROGATE}}}', "'text' holds U+D800"),
    ("translate", f'{{"model": "translator", "text": {SURROGATE}}}', "'text' holds U+D800"),
    ("units", f'{{"model": "lm", "text": "a{SURROGATE[1:]}}}', "'text' holds U+D800"),
    ("generate", f'{{"model": "lm", "prompt": {SURROGATE}}}', "'prompt' holds U+D800"),
    ("score", f'{{"model": {SURROGATE}, "text": "a"}}', "'model' holds U+D800"),
]


@pytest.mark.parametrize(("endpoint", "body", "message"), HOSTILE)
def test_hostile_bodies_get_a_json_4xx(server, endpoint, body, message):
    status, content_type, text = post(f"{server}/api/{endpoint}", body.encode())
    assert 400 <= status < 500, (status, text[:200])
    assert content_type.startswith("application/json")
    error = json.loads(text)["error"]
    assert message in error and "\n" not in error and "Traceback" not in text


def test_the_server_still_answers_after_them(server):
    status, _, text = post(f"{server}/api/generate", b'{"model": "lm", "length": 5}')
    assert status == 200 and len(json.loads(text)["text"]) == 5


def refused(result, message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("elman: error: "), result.stderr
    assert message in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_a_port_out_of_range_is_one_sentence(model_dirs, port):
    result = elman("serve", "--model", model_dirs["lm"], "--port", port)
    refused(result, f"--port must be between 1 and 65535, got {port}")


def test_a_port_in_use_is_one_sentence(model_dirs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = elman("serve", "--model", model_dirs["lm"], "--port", port)
    refused(result, f"cannot listen on 127.0.0.1:{port} (Address already in use)")
    assert "another program listens there; choose another --port" in result.stderr
    assert result.stdout == ""
