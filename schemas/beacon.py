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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from schemas.events import EventType

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS = (SCHEMA_VERSION,)
MAX_EVENTS_PER_BEACON = 300  # Mux's cap (REFERENCE §4)
# One beacon is a few seconds of one view: its events, and its sent_at, lie within a day of each
# other. A wider span is a broken clock or an attack; the folds would slice it minute by minute.
MAX_BEACON_SPAN_MS = 24 * 3_600_000

# Integers are bounded by the ClickHouse column they land in (warehouse/migrations): UInt32 for
# sequence numbers and frame counters (views sum frames into UInt64, which then cannot overflow),
# and for durations, sizes and positions in ms, 2^53 - 1: well inside their UInt64 columns, the
# largest integer a browser's number holds exactly, and safe in any float64 arithmetic downstream.
UINT32_MAX = 2**32 - 1
SAFE_INT_MAX = 2**53 - 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Label = Annotated[str, StringConstraints(max_length=128)]
PROPERTY_KEY_PATTERN = r"^qoe_pk_[0-9a-f]{24}$"
PropertyKey = Annotated[str, StringConstraints(pattern=PROPERTY_KEY_PATTERN)]
EpochMs = Annotated[int, Field(ge=0, le=4_102_444_800_000, description="ms since epoch, UTC")]
UInt32 = Annotated[int, Field(ge=0, le=UINT32_MAX)]
SafeUInt = Annotated[int, Field(ge=0, le=SAFE_INT_MAX)]
Kbps = Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)]


class FieldError(ValueError):
    """A check across fields that blames one of them: ``loc`` is its path below the model checked.

    Pydantic places a model validator's error at the model itself; ingest's error reasons read
    ``loc`` (from the error's context) so a refusal still names the field, e.g. ``events[3].ts``.
    """

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EventBase(_Strict):
    ts: EpochMs = Field(description="Viewer clock when the event happened.")
    playhead_ms: SafeUInt = Field(description="Position in the content.")
    seq: UInt32 = Field(description="Per-view event sequence number, from 0.")


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
    target_ms: SafeUInt | None = None


class SeekEnd(_EventBase):
    type: Literal[EventType.SEEK_END]


class StallStart(_EventBase):
    type: Literal[EventType.STALL_START]
    buffer_ms: SafeUInt | None = None


class StallEnd(_EventBase):
    type: Literal[EventType.STALL_END]


class RenditionChange(_EventBase):
    type: Literal[EventType.RENDITION_CHANGE]
    bitrate_kbps: Kbps
    width: UInt32 | None = None
    height: UInt32 | None = None
    framerate: Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)] | None = None
    codec: Label | None = None
    quality: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = Field(
        default=None, description="Per-rendition quality (e.g. VMAF) where the packager publishes one."
    )
    top_bitrate_kbps: Kbps | None = Field(
        default=None, description="Highest bitrate of the ladder (CMCD tb): what the quality score compares with."
    )


class PlayerResize(_EventBase):
    type: Literal[EventType.PLAYER_RESIZE]
    width: UInt32
    height: UInt32


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
    dropped_frames: UInt32 | None = Field(default=None, description="Cumulative, from getVideoPlaybackQuality.")
    total_frames: UInt32 | None = None
    buffer_ms: SafeUInt | None = None


class AdBreakStart(_EventBase):
    type: Literal[EventType.AD_BREAK_START]


class AdBreakEnd(_EventBase):
    type: Literal[EventType.AD_BREAK_END]


RequestKind = Literal["manifest", "segment", "init", "key", "steering", "other"]


class RequestCompleted(_EventBase):
    type: Literal[EventType.REQUEST_COMPLETED]
    kind: RequestKind = "segment"
    bytes: SafeUInt
    duration_ms: SafeUInt
    ttfb_ms: SafeUInt | None = None
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
    page_url: Annotated[str, StringConstraints(max_length=2048)] = Field(
        default="", description="The page the player is on; stored without its query string and fragment."
    )
    custom: Annotated[dict[Label, Label], Field(max_length=10)] = Field(default_factory=dict)


def _known_version(value: object) -> object:
    # Checked before the type, so a newer SDK hears which versions we speak, not "Input should be 1".
    if value not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported beacon version {value!r}; this server accepts {list(SUPPORTED_VERSIONS)}")
    return value


class Beacon(_Strict):
    version: Annotated[Literal[1], BeforeValidator(_known_version)] = Field(description="Schema version.")
    property_key: PropertyKey | None = Field(
        default=None,
        description="The property's public key (qoe properties create): the app, brand or environment "
        "the view belongs to. Write-only, and accepted only from the property's allowed origins.",
    )
    view_id: Id
    viewer_id: Id
    batch_seq: UInt32 = Field(description="Per-view beacon sequence number, from 0.")
    sent_at: EpochMs | None = Field(default=None, description="Viewer clock when the beacon was sent.")
    sdk: Sdk
    context: Context = Field(default_factory=Context)
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS_PER_BEACON)]

    @model_validator(mode="after")
    def _events_within_a_day(self) -> Beacon:
        times = [event.ts for event in self.events]
        lowest, highest = min(times), max(times)  # the common case costs these two passes only
        if highest - lowest > MAX_BEACON_SPAN_MS:
            first, last = times.index(lowest), times.index(highest)
            raise FieldError(
                ("events", last, "ts"),
                f"is {_hours(highest - lowest)} after events[{first}].ts; "
                f"the events of one beacon may span at most {_hours(MAX_BEACON_SPAN_MS)}",
            )
        sent_at = self.sent_at
        if sent_at is not None and max(highest - sent_at, sent_at - lowest) > MAX_BEACON_SPAN_MS:
            farthest = lowest if sent_at - lowest > highest - sent_at else highest
            side = "before" if farthest < sent_at else "after"
            raise FieldError(
                ("events", times.index(farthest), "ts"),
                f"is {_hours(abs(farthest - sent_at))} {side} sent_at; "
                f"a beacon's events lie within {_hours(MAX_BEACON_SPAN_MS)} of when it was sent",
            )
        return self


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:.1f} h"
