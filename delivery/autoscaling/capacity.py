"""From demand (concurrent viewers, egress) to the replicas each tier needs.

Each tier's load is a linear function of demand:

* ``edge`` caches serve the egress: Gbit/s.
* ``origin`` serves what the edges miss: segment requests/s = viewers ÷ segment duration ×
  (1 − edge hit ratio).
* ``ingest`` receives beacons: viewers ÷ the SDK flush interval (10 s, REFERENCE §4).
* ``stream_workers`` process the events in those beacons: beacons/s × events per beacon.

Desired replicas = ⌈load × (1 + headroom) ÷ capacity per replica⌉, within [min, max]. A headroom
of 25 % is a target utilisation of 80 %. Scaling down waits for :class:`ScaleDownStabiliser`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from foundation.settings import Settings, default_of


class Tier(StrEnum):
    ORIGIN = "origin"
    EDGE = "edge"
    INGEST = "ingest"
    STREAM_WORKERS = "stream_workers"


UNITS: dict[Tier, str] = {
    Tier.ORIGIN: "requests/s",
    Tier.EDGE: "Gbit/s",
    Tier.INGEST: "beacons/s",
    Tier.STREAM_WORKERS: "events/s",
}


@dataclass(frozen=True)
class CapacityModel:
    """What one replica of each tier serves (``QOE_AUTOSCALING_*``; the defaults are the settings')."""

    edge_gbps_per_replica: float = default_of("autoscaling_edge_gbps_per_replica")
    origin_rps_per_replica: float = default_of("autoscaling_origin_rps_per_replica")
    ingest_beacons_per_replica: float = default_of("autoscaling_ingest_beacons_per_replica")
    # Faust with batched records (REFERENCE §8)
    worker_events_per_replica: float = default_of("autoscaling_worker_events_per_replica")
    segment_s: float = 4.0
    edge_hit_ratio: float = 0.95
    beacon_flush_s: float = 10.0
    events_per_beacon: float = 12.0
    headroom: float = default_of("autoscaling_headroom")
    min_replicas: int = 2
    max_replicas: int = 2000

    def __post_init__(self) -> None:
        positive = (
            self.edge_gbps_per_replica,
            self.origin_rps_per_replica,
            self.ingest_beacons_per_replica,
            self.worker_events_per_replica,
            self.segment_s,
            self.beacon_flush_s,
            self.events_per_beacon,
        )
        if min(positive) <= 0:
            raise ValueError("capacities, segment duration, flush interval and events per beacon must be > 0")
        if not 0 <= self.edge_hit_ratio < 1:
            raise ValueError("edge_hit_ratio must be within [0, 1)")
        if self.headroom < 0:
            raise ValueError("headroom must be >= 0")
        if not 0 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need 0 <= min_replicas <= max_replicas")

    @classmethod
    def from_settings(cls, settings: Settings) -> CapacityModel:
        return cls(
            edge_gbps_per_replica=settings.autoscaling_edge_gbps_per_replica,
            origin_rps_per_replica=settings.autoscaling_origin_rps_per_replica,
            ingest_beacons_per_replica=settings.autoscaling_ingest_beacons_per_replica,
            worker_events_per_replica=settings.autoscaling_worker_events_per_replica,
            headroom=settings.autoscaling_headroom,
        )

    @property
    def target_utilisation(self) -> float:
        return 1.0 / (1.0 + self.headroom)

    def per_replica(self, tier: Tier) -> float:
        return {
            Tier.ORIGIN: self.origin_rps_per_replica,
            Tier.EDGE: self.edge_gbps_per_replica,
            Tier.INGEST: self.ingest_beacons_per_replica,
            Tier.STREAM_WORKERS: self.worker_events_per_replica,
        }[tier]

    def load(self, tier: Tier, concurrency: float, egress_bps: float) -> float:
        """The tier's load, in :data:`UNITS`, for this many viewers and this egress."""
        beacons_per_s = concurrency / self.beacon_flush_s
        return {
            Tier.ORIGIN: concurrency / self.segment_s * (1.0 - self.edge_hit_ratio),
            Tier.EDGE: egress_bps / 1e9,
            Tier.INGEST: beacons_per_s,
            Tier.STREAM_WORKERS: beacons_per_s * self.events_per_beacon,
        }[tier]

    def _clamp(self, replicas: float) -> int:
        return int(min(self.max_replicas, max(self.min_replicas, replicas)))

    def desired(self, tier: Tier, load: float) -> int:
        """Replicas for ``load`` at the target utilisation."""
        return self._clamp(math.ceil(round(load * (1.0 + self.headroom) / self.per_replica(tier), 9)))

    def needed_at_full(self, tier: Tier, load: float) -> int:
        """Replicas below which the tier is overloaded (100 % utilisation)."""
        return self._clamp(math.ceil(round(load / self.per_replica(tier), 9)))


class ScaleDownStabiliser:
    """Scale up at once; scale down only to the highest recommendation of the last ``window_s``.

    The same rule as the Kubernetes HPA's scale-down stabilisation window, applied in the signal
    so that every consumer of it (KEDA, dashboards, alerts) sees the same stable number.
    """

    def __init__(self, window_s: float = 300.0) -> None:
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.window_s = window_s
        self._history: deque[tuple[float, int]] = deque()

    def update(self, now_s: float, recommended: int) -> int:
        if self._history and now_s < self._history[-1][0]:
            raise ValueError("time went backwards")
        self._history.append((now_s, recommended))
        while self._history and self._history[0][0] < now_s - self.window_s:
            self._history.popleft()
        return max(value for _, value in self._history)
