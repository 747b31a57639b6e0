"""The beacon: the one contract between players and the platform.

A beacon is a batch of events from one view. Players send it to ``POST /v1/beacons``;
ingest validates it with these models, adds what only the server knows (receive time,
parsed user agent, geo headers) and writes one Kafka record per beacon.

Timestamps on the wire are integer milliseconds since the Unix epoch, UTC, read from the
viewer's clock. The server corrects skew with ``sent_at`` (the viewer's clock when the
beacon left) against its own receive time.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from schemas.events import EventType

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (SCHEMA_VERSION,)
MAX_EVENTS_PER_BEACON = 300  # Mux's cap (REFERENCE §4)

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Label = Annotated[str, StringConstraints(max_length=128)]
EpochMs = Annotated[int, Field(ge=0, le=4_102_444_800_000, description="ms since epoch, UTC")]
NonNegInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EventBase(_Strict):
    ts: EpochMs = Field(description="Viewer clock when the event happened.")
    playhead_ms: NonNegInt = Field(description="Position in the content.")
    seq: NonNegInt = Field(description="Per-view event sequence number, from 0.")


class PlaybackRequest(_EventBase):
    type: Literal[EventType.PLAYBACK_REQUEST]
    autoplay: bool = False


class PlaybackStart(_EventBase):
    type: Literal[EventType.PLAYBACK_START]


class Pause(_EventBase):
    type: Literal[EventType.PAUSE]


class Resume(_EventBase):
    type: Literal[EventType.RESUME]


class SeekStart(_EventBase):
    type: Literal[EventType.SEEK_START]
    target_ms: NonNegInt | None = None


class SeekEnd(_EventBase):
    type: Literal[EventType.SEEK_END]


class StallStart(_EventBase):
    type: Literal[EventType.STALL_START]
    buffer_ms: NonNegInt | None = None


class StallEnd(_EventBase):
    type: Literal[EventType.STALL_END]


class RenditionChange(_EventBase):
    type: Literal[EventType.RENDITION_CHANGE]
    bitrate_kbps: Annotated[float, Field(gt=0, le=1_000_000)]
    width: NonNegInt | None = None
    height: NonNegInt | None = None
    framerate: Annotated[float, Field(ge=0, le=1000)] | None = None
    codec: Label | None = None
    quality: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None, description="Per-rendition quality (e.g. VMAF) where the packager publishes one."
    )
    top_bitrate_kbps: Annotated[float, Field(gt=0, le=1_000_000)] | None = Field(
        default=None, description="Highest bitrate of the ladder (CMCD tb): what the quality score compares with."
    )


class PlayerResize(_EventBase):
    type: Literal[EventType.PLAYER_RESIZE]
    width: NonNegInt
    height: NonNegInt


class Error(_EventBase):
    type: Literal[EventType.ERROR]
    code: Label
    message: Annotated[str, StringConstraints(max_length=1024)] = ""
    fatal: bool
    business: bool = Field(
        default=False,
        description="A business exception (geo-block, entitlement, concurrency limit), not a technical failure.",
    )


class Ended(_EventBase):
    type: Literal[EventType.ENDED]


ViewEndReason = Literal["unload", "content_change", "user_exit", "ended", "error", "timeout"]


class ViewEnd(_EventBase):
    type: Literal[EventType.VIEW_END]
    reason: ViewEndReason = "user_exit"


class Heartbeat(_EventBase):
    type: Literal[EventType.HEARTBEAT]
    dropped_frames: NonNegInt | None = Field(default=None, description="Cumulative, from getVideoPlaybackQuality.")
    total_frames: NonNegInt | None = None
    buffer_ms: NonNegInt | None = None


class AdBreakStart(_EventBase):
    type: Literal[EventType.AD_BREAK_START]


class AdBreakEnd(_EventBase):
    type: Literal[EventType.AD_BREAK_END]


RequestKind = Literal["manifest", "segment", "init", "key", "steering", "other"]


class RequestCompleted(_EventBase):
    type: Literal[EventType.REQUEST_COMPLETED]
    kind: RequestKind = "segment"
    bytes: NonNegInt
    duration_ms: NonNegInt
    ttfb_ms: NonNegInt | None = None
    status: Annotated[int, Field(ge=100, le=599)] = 200
    cdn: Label | None = None


class RequestFailed(_EventBase):
    type: Literal[EventType.REQUEST_FAILED]
    kind: RequestKind = "segment"
    status: Annotated[int, Field(ge=0, le=599)] = 0
    cdn: Label | None = None


class PathwayChange(_EventBase):
    type: Literal[EventType.PATHWAY_CHANGE]
    pathway: Label


Event = Annotated[
    PlaybackRequest
    | PlaybackStart
    | Pause
    | Resume
    | SeekStart
    | SeekEnd
    | StallStart
    | StallEnd
    | RenditionChange
    | PlayerResize
    | Error
    | Ended
    | ViewEnd
    | Heartbeat
    | AdBreakStart
    | AdBreakEnd
    | RequestCompleted
    | RequestFailed
    | PathwayChange,
    Field(discriminator="type"),
]


class Sdk(_Strict):
    name: Label
    version: Label


class Context(_Strict):
    """What stays the same through a view: the dimensions users slice by (REFERENCE §2)."""

    player_name: Label = ""
    player_version: Label = ""
    title_id: Label = ""
    title: Annotated[str, StringConstraints(max_length=512)] = ""
    series: Label = ""
    stream_type: Literal["vod", "live"] = "vod"
    cdn: Label = ""
    device_type: Label = Field(default="", description="Overrides what the server reads off the user agent.")
    os: Label = ""
    browser: Label = ""
    country: Annotated[str, StringConstraints(pattern=r"^([A-Z]{2})?$")] = ""
    region: Label = ""
    asn: Annotated[int, Field(ge=0, le=4_294_967_295)] | None = None
    connection_type: Label = ""
    experiment: Label = ""
    page_url: Annotated[str, StringConstraints(max_length=2048)] = ""
    custom: Annotated[dict[Label, Label], Field(max_length=10)] = Field(default_factory=dict)


def _known_version(value: object) -> object:
    # Checked before the type, so a newer SDK hears which versions we speak, not "Input should be 1".
    if value not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported beacon version {value!r}; this server accepts {list(SUPPORTED_VERSIONS)}")
    return value


class Beacon(_Strict):
    version: Annotated[Literal[1], BeforeValidator(_known_version)] = Field(description="Schema version.")
    view_id: Id
    viewer_id: Id
    batch_seq: NonNegInt = Field(description="Per-view beacon sequence number, from 0.")
    sent_at: EpochMs | None = Field(default=None, description="Viewer clock when the beacon was sent.")
    sdk: Sdk
    context: Context = Field(default_factory=Context)
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS_PER_BEACON)]
