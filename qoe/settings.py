"""Every setting of the platform, in one place.

Settings are read from ``QOE_*`` environment variables (or a ``.env`` file) by the entrypoint,
which builds one :class:`Settings` and passes it down. No other module reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SHARED_DATA = Path("../shared/data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QOE_", env_file=".env", extra="ignore")

    # --- where things are -------------------------------------------------------------
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers. Empty: start the embedded Tansu broker.")
    clickhouse_url: str = Field(
        "", description="ClickHouse server URL, e.g. http://user:pass@host:8123/db. Empty: embedded chDB in data_dir."
    )
    warehouse_database: str = Field("qoe", description="ClickHouse database of the platform's tables.")
    data_dir: Path = Field(Path(".qoe"), description="Embedded warehouse files, models and run state.")
    shared_data_dir: Path | None = Field(
        None, description="Research data (traces, manifests, Waterloo SQoE). Default: ../shared/data when it exists."
    )

    # --- HTTP ---------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Interface the HTTP services bind to.")
    api_port: int = Field(8000, description="Gateway port: every HTTP API under /v1, plus /healthz and /metrics.")
    internal_api_port: int = Field(8001, description="Port of the warehouse-side API that the gateway forwards to.")
    internal_api_url: str = Field(
        "", description="URL of the warehouse-side API. Empty: http://{host}:{internal_api_port}."
    )
    dashboards_port: int = Field(8050, description="Dash dashboards port.")
    max_body_bytes: int = Field(1_000_000, description="Largest beacon body accepted, after decompression.")
    retry_after_s: int = Field(5, description="Retry-After sent with 503 when Kafka is unavailable.")

    # --- Kafka --------------------------------------------------------------------------
    topic_beacons: str = Field("beacons", description="Accepted beacon batches, one record each, keyed by view id.")
    topic_dead_letter: str = Field("beacons-dlq", description="Refused input with the reason.")
    topic_partitions: int = Field(4, description="Partitions of the topics qoe creates.")
    kafka_ack_timeout_s: float = Field(5.0, description="How long ingest waits for Kafka's acknowledgement.")
    kafka_linger_ms: int = Field(2, description="Producer linger: small batches, low latency.")
    kafka_batch_bytes: int = Field(1_048_576, description="Producer batch size per partition.")
    faust_app_id: str = Field("qoe-streams", description="Faust application id (consumer group prefix).")
    broker_session_timeout_s: float = Field(10.0, description="Consumer session timeout.")
    broker_heartbeat_interval_s: float = Field(2.0, description="Consumer heartbeat interval.")
    consumer_max_fetch_bytes: int = Field(
        16_777_216, description="Most data a stream worker fetches per partition per request."
    )
    consumer_max_poll_records: int = Field(10_000, description="Most records a stream worker takes per poll.")
    broker_rebalance_timeout_s: float = Field(10.0, description="Consumer rebalance timeout.")

    # --- warehouse ----------------------------------------------------------------------
    sink_batch_rows: int = Field(
        1000, description="The sink inserts once this many rows are buffered and no insert is running ..."
    )
    sink_max_batch_rows: int = Field(100_000, description="... or once this many are buffered, whatever runs ...")
    sink_max_age_s: float = Field(1.0, description="... or once the oldest buffered row is this old.")
    raw_retention_days: int = Field(30, description="TTL of raw beacon events.")

    # --- audience -----------------------------------------------------------------------
    audience_viewers: int = Field(200, description="Concurrent simulated viewers that `qoe up` starts.")
    seed: int = Field(0, description="Seed of the simulated audience.")

    def resolved_shared_data(self) -> Path | None:
        """The research data directory, or None when this machine has none."""
        if self.shared_data_dir is not None:
            return self.shared_data_dir if self.shared_data_dir.is_dir() else None
        return DEFAULT_SHARED_DATA if DEFAULT_SHARED_DATA.is_dir() else None

    def resolved_internal_api_url(self) -> str:
        return self.internal_api_url or f"http://{self.host}:{self.internal_api_port}"

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def embedded_warehouse(self) -> bool:
        return not self.clickhouse_url


def settings_table() -> str:
    """The README's table of every setting, generated so it cannot drift from the model."""
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else ""
        shown = f"`{default}`" if default != "" else "(empty)"
        lines.append(f"| `QOE_{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_table())
