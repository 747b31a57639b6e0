"""The gateway's board of live CDN figures, fed from the compacted ``cdn-scores`` topic.

The steering service feeds the records (:class:`schemas.steering.CdnScore`) into a
:class:`ScoreBoard` and asks it for the figure of a CDN for a client's group; the board walks the
group's back-off chain until it finds a fresh figure with enough views.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from foundation.settings import default_of
from schemas.steering import GLOBAL, CdnScore, Group, ScoreDecodeError


@dataclass(frozen=True, slots=True)
class ScoreLookup:
    """The figure the board answered with, and how far it had to back off to find it."""

    score: CdnScore
    requested: Group
    level: int  # 0 = the exact group; higher = coarser

    @property
    def backed_off(self) -> bool:
        return self.level > 0


class ScoreBoard:
    """The latest :class:`CdnScore` of each (CDN, group), fed from the compacted topic.

    ``put`` keeps the newest window per key, so replays and out-of-order delivery are harmless.
    Writes are single dict assignments, safe to call from a consumer thread while the event loop
    reads.
    """

    def __init__(
        self,
        *,
        min_views: int = default_of("steering_min_views"),
        max_age_s: float = default_of("steering_max_age_s"),
    ) -> None:
        if min_views < 1:
            raise ValueError("min_views must be >= 1")
        if max_age_s <= 0:
            raise ValueError("max_age_s must be > 0")
        self.min_views = min_views
        self.max_age_s = max_age_s
        self._scores: dict[tuple[str, Group], CdnScore] = {}
        self.rejected = 0  # records that did not decode

    def __len__(self) -> int:
        return len(self._scores)

    def __iter__(self) -> Iterator[CdnScore]:
        return iter(list(self._scores.values()))

    def put(self, score: CdnScore) -> bool:
        """Store ``score`` unless a newer window of the same key is already there. True if stored."""
        key = (score.cdn, score.group)
        current = self._scores.get(key)
        if current is not None and current.window_end > score.window_end:
            return False
        self._scores[key] = score
        return True

    def put_all(self, scores: Iterable[CdnScore]) -> None:
        for score in scores:
            self.put(score)

    def ingest(self, key: bytes | str | None, value: bytes | str | None) -> bool:
        """One record from the compacted topic. A null value is a tombstone: forget that key.

        Undecodable records are counted in :attr:`rejected` and ignored, never raised: one bad
        producer must not stop steering.
        """
        if value is None:
            self._forget(key)
            return False
        try:
            score = CdnScore.from_json(value)
        except ScoreDecodeError:
            self.rejected += 1
            return False
        return self.put(score)

    def _forget(self, key: bytes | str | None) -> None:
        if key is None:
            return
        text = key.decode(errors="replace") if isinstance(key, bytes) else key
        cdn, _, group_key = text.partition("|")
        try:
            self._scores.pop((cdn, Group.from_key(group_key)), None)
        except ValueError:
            self.rejected += 1

    def get(self, cdn: str, group: Group) -> CdnScore | None:
        """The exact record, fresh or not."""
        return self._scores.get((cdn, group))

    def lookup(
        self,
        cdn: str,
        group: Group,
        now: datetime,
        *,
        min_views: int | None = None,
        max_age_s: float | None = None,
    ) -> ScoreLookup | None:
        """The finest fresh figure of ``cdn`` with enough views, walking the back-off chain.

        None when no level has one: the caller must not trust this CDN's figures for the group.
        """
        needed = self.min_views if min_views is None else min_views
        max_age = self.max_age_s if max_age_s is None else max_age_s
        for level, candidate in enumerate(group.backoff_chain()):
            score = self._scores.get((cdn, candidate))
            if score is not None and score.views >= needed and not score.is_stale(now, max_age):
                return ScoreLookup(score, group, level)
        return None

    def has_stale(self, cdn: str, group: Group, now: datetime, *, max_age_s: float | None = None) -> bool:
        """Whether some level holds a figure that is too old: tells "stale" apart from "never seen"."""
        max_age = self.max_age_s if max_age_s is None else max_age_s
        return any(
            score.is_stale(now, max_age)
            for candidate in group.backoff_chain()
            if (score := self._scores.get((cdn, candidate))) is not None
        )

    def global_shares(self, cdns: Iterable[str], now: datetime, *, max_age_s: float | None = None) -> dict[str, float]:
        """Share of all views per CDN, from the fresh global-level records (for traffic caps)."""
        max_age = self.max_age_s if max_age_s is None else max_age_s
        views = {}
        for cdn in cdns:
            score = self._scores.get((cdn, GLOBAL))
            views[cdn] = score.views if score is not None and not score.is_stale(now, max_age) else 0
        total = sum(views.values())
        return {cdn: (count / total if total else 0.0) for cdn, count in views.items()}
