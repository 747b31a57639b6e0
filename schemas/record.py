"""What ingest writes to Kafka: the beacon as the player sent it, plus what only the server knows."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.beacon import Beacon, EpochMs, Label, UInt32


class ServerContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    received_at: EpochMs
    user_agent: Annotated[str, Field(max_length=1024)] = ""
    browser: Label = ""
    browser_version: Label = ""
    os: Label = ""
    os_version: Label = ""
    device_type: Label = ""
    device_model: Label = ""
    country: Label = ""
    region: Label = ""
    asn: UInt32 | None = None
    property: Annotated[str, Field(max_length=63)] = Field(
        "",
        description="The property id ingest resolved from the beacon's property key; empty: the default "
        "property, when keys are optional.",
    )
    # Anywhere but first: the raw sink reads ``received_at`` from the record's first bytes.
    source: Annotated[str, Field(max_length=64)] | None = Field(
        None,
        description="Who sent the beacon, as an opaque id: a keyed hash of the client address ingest "
        "resolved (never the address). The live CDN figures cap each source's share "
        "(docs/steering.md). None: the platform's own traffic, or a record written before sources existed.",
    )


class BeaconRecord(BaseModel):
    """One Kafka record on the ``beacons`` topic, keyed by view id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    beacon: Beacon
    server: ServerContext


class ErrorDetail(BaseModel):
    field: str
    message: str


class DeadLetter(BaseModel):
    """One record on the dead-letter topic: the input we refused and why."""

    received_at: EpochMs
    source: str = Field(description="Endpoint that refused the input.")
    status: int
    reason: str
    errors: list[ErrorDetail] = Field(default_factory=list)
    content_type: str = ""
    user_agent: str = ""
    body: str = Field(description="The body as received (decoded), truncated.")
    body_truncated: bool = False
