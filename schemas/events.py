"""The closed list of player event types: one typed list, as hls.js keeps its ``Events``.

Names follow CTA-2066 player events, with Mux's finer-grained events where CTA-2066 is
silent (seeks, network requests, heartbeats). See REFERENCE §1.
"""

from enum import StrEnum


class EventType(StrEnum):
    PLAYBACK_REQUEST = "playback_request"  # play intent (click or autoplay): the view's attempt
    PLAYBACK_START = "playback_start"  # first frame shown with the playhead advancing
    PAUSE = "pause"
    RESUME = "resume"
    SEEK_START = "seek_start"
    SEEK_END = "seek_end"
    STALL_START = "stall_start"  # the SDK reports every wait; the server excludes startup and seeks
    STALL_END = "stall_end"
    RENDITION_CHANGE = "rendition_change"
    PLAYER_RESIZE = "player_resize"
    ERROR = "error"
    ENDED = "ended"  # content played to its end
    VIEW_END = "view_end"  # the view is over: unload, content change, user exit
    HEARTBEAT = "heartbeat"
    AD_BREAK_START = "ad_break_start"
    AD_BREAK_END = "ad_break_end"
    REQUEST_COMPLETED = "request_completed"
    REQUEST_FAILED = "request_failed"
    PATHWAY_CHANGE = "pathway_change"  # content steering moved the player to another CDN
