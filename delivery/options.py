"""Delivery's settings: the platform's :class:`~foundation.settings.Settings` fields it uses, as one value.

Tests and benchmarks build it with overrides; the defaults match the settings' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from foundation.settings import Settings


@dataclass(frozen=True)
class DeliveryOptions:
    topic_cdn_scores: str = "cdn-scores"  # compacted: latest figure per cdn|group
    topic_steering_decisions: str = "steering-decisions"  # priority changes, for ClickHouse
    steering_pathways: str = "cdn-a,cdn-b,cdn-c"  # every pathway, in the safe default order
    steering_ttl_s: int = 20  # steering manifest TTL
    steering_min_views: int = 30  # fewer scored views and a figure is not trusted
    steering_max_age_s: float = 180.0  # older figures are stale
    steering_switch_margin: float = 3.0  # QoE points a challenger must lead by …
    steering_switch_hold_s: float = 60.0  # … for this long
    steering_emergency_margin: float = 20.0  # a lead this large switches at once
    steering_explore_rate: float = 0.05  # share of steering requests that explore
    steering_spread_without_data: bool = True  # no figures for a group: spread its clients evenly
    steering_instance: str = "gateway"  # names this replica in the decision log
    steering_score_window_s: int = 30  # the live figures cover this many seconds of activity
    steering_score_tick_s: float = 1.0  # the score agent publishes this often
    steering_score_min_views: int = 5  # the agent publishes figures from this many scored views
    autoscaling_provision_minutes: int = 3
    autoscaling_stabilisation_s: float = 180.0
    autoscaling_max_data_age_s: float = 600.0
    autoscaling_headroom: float = 0.25
    autoscaling_edge_gbps_per_replica: float = 20.0
    autoscaling_origin_rps_per_replica: float = 400.0
    autoscaling_ingest_beacons_per_replica: float = 1500.0
    autoscaling_worker_events_per_replica: float = 50_000.0
    autoscaling_events_file: Path | None = None  # scheduled live events, JSON

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> DeliveryOptions:
        """The settings' values, then ``overrides``."""
        values = {f.name: getattr(settings, f.name) for f in fields(cls)}
        return cls(**{**values, **overrides})

    @property
    def pathways(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.steering_pathways.split(",") if p.strip())
