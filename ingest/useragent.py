"""User-agent parsing with ua-parser, plus the device class users slice by."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ua_parser import parse

_TV_MARKERS = (
    "smart-tv",
    "smarttv",
    "tizen",
    "webos",
    "web0s",
    "roku",
    "appletv",
    "apple tv",
    "bravia",
    "hbbtv",
    "aftb",
    "android tv",
    "googletv",
    "crkey",
    "playstation",
    "xbox",
    "nintendo",
)
_MOBILE_OS = {"Android", "iOS", "Windows Phone", "KaiOS"}
_TABLET_MARKERS = ("ipad", "tablet", "kindle", "silk")


@dataclass(frozen=True, slots=True)
class ClientInfo:
    browser: str
    browser_version: str
    os: str
    os_version: str
    device_type: str
    device_model: str


def _join_version(*parts: str | None) -> str:
    return ".".join(p for p in parts if p)


def _device_type(ua: str, os_family: str, device_family: str) -> str:
    lowered = ua.lower()
    if any(marker in lowered for marker in _TV_MARKERS):
        return "tv"
    if any(marker in lowered for marker in _TABLET_MARKERS) or (os_family == "Android" and "mobile" not in lowered):
        return "tablet"
    if os_family in _MOBILE_OS:
        return "mobile"
    if device_family == "Spider":
        return "bot"
    return "desktop" if os_family not in ("", "Other") else "other"


@lru_cache(maxsize=4096)
def parse_user_agent(ua: str) -> ClientInfo:
    """Cached: a fleet sends few distinct user agents, and parsing one costs tens of microseconds."""
    result = parse(ua)
    agent, os_, device = result.user_agent, result.os, result.device
    os_family = os_.family if os_ else ""
    device_family = device.family if device else ""
    return ClientInfo(
        browser=agent.family if agent else "",
        browser_version=_join_version(agent.major, agent.minor) if agent else "",
        os=os_family,
        os_version=_join_version(os_.major, os_.minor) if os_ else "",
        device_type=_device_type(ua, os_family, device_family),
        device_model=device.model or "" if device else "",
    )
