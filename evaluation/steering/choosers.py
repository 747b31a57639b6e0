"""CDN choosers for the trace-driven simulator (``qoe_sim.chooser.CdnChooser``): baselines and ours.

* :class:`RandomChooser` – each view starts on a CDN drawn at random (CFA's baseline, REFERENCE §6).
* :class:`RoundRobinChooser` – views start on the CDNs in turn.
* :class:`OracleChooser` – knows every CDN's true conditions for the viewer at that moment
  (the simulator's CDN profiles, peering and incidents) and ranks them. An upper bound, not a
  policy anyone can run.
* :class:`SteeringChooser` – ours: the real :class:`~delivery.steering.service.SteeringService`
  on simulation time, fed by the real :class:`~streams.cdn_scores.live.LiveScores` fold of the
  beacons the simulated players send (through :class:`LiveFeedSink`), with the pipeline's delay.

Every chooser answers a full priority list (the player falls back down it when a CDN keeps
failing), as a multi-CDN manifest does; only ours and the oracle re-decide at each TTL reload.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from qoe_sdk.beacon import BeaconJob
from qoe_sim.chooser import ChoiceRequest, SegmentFeedback, SteeringDecision, stable_fraction
from qoe_sim.metrics import ViewMetrics
from qoe_sim.network import CdnProfile, Network
from qoe_sim.steering_client import steering_group

from delivery.steering.scores import ScoreBoard
from delivery.steering.service import SteeringService
from schemas.steering import CdnScore
from streams.cdn_scores.live import LiveScores

if TYPE_CHECKING:
    from qoe_sim.engine import Scheduler


def _rotate(cdns: Sequence[str], first: str) -> tuple[str, ...]:
    return (first, *(c for c in cdns if c != first))


class _Learns:
    """The part of the chooser protocol a policy without feedback ignores."""

    def observe(self, feedback: SegmentFeedback) -> None:
        """No feedback needed."""

    def view_ended(self, metrics: ViewMetrics) -> None:
        """No feedback needed."""


class RandomChooser(_Learns):
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        # Keyed by the view, so a view asking again (after failures) keeps its draw.
        point = stable_fraction(f"random:{self.seed}:{request.view_id}")
        first = request.cdns[min(len(request.cdns) - 1, int(point * len(request.cdns)))]
        return SteeringDecision(_rotate(request.cdns, first))


class RoundRobinChooser(_Learns):
    def __init__(self) -> None:
        self._turn = itertools.count()
        self._given: dict[str, str] = {}

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        first = self._given.get(request.view_id)
        if first is None:
            first = request.cdns[next(self._turn) % len(request.cdns)]
            self._given[request.view_id] = first
        return SteeringDecision(_rotate(request.cdns, first))

    def view_ended(self, metrics: ViewMetrics) -> None:
        self._given.pop(metrics.view_id, None)


def profile_merit(profile: CdnProfile) -> float:
    """What a viewer gets from a CDN: delivered share of the link, less failures; 0 when down."""
    if profile.outage:
        return 0.0
    return profile.throughput_factor * (1.0 - profile.failure_prob) / (1.0 + profile.latency_ms / 1000.0)


class OracleChooser(_Learns):
    """Ranks CDNs by their true conditions for this viewer now, and re-ranks at every TTL reload."""

    def __init__(self, network: Network, ttl_ms: float) -> None:
        self.network = network
        self.ttl_ms = ttl_ms

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        g = request.group
        merit = {
            cdn: profile_merit(self.network.conditions(cdn, g.zone, g.country, g.asn, request.now_ms))
            for cdn in request.cdns
        }
        priority = tuple(sorted(request.cdns, key=lambda cdn: (-merit[cdn], request.cdns.index(cdn))))
        return SteeringDecision(priority, self.ttl_ms)


class LiveFeedSink:
    """A ``qoe_sdk`` beacon sink that hands every beacon to :class:`LiveScores`, as ingest + Kafka would.

    The beacon arrives when the SDK flushes it (the SDK's own batching delay is the real one);
    the rest of the pipeline's delay is applied where the figures reach the board.
    """

    def __init__(self, live: LiveScores) -> None:
        self.live = live
        self.clock: Callable[[], int] = lambda: 0  # set to the simulation's clock once it exists
        self.beacons = 0

    @property
    def stopped(self) -> bool:
        return False

    def accepting(self, now_ms: int) -> bool:
        return True

    def submit(self, job: BeaconJob) -> None:
        now = self.clock()
        self.beacons += 1
        self.live.ingest(job.payload(now), {"received_at": now})


class SteeringChooser(_Learns):
    """Ours in simulation time: the real service, board and live fold, on the simulator's clock.

    Every ``tick_ms`` the fold's figures are computed (as the score agent's timer does) and put on
    the service's board ``delay_ms`` later (Kafka, the compacted topic, the gateway's consumer).
    """

    def __init__(
        self,
        service: SteeringService,
        live: LiveScores,
        scheduler: Scheduler,
        clock_ms: Callable[[], int],
        *,
        tick_ms: float = 2_000,
        delay_ms: float = 1_000,
    ) -> None:
        self.service = service
        self.live = live
        self.scheduler = scheduler
        self.clock_ms = clock_ms
        self.tick_ms = tick_ms
        self.delay_ms = delay_ms
        self.ttl_ms = service.config.ttl_s * 1000.0
        self.published = 0
        self._pending: deque[list[CdnScore]] = deque()
        scheduler.at(tick_ms, self._tick)

    @property
    def board(self) -> ScoreBoard:
        return self.service.board

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock_ms() / 1000, tz=UTC)

    def _tick(self, _: object = None) -> None:
        scores = self.live.scores(self.clock_ms())
        self._pending.append(scores)
        self.scheduler.after(self.delay_ms, self._deliver)
        self.scheduler.after(self.tick_ms, self._tick)

    def _deliver(self, _: object = None) -> None:
        scores = self._pending.popleft()
        self.board.put_all(scores)
        self.published += len(scores)

    def choose(self, request: ChoiceRequest) -> SteeringDecision:
        decision = self.service.steer(steering_group(request.group), now=self._now())
        known = [p for p in decision.priority if p in request.cdns]
        return SteeringDecision(tuple(known) or request.cdns, self.ttl_ms)
