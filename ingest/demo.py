"""The demo on the gateway: the player page, the browser SDK and the Big Buck Bunny ladder.

Open ``http://127.0.0.1:8000/demo/`` under ``qoe up`` and your own view shows up on the
dashboards: the page plays the ladder with hls.js and reports to ``/v1/beacons`` on the same
origin.

- ``/demo``, ``/demo/`` → ``/sdk/demo/`` with the query kept, or a page that reloads itself
  while the ladder is still being built.
- ``/sdk/src/``, ``/sdk/demo/``, ``/sdk/node_modules/hls.js/dist/`` → those folders of
  ``player-sdk/js`` and nothing else of it (the page imports ``../src`` and
  ``../node_modules/hls.js/dist`` relative to itself).
- ``/media/bbb/`` → ``{data_dir}/media/bbb``, built by :mod:`ingest.media` (about 20 s of ffmpeg
  on two cores, then cached on disk). Until it is there: 503 with Retry-After.

When to build is the caller's choice (:data:`MediaBuild`): at gateway start, on the first
request for the demo or the media, or never (serve what ``qoe media-ladder`` built).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from foundation.http import OrjsonResponse
from foundation.settings import default_of
from ingest.media import MediaError, build_hls_ladder, load_ladder

log = logging.getLogger(__name__)

SDK_DIR = Path(__file__).resolve().parents[1] / "player-sdk" / "js"
SDK_PARTS = ("src", "demo", "node_modules/hls.js/dist")  # what the page loads; no tests, no other packages
MEDIA_PATH = "/media/bbb"
DEMO_PAGE = "/sdk/demo/"

MediaBuild = Literal["start", "lazy", "off"]
LadderState = Literal["idle", "building", "ready", "failed", "absent"]


class MediaLadder:
    """The demo ladder directory, built once in a background thread; an ASGI app serving it when ready."""

    def __init__(
        self,
        directory: Path,
        mode: MediaBuild = "lazy",
        *,
        build: Callable[[Path], object] = build_hls_ladder,
        retry_after_s: int = default_of("retry_after_s"),
    ) -> None:
        self.directory = directory
        self.mode = mode
        self.retry_after_s = retry_after_s
        self.error = ""
        self._build = build
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._files = StaticFiles(directory=directory, check_dir=False)
        built = _is_built(directory)
        self.state: LadderState = "idle" if mode != "off" else ("ready" if built else "absent")
        # A ladder already on disk only needs its cache check, which takes milliseconds: do it now.
        if mode == "start" or (mode == "lazy" and built):
            self.ensure_started()

    def ensure_started(self) -> None:
        """Starts the build unless it ran or runs already (or building is off)."""
        with self._lock:
            if self.state != "idle":
                return
            self.state = "building"
            self._thread = threading.Thread(target=self._run, name="demo-media-build", daemon=True)
            self._thread.start()

    def wait(self, timeout_s: float) -> LadderState:
        """Blocks until the build is over (for tests and scripts); returns the state."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return self.state

    def _run(self) -> None:
        log.info("building the demo ladder in %s", self.directory)
        try:
            self._build(self.directory)
        except MediaError as exc:
            self.error = str(exc)
            self.state = "failed"
            log.error("demo ladder build failed: %s", exc)
            return
        except Exception as exc:  # a build thread must leave a reason behind, whatever went wrong
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            log.exception("demo ladder build failed")
            return
        self.state = "ready"
        log.info("demo ladder ready in %s", self.directory)

    def not_ready(self) -> Response | None:
        """The answer while the ladder cannot be served (starting the build if it is lazy), else None."""
        if self.state == "ready":
            return None
        if self.state == "absent":
            detail = f"the demo ladder is not built in {self.directory}: run `qoe media-ladder --out {self.directory}`"
            return OrjsonResponse({"detail": detail}, status_code=404)
        if self.state == "failed":
            return OrjsonResponse({"detail": f"the demo ladder could not be built: {self.error}"}, status_code=500)
        self.ensure_started()
        return OrjsonResponse(
            {"detail": "the demo ladder is being built (about 20 s); retry"},
            status_code=503,
            headers={"Retry-After": str(self.retry_after_s)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self.not_ready()
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._files(scope, receive, send)


def _is_built(directory: Path) -> bool:
    try:
        load_ladder(directory)
    except MediaError:
        return False
    return True


class _Missing:
    """Answers 404 with what to do, for an SDK folder this checkout does not have."""

    def __init__(self, detail: str) -> None:
        self.detail = detail

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await OrjsonResponse({"detail": self.detail}, status_code=404)(scope, receive, send)


def sdk_app(folder: Path) -> ASGIApp:
    if folder.is_dir():
        return StaticFiles(directory=folder, html=True)  # html: a folder answers with its index.html
    hint = "run `make js-deps`" if "node_modules" in folder.parts else "serve the gateway from a source checkout"
    return _Missing(f"{folder} does not exist: {hint}")


def demo_router(ladder: MediaLadder) -> APIRouter:
    router = APIRouter()

    @router.get("/demo", include_in_schema=False)
    @router.get("/demo/", include_in_schema=False)
    async def demo(request: Request) -> Response:
        refusal = ladder.not_ready()
        if refusal is None:
            query = request.url.query
            return RedirectResponse(DEMO_PAGE + (f"?{query}" if query else ""), status_code=307)
        return _waiting_page(refusal, ladder)

    return router


def _waiting_page(refusal: Response, ladder: MediaLadder) -> HTMLResponse:
    if refusal.status_code == 503:
        text = "Building the demo video with ffmpeg (about 20 s). This page reloads by itself."
        refresh = f'<meta http-equiv="refresh" content="{ladder.retry_after_s}">'
    else:
        text = html.escape(bytes(refusal.body).decode(errors="replace"))
        refresh = ""
    page = f"<!doctype html><html><head><meta charset='utf-8'>{refresh}<title>QoE demo</title></head>"
    page += f"<body><h1>QoE demo</h1><p>{text}</p></body></html>"
    return HTMLResponse(page, status_code=refusal.status_code, headers=_retry_after(refusal))


def _retry_after(response: Response) -> dict[str, str]:
    value = response.headers.get("retry-after")
    return {"Retry-After": value} if value else {}


def mount_demo(app: FastAPI, ladder: MediaLadder, sdk_dir: Path = SDK_DIR) -> None:
    """Adds the demo page, the SDK folders and the ladder to ``app``; keeps the ladder on ``app.state``."""
    app.state.demo_media = ladder
    app.include_router(demo_router(ladder))
    for part in SDK_PARTS:
        app.mount(f"/sdk/{part}", sdk_app(sdk_dir / part), name=f"sdk-{part.replace('/', '-')}")
    app.mount(MEDIA_PATH, ladder, name="media-bbb")
