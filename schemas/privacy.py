"""What the platform keeps of a viewer: page URLs without their query, viewer ids as a keyed hash.

Both are part of the contract of the stored record, so every reader that must match a stored
value (an erasure, a lookup by viewer) derives it the same way from here.
"""

from __future__ import annotations

import hashlib
import hmac


def without_query(url: str) -> str:
    """``url`` without its query string and fragment: they carry tokens, search terms, session ids."""
    return url.split("#", 1)[0].split("?", 1)[0]


def pseudonymous_viewer_id(key: bytes, viewer_id: str) -> str:
    """The viewer id as stored when viewer ids are hashed: HMAC-SHA256 under ``key``, in hex.

    The same id and key always give the same value, so views of one viewer stay together (the
    recommender keys on it); without the key it cannot be reversed or recomputed. 64 hex
    characters: exactly the longest id the beacon schema allows (``Id``).
    """
    return hmac.new(key, viewer_id.encode(), hashlib.sha256).hexdigest()
