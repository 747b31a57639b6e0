"""Browser end-to-end helpers: local origins that can throttle, a test player page, Chromium, and
the view figures read back from the warehouse.

The origins are plain ``http.server`` threads. One serves the player page and the SDK files;
others serve the HLS ladder like a CDN would: an ``X-CDN`` header the page may read
(``Access-Control-Expose-Headers``), CORS for the player's origin, no caching, and a shared
bandwidth cap and first-byte delay that a test turns on and off while the video plays.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / "player-sdk" / "js"
HLS_DIST = SDK_DIR / "node_modules" / "hls.js" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--autoplay-policy=no-user-gesture-required",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
)
_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
_CHUNK = 16 * 1024


def require_browser() -> None:
    """Skips the test, saying what is missing, unless Chromium and hls.js are installed."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed (`make system-deps` installs Chromium)")
    if not (HLS_DIST / "hls.mjs").is_file():
        pytest.skip(f"{HLS_DIST / 'hls.mjs'} is missing: run `make js-deps` (npm ci in player-sdk/js)")


class Pacer:
    """A bandwidth cap shared by every response of an origin, plus a delay before each first byte."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_at = 0.0
        self.kbps: float | None = None
        self.delay_ms = 0.0

    def set(self, kbps: float | None, delay_ms: float = 0.0) -> None:
        with self._lock:
            self.kbps, self.delay_ms = kbps, delay_ms
            self._next_at = time.monotonic()

    def first_byte(self) -> None:
        if self.delay_ms > 0:
            time.sleep(self.delay_ms / 1000)

    def pace(self, size: int) -> None:
        """Waits until ``size`` more bytes fit under the cap; returns at once when uncapped."""
        with self._lock:
            if self.kbps is None:
                return
            start = max(time.monotonic(), self._next_at)
            self._next_at = start + size * 8 / (self.kbps * 1000)
            ready_at = self._next_at
        time.sleep(max(0.0, ready_at - time.monotonic()))


class LocalOrigin:
    """An HTTP origin on a free loopback port: folders under URL prefixes, plus fixed pages."""

    def __init__(
        self,
        folders: Mapping[str, Path],
        pages: Mapping[str, str] | None = None,
        cdn: str | None = None,
    ) -> None:
        self.folders = {prefix.rstrip("/") + "/": folder for prefix, folder in folders.items()}
        self.pages = dict(pages or {})
        self.cdn = cdn
        self.pacer = Pacer()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"origin-{cdn}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LocalOrigin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def throttle(self, kbps: float | None, delay_ms: float = 0.0) -> None:
        """Caps this origin's bandwidth (all responses together) and delays first bytes; None lifts it."""
        self.pacer.set(kbps, delay_ms)

    def resolve(self, path: str) -> Path | None:
        for prefix, folder in self.folders.items():
            if path.startswith(prefix):
                candidate = (folder / path[len(prefix) :]).resolve()
                if candidate.is_relative_to(folder.resolve()) and candidate.is_file():
                    return candidate
        return None

    def __enter__(self) -> LocalOrigin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _handler_for(origin: LocalOrigin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_OPTIONS(self) -> None:
            self._head(HTTPStatus.NO_CONTENT, "text/plain", 0)

        def do_GET(self) -> None:
            path = unquote(urlsplit(self.path).path)
            page = origin.pages.get(path)
            if page is not None:
                self._send(HTTPStatus.OK, _CONTENT_TYPES[".html"], page.encode())
                return
            found = origin.resolve(path)
            if found is None:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found")
                return
            kind = _CONTENT_TYPES.get(found.suffix, "application/octet-stream")
            self._send(HTTPStatus.OK, kind, found.read_bytes())

        def _head(self, status: HTTPStatus, kind: str, size: int) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(size))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", "X-CDN")
            if origin.cdn:
                self.send_header("X-CDN", origin.cdn)
            self.end_headers()

        def _send(self, status: HTTPStatus, kind: str, body: bytes) -> None:
            origin.pacer.first_byte()
            try:
                self._head(status, kind, len(body))
                for start in range(0, len(body), _CHUNK):
                    chunk = body[start : start + _CHUNK]
                    origin.pacer.pace(len(chunk))
                    self.wfile.write(chunk)
            except ConnectionError:  # the player aborted the request (an ABR emergency switch)
                return

    return Handler


# The test player: hls.js from node_modules, optionally our SDK and/or hls.js's own CMCD event
# reporting, and what hls.js and the element did, kept on window.truth as ground truth.
PLAYER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>e2e player</title></head>
<body><video id="video" muted playsinline width="640" height="360"></video>
<script type="module">
const q = new URLSearchParams(location.search);
const truth = { playAt: null, firstFrameAt: null, playing: [], waiting: [], switches: [], switching: [],
                fragments: 0, errors: [], viewId: null, sends: [], sdkErrors: [], ready: false };
window.truth = truth;
const { default: Hls } = await import('/sdk/node_modules/hls.js/dist/hls.mjs');
const video = document.getElementById('video');
const config = {};
const buffer = Number(q.get('buffer'));
if (buffer > 0) Object.assign(config, { maxBufferLength: buffer, maxMaxBufferLength: buffer });
if (q.get('cmcd')) {
  config.cmcd = { version: 2, sessionId: q.get('sid'), contentId: q.get('title') || 'bbb',
                  eventTargets: [{ url: q.get('cmcd'), events: ['ps', 'e', 't', 'rr', 'bc'], interval: 2 }] };
}
const hls = new Hls(config);
window.hls = hls;
hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => truth.switches.push({ at: Date.now(), level: d.level,
  kbps: hls.levels[d.level].bitrate / 1000 }));
hls.on(Hls.Events.LEVEL_SWITCHING, (_, d) => truth.switching.push({ at: Date.now(), kbps: d.bitrate / 1000 }));
hls.on(Hls.Events.FRAG_LOADED, () => { truth.fragments += 1; });
hls.on(Hls.Events.ERROR, (_, d) => truth.errors.push(`${d.fatal ? 'FATAL ' : ''}${d.type}/${d.details}`));
video.addEventListener('play', () => { truth.playAt ??= Date.now(); });
video.addEventListener('playing', () => truth.playing.push(Date.now()));
video.addEventListener('waiting', () => truth.waiting.push(Date.now()));
video.requestVideoFrameCallback(() => { truth.firstFrameAt = Date.now(); });
let monitor = null;
if (q.get('endpoint')) {
  const sdk = await import('/sdk/src/index.js');
  monitor = sdk.trackHls(hls, video, {
    endpoint: q.get('endpoint'), heartbeatIntervalMs: 2000,
    context: { title_id: q.get('title') || 'bbb', title: 'Big Buck Bunny' },
    onViewStart: (id) => { truth.viewId = id; },
    onSend: (report) => truth.sends.push(report),
    onError: (error, where) => truth.sdkErrors.push(`${where}: ${error}`),
  });
}
window.endView = () => monitor?.detach();
window.stopPlayer = () => hls.destroy();
hls.loadSource(q.get('src'));
hls.attachMedia(video);
// Play intent at once, like a click on play: the 'play' event comes now, the first frame once
// the playlists and first segments are in (the element's autoplay would fire 'play' only then).
video.play().catch((error) => truth.errors.push(`FATAL play(): ${error}`));
truth.ready = true;
</script></body></html>
"""


def player_site() -> LocalOrigin:
    """The page's own origin: the test player and the SDK's files (src and hls.js only)."""
    folders = {"/sdk/src": SDK_DIR / "src", "/sdk/node_modules/hls.js/dist": HLS_DIST}
    return LocalOrigin(folders, pages={"/player.html": PLAYER_PAGE})


def media_origin(ladder_dir: Path, cdn: str) -> LocalOrigin:
    return LocalOrigin({"/": ladder_dir}, cdn=cdn)


def copy_ladder(ladder_dir: Path, data_dir: Path) -> Path:
    """Puts a built ladder where the gateway's demo looks for it (``{data_dir}/media/bbb``)."""
    target = data_dir / "media" / "bbb"
    shutil.copytree(ladder_dir, target)
    return target


# --- figures of a view, read back from the platform ------------------------------------------


@dataclass(frozen=True)
class ViewFigures:
    """What the tests check of a view: the fields of the ``/v1/views/{id}`` contract they need."""

    played: bool
    vst_ms: int | None
    watch_ms: int
    stall_count: int
    stall_ms: int
    upswitches: int
    downswitches: int
    cdn: str
    bitrates: tuple[float, ...]  # the renditions reported from the view start on, repeats folded

    @classmethod
    def from_view(cls, view: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> ViewFigures:
        """From the ``view`` of ``GET /v1/views/{id}``; the renditions from the raw event ``rows``."""
        return cls(
            played=bool(view["played"]),
            vst_ms=view["vst_ms"],
            watch_ms=int(view["watch_ms"]),
            stall_count=int(view["stall_count"]),
            stall_ms=int(view["stall_ms"]),
            upswitches=int(view["upswitches"]),
            downswitches=int(view["downswitches"]),
            cdn=str(view["cdn"]),
            bitrates=cls.from_events(rows).bitrates,
        )

    @classmethod
    def from_events(cls, rows: Sequence[Mapping[str, Any]]) -> ViewFigures:
        """Derived from the raw events (``GET /v1/events?view_id=``), by the REFERENCE §2 definitions."""
        events = sorted((row["attrs"] for row in rows), key=lambda e: int(e["seq"]))
        at = {e["type"]: int(e["ts"]) for e in reversed(events)}  # first occurrence of each type
        start = at.get("playback_start")
        end = max(int(e["ts"]) for e in events)
        stalls = _spans(events, "stall_start", "stall_end", end)
        pauses = _spans(events, "pause", "resume", end)
        ups, downs = _switches(events, start)
        return cls(
            played=start is not None,
            vst_ms=None if start is None or "playback_request" not in at else start - at["playback_request"],
            watch_ms=0 if start is None else end - start - sum(pauses),
            stall_count=len(stalls),
            stall_ms=sum(stalls),
            upswitches=ups,
            downswitches=downs,
            cdn=next((str(row["cdn"]) for row in rows if row.get("cdn")), ""),
            bitrates=tuple(fold([float(e["bitrate_kbps"]) for e in events if e["type"] == "rendition_change"])),
        )


def _spans(events: list[Mapping[str, Any]], opens: str, closes: str, end: int) -> list[int]:
    spans, opened = [], None
    for event in events:
        if event["type"] == opens and opened is None:
            opened = int(event["ts"])
        elif event["type"] == closes and opened is not None:
            spans.append(int(event["ts"]) - opened)
            opened = None
    return spans + ([end - opened] if opened is not None else [])


def _switches(events: list[Mapping[str, Any]], start: int | None) -> tuple[int, int]:
    ups = downs = 0
    previous: float | None = None
    for event in events:
        if event["type"] != "rendition_change":
            continue
        bitrate = float(event["bitrate_kbps"])
        if start is not None and previous is not None and int(event["ts"]) >= start:
            ups += bitrate > previous
            downs += bitrate < previous
        previous = bitrate
    return ups, downs


def fold(values: list[float]) -> list[float]:
    """Consecutive repeats folded: the renditions in the order they were used."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


def truth_switches(switches: list[Mapping[str, Any]], since_ms: float) -> tuple[list[float], int, int]:
    """hls.js LEVEL_SWITCHED as ground truth: bitrates from ``since_ms`` on, and the ups and downs after it."""
    kbps = [float(s["kbps"]) for s in switches]
    before = [k for s, k in zip(switches, kbps, strict=True) if s["at"] < since_ms]
    after = [k for s, k in zip(switches, kbps, strict=True) if s["at"] >= since_ms]
    sequence = fold(before[-1:] + after)
    ups = sum(b > a for a, b in itertools.pairwise(sequence))
    downs = sum(b < a for a, b in itertools.pairwise(sequence))
    return sequence, ups, downs


def truth_stalls(truth: Mapping[str, Any], until_ms: float) -> list[float]:
    """Each ``waiting`` after the first frame, until the next ``playing`` (or ``until_ms``)."""
    first_frame = float(truth["firstFrameAt"])
    playing = sorted(float(p) for p in truth["playing"])
    stalls = []
    for waited in sorted(float(w) for w in truth["waiting"]):
        if waited <= first_frame:
            continue
        resumed = next((p for p in playing if p >= waited), until_ms)
        stalls.append(resumed - waited)
    return stalls
