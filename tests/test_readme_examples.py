"""The README's curl examples, run as a newcomer runs them, against a running stack: the README cannot rot."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from foundation.stack import LocalStack
from tests.factories.waiting import wait_for

README = Path(__file__).resolve().parent.parent / "README.md"
README_GATEWAY = "localhost:8000"
README_TOKEN_FILE = ".qoe/run/admin-token"  # where `qoe up` keeps its admin token
ARRIVAL_S = 30.0


def curl_commands(markdown: str) -> list[str]:
    """The ``curl`` commands of the markdown's code blocks; a command goes on while a quote is open."""
    commands = []
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE):
        pending = ""
        for line in block.splitlines():
            if not pending and not line.startswith("curl "):
                continue
            pending = f"{pending}\n{line}" if pending else line
            try:
                shlex.split(pending)
            except ValueError:  # "No closing quotation": the command continues on the next line
                continue
            commands.append(pending)
            pending = ""
    return commands


def run(command: str) -> tuple[int, bytes]:
    """(HTTP status, body) of one curl command, run by bash as it is written."""
    env = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}
    done = subprocess.run(
        ["bash", "-c", f"{command} -sS -w '\\n%{{http_code}}'"], capture_output=True, env=env, timeout=30, check=False
    )
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status or 0), body


def run_until_answered(command: str) -> bytes:
    """The body of the command's first 2xx answer. What the README promises: a posted beacon is
    queryable "a moment later"."""
    _, body = wait_for(
        lambda: run(command), ARRIVAL_S, command, until=lambda answer: 200 <= answer[0] < 300, poll_s=0.5
    )
    return body


def test_the_curl_commands_are_found() -> None:
    example = "```\ncurl -X POST x -d '{\n  \"a\": 1}'\ncurl 'x?y=1'\nnot curl\n```\n"
    assert curl_commands(example) == ["curl -X POST x -d '{\n  \"a\": 1}'", "curl 'x?y=1'"]
    assert len(curl_commands(README.read_text())) >= 2


@pytest.mark.integration
def test_the_readmes_examples_work_on_a_fresh_stack(tmp_path: Path) -> None:
    commands = curl_commands(README.read_text())
    with LocalStack(tmp_path / "qoe") as stack:
        gateway = stack.gateway.removeprefix("http://")
        token_file = tmp_path / "admin-token"
        token_file.write_text(f"{stack.admin_token}\n")
        for command in commands:
            ours = command.replace(README_GATEWAY, gateway).replace(README_TOKEN_FILE, str(token_file))
            body = run_until_answered(ours)
            if "/v1/events?" in command:
                events = orjson.loads(body)["events"]
                sent = datetime.fromisoformat(events[0]["ts"])
                assert abs(sent - datetime.now(UTC)) < timedelta(hours=1), "the example's ts is not the current time"
