"""Placeholder posters: an SVG per title, drawn from its name, year and genres.

Deterministic (the colours come from a hash of the title id), so a poster URL never changes
and can be cached for good; needs no network and no image library. Two sizes share one drawing:
``poster`` (300 × 450) and ``thumb`` (120 × 180), scaled by the SVG viewBox.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Sequence
from xml.sax.saxutils import escape

SIZES: dict[str, tuple[int, int]] = {"poster": (300, 450), "thumb": (120, 180)}
_WIDTH, _HEIGHT = SIZES["poster"]
_LINE_CHARS = 16
_MAX_LINES = 5


def _hues(title_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(title_id.encode()).digest()
    first = int.from_bytes(digest[:2], "big") % 360
    return first, (first + 40 + digest[2] % 80) % 360


def _lines(title: str) -> list[str]:
    lines = textwrap.wrap(title, _LINE_CHARS, break_long_words=True) or [""]
    if len(lines) > _MAX_LINES:
        lines = [*lines[: _MAX_LINES - 1], lines[_MAX_LINES - 1][: _LINE_CHARS - 1] + "…"]
    return lines


def poster_svg(title_id: str, title: str, year: int | None, genres: Sequence[str], size: str = "poster") -> str:
    """The poster of one title as an SVG document."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}")
    width, height = SIZES[size]
    top, bottom = _hues(title_id)
    lines = _lines(title)
    first_y = 190 - 17 * (len(lines) - 1)
    text = "".join(f'<tspan x="150" y="{first_y + 34 * i}">{escape(line)}</tspan>' for i, line in enumerate(lines))
    genre_line = escape(" · ".join(genres[:3]))
    year_text = escape(str(year)) if year is not None else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
        "<defs>"
        f'<linearGradient id="g" x1="0" y1="0" x2="0" y2="1">'
        f'<stop offset="0" stop-color="hsl({top},55%,38%)"/><stop offset="1" stop-color="hsl({bottom},60%,14%)"/>'
        "</linearGradient></defs>"
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="url(#g)"/>'
        f'<rect x="12" y="12" width="{_WIDTH - 24}" height="{_HEIGHT - 24}" fill="none" '
        'stroke="rgba(255,255,255,0.35)" stroke-width="2"/>'
        '<text font-family="Helvetica, Arial, sans-serif" font-size="28" font-weight="700" fill="#fff" '
        f'text-anchor="middle">{text}</text>'
        '<text x="150" y="330" font-family="Helvetica, Arial, sans-serif" font-size="22" fill="rgba(255,255,255,0.85)" '
        f'text-anchor="middle">{year_text}</text>'
        '<text x="150" y="410" font-family="Helvetica, Arial, sans-serif" font-size="15" fill="rgba(255,255,255,0.7)" '
        f'text-anchor="middle">{genre_line}</text>'
        "</svg>"
    )
