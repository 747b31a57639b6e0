"""Waiting for what a running stack, server or thread does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import httpx

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    timeout_s: float,
    what: str,
    *,
    until: Callable[[T], object] = bool,
    poll_s: float = 0.25,
    tolerate: tuple[type[Exception], ...] = (),
) -> T:
    """``probe()`` every ``poll_s`` until ``until`` holds for its answer, which is returned.

    Fails after ``timeout_s`` naming ``what`` and the last answer. No probe starts after the deadline,
    so a limit the test asserts (a revocation within 5 s) is not stretched by a late success. None,
    or a ``tolerate`` exception, is an answer that is not there yet (a server still starting).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = probe()
        except tolerate as error:
            last: object = error
        else:
            if answer is not None and until(answer):
                return answer
            last = answer
        time.sleep(poll_s)
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; last answer: {last!r}")


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200


def wait_for_answer(
    url: str,
    timeout_s: float,
    *,
    until: Callable[[httpx.Response], object] = _ok,
    headers: dict[str, str] | None = None,
    poll_s: float = 0.25,
) -> httpx.Response:
    """The first answer of a GET of ``url`` that ``until`` accepts (a 200 unless told); a refused
    connection is a server still starting."""
    get = partial(httpx.get, url, headers=headers, timeout=2)
    return wait_for(get, timeout_s, f"an answer of {url}", until=until, poll_s=poll_s, tolerate=(httpx.HTTPError,))
