"""The live fold with sources: one sender cannot make up more than its share of a CDN's figure."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.steering import CdnScore, Group
from streams.cdn_scores.live import LiveScoreConfig, LiveScores
from tests.factories.delivery import T0_MS, BeaconWriter, later, steering_service

NO = Group("NO", 2119, "mobile", "live")  # BeaconWriter's group ("phone" is the mobile class)
NOW_MS = T0_MS + 24_000
SHARE = 0.1
Beacon = tuple[dict[str, Any], dict[str, Any]]


def _view(name: str, cdn: str, source: str | None, *, stall_ms: int = 0, last_kbps: float = 8000.0) -> Beacon:
    """A view that plays from 0.5 s with 20 steady 8 Mb/s downloads, then one at ``last_kbps`` (21 s),
    stalling ``stall_ms`` from 10.5 s; sent by ``source``."""
    steps: list[tuple[int, str, dict[str, Any]]] = [
        (0, "playback_request", {}),
        (500, "rendition_change", {"bitrate_kbps": 3000.0}),
        (500, "playback_start", {}),
    ]
    for i, kbps in enumerate([8000.0] * 20 + [last_kbps]):
        segment = {"bytes": int(kbps * 1000 / 8), "duration_ms": 1000, "kind": "segment", "cdn": cdn}
        steps.append((1000 + 1000 * i, "request_completed", segment))
    if stall_ms:
        steps += [(10_500, "stall_start", {}), (10_500 + stall_ms, "stall_end", {})]
    steps.append((23_000, "heartbeat", {}))
    w = BeaconWriter(name, cdn=cdn)
    beacon, server = w.beacon(*[w.event(kind, at, **fields) for at, kind, fields in sorted(steps, key=lambda s: s[0])])
    return beacon, ({**server, "source": source} if source is not None else server)


def _honest() -> list[Beacon]:
    """36 smooth views on cdn-a and 36 with a short stall on cdn-b, each CDN from 12 sources of 3 views."""
    a = [_view(f"a{i}", "cdn-a", f"honest-a{i % 12}") for i in range(36)]
    b = [_view(f"b{i}", "cdn-b", f"honest-b{i % 12}", stall_ms=1000) for i in range(36)]
    return a + b


def _fake() -> list[Beacon]:
    """40 views from one source on cdn-a that stall for 8 s and whose last download collapsed."""
    return [_view(f"fake{i}", "cdn-a", "attacker", stall_ms=8000, last_kbps=1000.0) for i in range(40)]


def _scores(beacons: list[Beacon], share: float) -> dict[tuple[str, Group], CdnScore]:
    live = LiveScores(LiveScoreConfig(max_source_share=share))
    for beacon, server in beacons:
        live.ingest(beacon, server)
    return {(s.cdn, s.group): s for s in live.scores(NOW_MS)}


def _priorities(*rounds: dict[tuple[str, Group], CdnScore]) -> list[tuple[tuple[str, ...], int]]:
    """The group's own order and version after each round of figures, 30 s apart."""
    service, _ = steering_service()
    out = []
    for number, scores in enumerate(rounds):
        service.board.put_all(scores.values())
        decision = service.steer(NO, explore=False, now=later(30 * (number + 1)))
        out.append((decision.group_decision.priority, decision.group_decision.version))
    return out


def test_forty_stalling_views_from_one_source_leave_the_decision_unchanged() -> None:
    honest = _scores(_honest(), SHARE)
    attacked = _scores(_honest() + _fake(), SHARE)
    figure = attacked[("cdn-a", NO)]
    assert figure.views == 40  # 36 honest views and 4 of the 40 (10 % of the figure)
    assert figure.recent_ratio_views == 40 and figure.recent_ratio_p50 == pytest.approx(1.0, rel=0.01)
    assert figure.qoe_score > attacked[("cdn-b", NO)].qoe_score
    [(before, version), (after, version_after)] = _priorities(honest, attacked)
    assert before[0] == "cdn-a" and (after, version_after) == (before, version)


def test_without_the_cap_the_same_views_move_the_group() -> None:
    # The counterfactual of the test above: proof that its forty views would have moved traffic.
    uncapped = _scores(_honest() + _fake(), 1.0)
    assert uncapped[("cdn-a", NO)].views == 76 and uncapped[("cdn-a", NO)].recent_ratio_p50 == pytest.approx(0.125)
    [(before, _), (after, _)] = _priorities(_scores(_honest(), 1.0), uncapped)
    assert before[0] == "cdn-a" and after[0] == "cdn-b"


def test_one_source_alone_publishes_nothing_at_any_level() -> None:
    assert _scores(_fake(), SHARE) == {}
    assert _scores(_fake(), 1.0)[("cdn-a", NO)].views == 40


def test_views_without_a_source_are_not_capped() -> None:
    # The platform's own traffic (a trusted peer naming no client) and records from before sources.
    unsourced = [_view(f"u{i}", "cdn-a", None) for i in range(40)]
    assert _scores(unsourced, SHARE)[("cdn-a", NO)].views == 40


def test_the_source_of_a_view_is_its_first_beacons() -> None:
    live = LiveScores(LiveScoreConfig(max_source_share=SHARE))
    beacon, server = _view("v", "cdn-a", "first")
    live.ingest_record(orjson.dumps({"server": server, "beacon": beacon}))
    later_beacon = {**beacon, "events": [{"type": "heartbeat", "ts": T0_MS + 23_500, "seq": 99, "playhead_ms": 0}]}
    live.ingest(later_beacon, {**server, "source": "second"})
    [window] = live.windows(NOW_MS)
    assert window.source == "first"


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_the_share_is_checked(share: float) -> None:
    with pytest.raises(ValueError, match="max_source_share"):
        LiveScoreConfig(max_source_share=share)
