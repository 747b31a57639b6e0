"""The beacon schema: the single contract between players and the platform."""

from schemas.beacon import (
    MAX_BEACON_SPAN_MS,
    MAX_EVENTS_PER_BEACON,
    SCHEMA_VERSION,
    SUPPORTED_VERSIONS,
    Beacon,
    Context,
    Event,
    FieldError,
    Sdk,
)
from schemas.events import EventType
from schemas.record import BeaconRecord, DeadLetter, ErrorDetail, ServerContext

__all__ = [
    "MAX_BEACON_SPAN_MS",
    "MAX_EVENTS_PER_BEACON",
    "SCHEMA_VERSION",
    "SUPPORTED_VERSIONS",
    "Beacon",
    "BeaconRecord",
    "Context",
    "DeadLetter",
    "ErrorDetail",
    "Event",
    "EventType",
    "FieldError",
    "Sdk",
    "ServerContext",
]
