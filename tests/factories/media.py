"""Factories for media tests: small ladder specs and a reader for multivariant playlists."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.media import LadderSpec, Rendition

_ATTR = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def small_spec(duration_s: float = 4.0, segment_s: float = 1.0) -> LadderSpec:
    """Two low rungs and a few seconds: enough to exercise the build in about a second."""
    return LadderSpec(
        renditions=(Rendition("144p", 144, 150), Rendition("216p", 216, 300)),
        duration_s=duration_s,
        segment_s=segment_s,
        audio_kbps=64,
    )


def attributes(line: str) -> dict[str, str]:
    """The attribute list of an ``#EXT-X-...:`` tag, quotes removed."""
    _, _, rest = line.partition(":")
    return {k: v.strip('"') for k, v in _ATTR.findall(rest)}


@dataclass(frozen=True)
class ListedVariant:
    attrs: dict[str, str]
    uri: str


def listed_variants(master_text: str) -> list[ListedVariant]:
    """Each ``#EXT-X-STREAM-INF`` with the URI on the line after it."""
    lines = [line.strip() for line in master_text.splitlines() if line.strip()]
    return [
        ListedVariant(attributes(line), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("#EXT-X-STREAM-INF:")
    ]


def tag_lines(master_text: str, tag: str) -> list[str]:
    return [line for line in master_text.splitlines() if line.startswith(f"#{tag}:")]
