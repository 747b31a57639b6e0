"""Python SDK for native and TV players, load tests and the audience simulator.

    async with AsyncSender("http://127.0.0.1:8000") as sender, Reporter(sender) as reporter:
        tracker = reporter.tracker(ViewerIdentity.from_dict(stored), context={"player_name": "tv-app"})
        view = tracker.start_view(title_id="t1", title="Big Buck Bunny")
        view.rendition_change(2500, width=1280, height=720)
        view.first_frame(playhead_ms=0)
        ...
        view.end("user_exit")

One Reporter (and one sender) serves every tracker of a process; see ``qoe_sdk.tracker``. The
beacon contract comes from the JSON Schema bundled with the package; see ``qoe_sdk.contract``.
"""

from qoe_sdk.beacon import SDK_NAME, SDK_VERSION, BatchConfig, BeaconJob
from qoe_sdk.contract import MAX_EVENTS_PER_BEACON, SCHEMA_VERSION
from qoe_sdk.identity import ViewerIdentity, new_id
from qoe_sdk.sink import BeaconSink, MemorySink
from qoe_sdk.tracker import Reporter, ReporterStats, Tracker, View, system_clock_ms
from qoe_sdk.transport import (
    AiohttpPoster,
    AsyncSender,
    HttpxPoster,
    Poster,
    PostResult,
    RetryPolicy,
    SenderStats,
    TransportError,
    parse_retry_after,
)

__all__ = [
    "MAX_EVENTS_PER_BEACON",
    "SCHEMA_VERSION",
    "SDK_NAME",
    "SDK_VERSION",
    "AiohttpPoster",
    "AsyncSender",
    "BatchConfig",
    "BeaconJob",
    "BeaconSink",
    "HttpxPoster",
    "MemorySink",
    "PostResult",
    "Poster",
    "Reporter",
    "ReporterStats",
    "RetryPolicy",
    "SenderStats",
    "Tracker",
    "TransportError",
    "View",
    "ViewerIdentity",
    "new_id",
    "parse_retry_after",
    "system_clock_ms",
]
