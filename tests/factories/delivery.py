"""Factories for delivery tests: CDN score records, boards, steering configs and services."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import orjson
import pandas as pd

from delivery.steering.manifest import PathwayClone
from delivery.steering.policy import PolicyConfig
from delivery.steering.scores import ScoreBoard
from delivery.steering.service import InMemoryDecisionLog, SteeringConfig, SteeringService
from foundation.settings import default_of
from schemas.steering import GLOBAL, CdnScore, Group

if TYPE_CHECKING:
    from foundation.stack import LocalStack

T0 = datetime(2026, 9, 21, 20, 0, tzinfo=UTC)
NO_MOBILE_LIVE = Group("NO", 2119, "mobile", "live")
PATHWAYS = ("cdn-a", "cdn-b", "cdn-c")


def score(
    cdn: str,
    qoe: float,
    *,
    group: Group = NO_MOBILE_LIVE,
    views: int = 500,
    window_end: datetime = T0,
    **overrides: Any,
) -> CdnScore:
    fields: dict[str, Any] = {
        "rebuffering_ratio": max(0.0, (100 - qoe) / 1000),
        "vst_p50_ms": 900.0,
        "failure_rate": 0.002,
        "avg_bitrate_kbps": 4200.0,
        "window_s": 60,
        **overrides,
    }
    return CdnScore(cdn=cdn, group=group, views=views, qoe_score=qoe, window_end=window_end, **fields)


def board(*scores: CdnScore) -> ScoreBoard:
    """A board holding ``scores``, with the settings' trust limits."""
    result = ScoreBoard()
    result.put_all(scores)
    return result


def global_shares(views: dict[str, int], window_end: datetime = T0) -> list[CdnScore]:
    """Global-level records whose views give each CDN the wanted share of traffic."""
    return [score(cdn, 80.0, group=GLOBAL, views=count, window_end=window_end) for cdn, count in views.items()]


def policy_config(pathways: Iterable[str] = PATHWAYS, **overrides: Any) -> PolicyConfig:
    return PolicyConfig(pathways=tuple(pathways), **overrides)


def steering_service(
    *scores: CdnScore,
    clones: tuple[PathwayClone, ...] = (),
    seed: int = 7,
    now: datetime = T0,
    ttl_s: int = default_of("steering_ttl_s"),
    **policy_overrides: Any,
) -> tuple[SteeringService, InMemoryDecisionLog]:
    pathways = policy_overrides.pop("pathways", PATHWAYS + tuple(c.id for c in clones))
    config = SteeringConfig(policy_config(pathways, **policy_overrides), ttl_s=ttl_s, clones=clones)
    decisions = InMemoryDecisionLog()
    service = SteeringService(
        config, board(*scores), decision_log=decisions, rng=random.Random(seed), clock=lambda: now
    )
    return service, decisions


def later(seconds: float, start: datetime = T0) -> datetime:
    return start + timedelta(seconds=seconds)


# --- autoscaling ------------------------------------------------------------------------------


def daily_pattern(minutes: np.ndarray, low: float = 20_000.0, high: float = 100_000.0) -> np.ndarray:
    """A smooth, exactly repeating diurnal curve (peak at 20:00 UTC)."""
    phase = 2 * np.pi * (minutes % 1440 - 20 * 60) / 1440
    return np.asarray(low + (high - low) * (1 + np.cos(phase)) / 2)


def demand_frame(
    end: datetime,
    *,
    days: float = 3.5,
    regions: dict[str, float] | None = None,
    bits_per_viewer: float = 4.5e6,
    noise: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """Per-minute demand per region up to (not including) ``end``, as a DemandSource returns it."""
    regions = regions or {"eu": 1.0}
    rng = np.random.default_rng(seed)
    count = int(days * 1440)
    start = end - timedelta(minutes=count)
    minutes = pd.date_range(start, periods=count, freq="min")
    minute_of_day = np.asarray(minutes.hour * 60 + minutes.minute)
    frames = []
    for region, scale in regions.items():
        viewers = scale * daily_pattern(minute_of_day) * (1 + rng.normal(0, noise, count))
        frames.append(
            pd.DataFrame(
                {"minute": minutes, "region": region, "concurrency": viewers, "egress_bps": viewers * bits_per_viewer}
            )
        )
    return pd.concat(frames, ignore_index=True)


class FakeDemandSource:
    """Serves a fixed frame, filtered to the asked interval; counts calls; can be made to fail."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.calls = 0
        self.fail_with: Exception | None = None

    def __call__(self, since: datetime, until: datetime) -> pd.DataFrame:
        self.calls += 1
        if self.fail_with is not None:
            raise self.fail_with
        minutes = pd.to_datetime(self.frame["minute"], utc=True)
        return self.frame[(minutes >= since) & (minutes < until)]


# --- live scores: beacons as ingest writes them ----------------------------------------------


T0_MS = int(T0.timestamp() * 1000)


class BeaconWriter:
    """Beacons of one view, with seq numbers and a fixed clock offset, as ingest records them."""

    def __init__(
        self,
        view_id: str = "v1",
        *,
        cdn: str = "cdn-a",
        country: str = "NO",
        asn: int | None = 2119,
        device_type: str = "phone",
        stream_type: str = "live",
        clock_offset_ms: int = 0,
        base_ms: int = T0_MS,
    ) -> None:
        self.view_id = view_id
        self.base_ms = base_ms
        self.context: dict[str, Any] = {
            "cdn": cdn,
            "country": country,
            "device_type": device_type,
            "stream_type": stream_type,
        }
        if asn is not None:
            self.context["asn"] = asn
        self.offset = clock_offset_ms
        self.seq = 0

    def event(self, event_type: str, at_ms: int, **fields: Any) -> dict[str, Any]:
        event = {"type": event_type, "ts": self.base_ms + at_ms, "seq": self.seq, "playhead_ms": 0, **fields}
        self.seq += 1
        return event

    def beacon(self, *events: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(beacon, server context); sent when its last event happened, received ``offset`` later."""
        sent = max(e["ts"] for e in events)
        beacon = {
            "version": 1,
            "view_id": self.view_id,
            "viewer_id": "viewer-" + self.view_id,
            "batch_seq": 0,
            "sent_at": sent,
            "sdk": {"name": "test", "version": "0"},
            "context": self.context,
            "events": list(events),
        }
        return beacon, {"received_at": sent + self.offset}

    def record(self, *events: dict[str, Any]) -> bytes:
        beacon, server = self.beacon(*events)
        return orjson.dumps({"server": server, "beacon": beacon})


def played_view(
    writer: BeaconWriter,
    *,
    start_ms: int = 0,
    startup_ms: int = 1000,
    watch_ms: int = 20_000,
    bitrate_kbps: float = 3000.0,
    stall_ms: int = 0,
    throughput_kbps: float | None = None,
) -> list[dict[str, Any]]:
    """A view that starts, plays (with one stall in the middle when ``stall_ms``) and reports."""
    w, t = writer, start_ms
    events = [w.event("playback_request", t), w.event("rendition_change", t + startup_ms, bitrate_kbps=bitrate_kbps)]
    events.append(w.event("playback_start", t + startup_ms))
    if throughput_kbps is not None:
        duration = 1000
        events.append(
            w.event("request_completed", t + startup_ms + 500, bytes=int(throughput_kbps * duration / 8),
                    duration_ms=duration, kind="segment", cdn=w.context["cdn"])
        )  # fmt: skip
    middle = t + startup_ms + watch_ms // 2
    if stall_ms:
        events += [w.event("stall_start", middle), w.event("stall_end", middle + stall_ms)]
    events.append(w.event("heartbeat", t + startup_ms + watch_ms + stall_ms))
    return events


# --- a LocalStack (tests/delivery/conftest.py) steering one group -----------------------------


NO_MOBILE_LIVE_QUERY = {"country": "NO", "asn": "2119", "device": "mobile", "stream_type": "live"}  # as players ask


def post_beacon(client: httpx.Client, beacon: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    response = client.post("/v1/beacons", content=orjson.dumps(beacon), headers=headers)
    assert response.status_code == 202, response.text


def read_gateway(stack: LocalStack, path: str, **params: str) -> Any:
    """A gateway read, with the stack's access token."""
    response = httpx.get(f"{stack.gateway}{path}", params=params, headers=stack.auth_headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# --- browser: an origin that remembers what players asked it for ------------------------------


def recording_origin(ladder_dir: Any, cdn: str) -> Any:
    """A ``LocalOrigin`` serving the ladder as ``cdn`` that logs (path, time) of every media request."""
    import threading
    import time

    from tests.factories.browser import LocalOrigin

    class RecordingOrigin(LocalOrigin):
        def __init__(self) -> None:
            super().__init__({"/": ladder_dir}, cdn=cdn)
            self.requested: list[tuple[str, float]] = []
            self._log_lock = threading.Lock()

        def resolve(self, path: str) -> Any:
            with self._log_lock:
                self.requested.append((path, time.time()))
            return super().resolve(path)

    return RecordingOrigin()
