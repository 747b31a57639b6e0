"""How a simulated player picks its CDN: the plug-in point for steering policies.

The interface follows content steering (REFERENCE §6): a policy answers with a pathway priority
list and a TTL, like a steering manifest's ``PATHWAY-PRIORITY`` and ``TTL``. The player uses the
first pathway, falls back down the list when a pathway keeps failing, and asks again when the TTL
runs out. A policy sees the viewer's group (what CFA and Pytheas group sessions by) and gets
feedback on every segment and every finished view, so learning policies (bandits, CFA-style
predictors) and the steering service can plug in unchanged.

Policies are called synchronously from the simulation loop, in virtual or real time; one that
needs I/O (the HTTP steering service) should answer from a cache it refreshes in the background.
Times are simulation milliseconds from the run's start.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from qoe_sim.metrics import ViewMetrics

ChoiceReason = Literal["start", "reload", "failure"]


@dataclass(frozen=True, slots=True)
class ViewerGroup:
    """What a policy may condition on: the slicing dimensions of REFERENCE §2."""

    country: str
    region: str
    zone: str  # continent-scale area the CDN profiles are defined on: na, eu, apac, sa
    asn: int
    device_type: str
    connection_type: str
    stream_type: str  # vod or live


@dataclass(frozen=True, slots=True)
class ChoiceRequest:
    view_id: str
    viewer_index: int
    group: ViewerGroup
    now_ms: float
    reason: ChoiceReason
    current: str | None  # the pathway in use (None at view start)
    cdns: tuple[str, ...]  # every pathway the content is available on


@dataclass(frozen=True, slots=True)
class SteeringDecision:
    priority: tuple[str, ...]  # PATHWAY-PRIORITY: the first is used, the rest are fallbacks
    ttl_ms: float | None = None  # ask again after this long; None: keep for the whole view


@dataclass(frozen=True, slots=True)
class SegmentFeedback:
    """One segment request as the player saw it."""

    view_id: str
    group: ViewerGroup
    cdn: str
    now_ms: float  # when the request finished (or failed)
    ok: bool
    status: int  # HTTP status; 0 when the connection failed
    bits: int
    duration_ms: float  # request to last byte
    ttfb_ms: float
    bitrate_kbps: float  # the rung requested
    buffer_ms: float  # buffer level when the request finished
    rebuffering: bool  # the player was stalled waiting for this segment

    @property
    def throughput_kbps(self) -> float:
        return self.bits / self.duration_ms if self.ok and self.duration_ms > 0 else 0.0


class CdnChooser(Protocol):
    def choose(self, request: ChoiceRequest) -> SteeringDecision: ...

    def observe(self, feedback: SegmentFeedback) -> None: ...

    def view_ended(self, metrics: ViewMetrics) -> None: ...


def stable_fraction(key: str) -> float:
    """A number in [0, 1) fixed by ``key`` alone (unlike ``hash``, the same in every process)."""
    return zlib.crc32(key.encode()) / 2**32


class StaticChooser:
    """Today's default without steering: each viewer is pinned to one CDN by weighted hashing.

    With ``fallback`` the priority lists every other CDN after the pinned one, as a multi-CDN
    manifest without a steering server does; without it a CDN outage fails the view.
    """

    def __init__(self, weights: Mapping[str, float], *, fallback: bool = False) -> None:
        if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError("CDN weights must be non-negative and not all zero")
        total = sum(weights.values())
        self._cdns = tuple(weights)
        bounds: list[float] = []
        running = 0.0
        for cdn in self._cdns:
            running += weights[cdn] / total
            bounds.append(running)
        self._bounds = bounds
        self._fallback = fallback

    @classmethod
    def uniform(cls, cdns: Sequence[str], *, fallback: bool = False) -> StaticChooser:
        return cls(dict.fromkeys(cdns, 1.0), fallback=fallback)

    def pinned(self, viewer_index: int) -> str:
        point = stable_fraction(f"viewer:{viewer_index}")
        for cdn, bound in zip(self._cdns, self._bounds, strict=True):
            if point < bound:
                return cdn
        return self._cdns[-1]

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        primary = self.pinned(request.viewer_index)
        if not self._fallback:
            return SteeringDecision((primary,))
        return SteeringDecision((primary, *(c for c in request.cdns if c != primary)))

    def observe(self, feedback: SegmentFeedback) -> None:
        """A static policy learns nothing."""

    def view_ended(self, metrics: ViewMetrics) -> None:
        """A static policy learns nothing."""
