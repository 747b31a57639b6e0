"""A steering client for the simulator's players: asks the steering service over HTTP, like hls.js.

Each view behaves as an HLS player with ``#EXT-X-CONTENT-STEERING`` does (REFERENCE §6): it
fetches the steering manifest from the SERVER-URI (our endpoint with the viewer's group on the
query, as the playlist writer puts it there) with ``_HLS_pathway`` and ``_HLS_throughput``, then
follows the RELOAD-URI every TTL. A 410 stops steering for the view; a failed or slow request
keeps the last answer, as a player keeps its pathway.

The simulator calls choosers synchronously (``qoe_sim.chooser``), so fetches run as tasks on the
simulation's event loop and ``choose`` answers from what has arrived: at view start the
default order (the playlist's own) with a short delay until the first manifest is in, as
hls.js applies the manifest when it arrives; then the manifest, fetched ``prefetch_s`` before
each TTL reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin

import aiohttp

from qoe_sim.chooser import ChoiceRequest, SegmentFeedback, SteeringDecision, ViewerGroup
from qoe_sim.metrics import ViewMetrics
from schemas.steering import Group, device_class

log = logging.getLogger(__name__)

FIRST_ANSWER_MS = 300.0  # how soon a starting view looks again for its first manifest
RETRY_MS = 1_000.0  # … and after a fetch that has not answered yet


def steering_group(group: ViewerGroup) -> Group:
    """The steering group of a simulated viewer, mapped as the score agent maps beacons."""
    return Group(group.country, group.asn, device_class(group.device_type), group.stream_type)


@dataclass
class _ViewSteering:
    group: ViewerGroup
    url: str
    priority: tuple[str, ...]
    ttl_s: float | None = None  # None until the first manifest arrived
    stopped: bool = False  # 410: this view does not steer any more
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    throughput_bps: float = 0.0


@dataclass(frozen=True, slots=True)
class ManifestSeen:
    """A manifest a view received, for measurements (wall-clock seconds)."""

    at: float
    group_key: str
    priority: tuple[str, ...]


@dataclass
class ClientStats:
    fetches: int = 0
    failures: int = 0
    stopped: int = 0
    seen: list[ManifestSeen] = field(default_factory=list)


class HttpSteeringChooser:
    """``qoe_sim.chooser.CdnChooser`` backed by the HTTP steering service."""

    def __init__(
        self,
        base_url: str,
        *,
        protocol: str = "hls",
        timeout_s: float = 2.0,
        prefetch_s: float = 0.5,
        max_connections: int = 64,
        record: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if protocol not in ("hls", "dash"):
            raise ValueError("protocol must be hls or dash")
        self.endpoint = f"{base_url.rstrip('/')}/v1/steering/{protocol}"
        self.protocol = protocol
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.prefetch_s = prefetch_s
        self.max_connections = max_connections
        self.record = record
        self.clock = clock
        self.stats = ClientStats()
        self._views: dict[str, _ViewSteering] = {}
        self._session: aiohttp.ClientSession | None = None

    # --- the chooser protocol ---------------------------------------------------------------

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        view = self._views.get(request.view_id)
        if view is None:
            view = self._start(request)
            return SteeringDecision(view.priority, FIRST_ANSWER_MS)
        if view.stopped:
            return SteeringDecision(view.priority, None)
        if view.ttl_s is None:  # the first manifest is not in yet
            return SteeringDecision(view.priority, RETRY_MS)
        if request.reason == "reload":
            self._schedule_fetch(view, request, max(0.0, view.ttl_s - self.prefetch_s))
        return SteeringDecision(view.priority, view.ttl_s * 1000)

    def observe(self, feedback: SegmentFeedback) -> None:
        view = self._views.get(feedback.view_id)
        if view is not None and feedback.ok and feedback.duration_ms > 0:
            view.throughput_bps = feedback.bits / feedback.duration_ms * 1000

    def view_ended(self, metrics: ViewMetrics) -> None:
        view = self._views.pop(metrics.view_id, None)
        if view is not None:
            if view.timer is not None:
                view.timer.cancel()
            if view.task is not None:
                view.task.cancel()

    async def close(self) -> None:
        for view in self._views.values():
            if view.task is not None:
                view.task.cancel()
        if self._session is not None:
            await self._session.close()

    # --- fetching ---------------------------------------------------------------------------

    def _start(self, request: ChoiceRequest) -> _ViewSteering:
        group = steering_group(request.group)
        params = {
            "country": group.country,
            "asn": "" if group.asn is None else str(group.asn),
            "device": group.device,
            "stream_type": group.stream_type,
        }
        url = f"{self.endpoint}?{urlencode({k: v for k, v in params.items() if v})}"
        view = _ViewSteering(request.group, url, tuple(request.cdns))
        self._views[request.view_id] = view
        self._fetch_now(view, request.current)
        return view

    def _schedule_fetch(self, view: _ViewSteering, request: ChoiceRequest, delay_s: float) -> None:
        if view.timer is not None:
            view.timer.cancel()
        current = request.current
        view.timer = asyncio.get_running_loop().call_later(delay_s, self._fetch_now, view, current)

    def _fetch_now(self, view: _ViewSteering, current: str | None) -> None:
        if view.task is not None and not view.task.done():
            return
        view.task = asyncio.get_running_loop().create_task(self._fetch(view, current))

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def _fetch(self, view: _ViewSteering, current: str | None) -> None:
        prefix = "_HLS" if self.protocol == "hls" else "_DASH"
        extra = {f"{prefix}_pathway": current or view.priority[0]}
        if view.throughput_bps > 0:
            extra[f"{prefix}_throughput"] = str(int(view.throughput_bps))
        url = view.url + ("&" if "?" in view.url else "?") + urlencode(extra)
        self.stats.fetches += 1
        try:
            async with self._session_now().get(url) as response:
                if response.status == 410:
                    view.stopped = True
                    self.stats.stopped += 1
                    return
                response.raise_for_status()
                manifest = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.stats.failures += 1
            log.debug("steering fetch failed (%s); keeping %s", type(exc).__name__, view.priority)
            return
        self._apply(view, manifest)

    def _apply(self, view: _ViewSteering, manifest: object) -> None:
        if not isinstance(manifest, dict):
            self.stats.failures += 1
            return
        priority = manifest.get("PATHWAY-PRIORITY")
        ttl = manifest.get("TTL")
        if not isinstance(priority, list) or not priority or not isinstance(ttl, int | float) or ttl <= 0:
            self.stats.failures += 1
            return
        view.priority = tuple(str(p) for p in priority)
        view.ttl_s = float(ttl)
        reload = manifest.get("RELOAD-URI")
        if isinstance(reload, str) and reload:
            view.url = urljoin(view.url, reload)
        if self.record:
            group = steering_group(view.group)
            self.stats.seen.append(ManifestSeen(self.clock(), group.key, view.priority))


def steering_chooser(base_url: str, cdns: Sequence[str] = ()) -> HttpSteeringChooser:
    """For ``qoe simulate --steering-url URL``: the audience asks our service for its CDN."""
    del cdns  # the service knows the pathways; players fall back to the CDNs they know
    return HttpSteeringChooser(base_url)


async def close_quietly(chooser: HttpSteeringChooser) -> None:
    with contextlib.suppress(Exception):
        await chooser.close()
