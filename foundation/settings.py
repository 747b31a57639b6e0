"""Every setting of the platform, in one place.

Settings are read from ``QOE_*`` environment variables (or a ``.env`` file) by the entrypoint,
which builds one :class:`Settings` and passes it down. No other module reads the environment.

Domain configs that pure code and tests build directly (``SessionizerConfig``, ``PolicyConfig``,
``LiveScoreConfig``, ...) are built from the settings with their ``from_settings``; where they
mirror a setting, their own default is :func:`default_of` that setting, so no default is written
twice (tests/foundation/test_settings.py checks every ``from_settings``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SHARED_DATA = Path("../shared/data")

KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QOE_", env_file=".env", extra="ignore")

    # --- where things are -------------------------------------------------------------
    kafka_bootstrap: str = Field("", description="Kafka bootstrap servers. Empty: start the embedded Tansu broker.")
    clickhouse_url: str = Field(
        "", description="ClickHouse server URL, e.g. http://user:pass@host:8123/db. Empty: embedded chDB in data_dir."
    )
    clickhouse_ca_cert: str = Field(
        "",
        description="PEM file of the CA that signed the ClickHouse server's certificate (https URLs). "
        "Empty: the system's trusted CAs.",
    )
    clickhouse_verify: bool = Field(
        True, description="Verify the ClickHouse server's certificate (https URLs). Off only for a test server."
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
    gateway_url: str = Field(
        "", description="URL the dashboards reach the gateway at. Empty: http://{host}:{api_port}."
    )
    dashboards_port: int = Field(8050, description="Dash dashboards port.")
    max_body_bytes: int = Field(1_000_000, description="Largest beacon body accepted, after decompression.")
    retry_after_s: int = Field(5, description="Retry-After sent with 503 when Kafka is unavailable.")
    cors_allow_origins: str = Field(
        "*", description="Origins whose pages may post beacons and CMCD: `*` or a comma-separated list."
    )
    cmcd_enabled: bool = Field(True, description="Accept CMCD reports (POST /v1/cmcd) from players.")
    trusted_proxies: str = Field(
        "127.0.0.1/32,::1/128",
        description="Networks (comma-separated CIDRs) whose requests may set geo headers (x-country, "
        "cf-ipcountry, cloudfront-viewer-country, x-region, x-asn); from any other peer they are ignored. "
        "Production: the load balancer's or ingress controller's range.",
    )
    property_keys_required: bool = Field(
        False,
        description="Refuse beacons and CMCD reports without a property key (401). Off: they join the default "
        "property. Production manifests turn it on; a key that is present is always checked (unknown or "
        "revoked: 403; a browser posting from an origin the property does not allow: 403).",
    )
    property_keys_refresh_s: float = Field(
        5.0,
        gt=0,
        description="How often the gateway reloads the property keys from the warehouse API; an unknown key "
        "reloads them at once (at most once a second), so a new property works as soon as it is created.",
    )
    viewer_id_hmac_key: SecretStr | None = Field(
        None,
        description="Key of the HMAC-SHA256 that replaces every viewer id at ingest, before Kafka. "
        "Unset: viewer ids are stored as sent. From a Secret; never logged.",
    )

    # --- rate limits and resource bounds (docs/security.md) -------------------------------
    rate_limit_beacons: str = Field(
        "2000/second",
        description="Beacon and CMCD posts per client address, valid or not (`limits` notation, e.g. 2000/second; "
        "empty: no limit). Generous on purpose: 20,000 players at one beacon per 10 s behind one carrier-grade NAT.",
    )
    rate_limit_refused_beacons: str = Field(
        "10/second",
        description="Beacon and CMCD posts refused as bad input (400, 413, 415, 422) per client address and route; "
        "past it the address gets 429 on every post of that route until its refusals weigh less (sliding window).",
    )
    rate_limit_players: str = Field(
        "2000/second",
        description="Requests per client address for what players and delivery components fetch: the steering "
        "manifests, decision, scores and groups, and the demo's page, SDK and media. As generous as beacons.",
    )
    rate_limit_api: str = Field(
        "50/second",
        description="Requests per client address to every other gateway route: the read APIs it forwards, docs. "
        "/healthz and /metrics are never limited.",
    )
    rate_limit_storage_url: str = Field(
        "",
        description="Where rate-limit counters live. Empty: each gateway replica's memory. "
        "redis://host:6379 (or rediss://) shares them across replicas.",
    )
    warehouse_max_execution_s: float = Field(
        20.0,
        description="Longest a warehouse query may run (ClickHouse max_execution_time), under the gateway's 30 s "
        "proxy timeout, so the client gets the reason; 0: no limit.",
    )
    warehouse_max_memory_bytes: int = Field(
        4_294_967_296, description="Most memory one warehouse query may use (ClickHouse max_memory_usage); 0: no limit."
    )

    # --- access tokens of the APIs (docs/security.md) --------------------------------------
    admin_token: SecretStr | None = Field(
        None,
        description="An admin access token (qoe_<id>_<secret>, e.g. from `qoe keys generate`) that the warehouse API "
        "registers at start, so a fresh deployment has one admin credential; `qoe` commands use it too. "
        "From a Secret; never logged.",
    )
    rate_limit_per_token: str = Field(
        "50/second",
        description="Requests per access token to the read APIs the gateway forwards, beside the per-address "
        "limits (`limits` notation; empty: no limit). The delivery routes (steering decision, scores, groups) "
        "keep only the players' per-address limit.",
    )

    # --- Kafka --------------------------------------------------------------------------
    topic_beacons: str = Field("beacons", description="Accepted beacon batches, one record each, keyed by view id.")
    topic_dead_letter: str = Field("beacons-dlq", description="Refused input with the reason.")
    topic_partitions: int = Field(4, description="Partitions of the topics qoe creates.")
    topic_replication_factor: int = Field(1, description="Replicas of the topics qoe creates (3 on a real cluster).")
    topic_cdn_scores: str = Field("cdn-scores", description="Live QoE figures per CDN and viewer group (compacted).")
    topic_steering_decisions: str = Field("steering-decisions", description="Steering priority changes, for audit.")
    kafka_ack_timeout_s: float = Field(5.0, description="How long ingest waits for Kafka's acknowledgement.")
    kafka_linger_ms: int = Field(
        0,
        description="Producer linger. Records that arrive while a produce request is in flight share the next one, "
        "so 0 batches under load and adds no wait to a request that awaits its acknowledgement.",
    )
    kafka_batch_bytes: int = Field(1_048_576, description="Producer batch size per partition.")
    faust_app_id: str = Field("qoe-streams", description="Faust application id (consumer group prefix).")
    broker_session_timeout_s: float = Field(10.0, description="Consumer session timeout.")
    broker_heartbeat_interval_s: float = Field(2.0, description="Consumer heartbeat interval.")
    consumer_max_fetch_bytes: int = Field(
        16_777_216, description="Most data a stream worker fetches per partition per request."
    )
    consumer_max_poll_records: int = Field(10_000, description="Most records a stream worker takes per poll.")
    broker_rebalance_timeout_s: float = Field(10.0, description="Consumer rebalance timeout.")
    # Transport security of every Kafka client (foundation/kafka_security.py translates these).
    kafka_security_protocol: KafkaSecurityProtocol = Field(
        "PLAINTEXT", description="Kafka listener protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    kafka_ssl_cafile: str = Field(
        "", description="PEM file of the CA that signed the brokers' certificates (SSL, SASL_SSL). Empty: system CAs."
    )
    kafka_ssl_certfile: str = Field("", description="Client certificate (PEM) for mutual TLS with the brokers.")
    kafka_ssl_keyfile: str = Field("", description="Private key (PEM) of the client certificate.")
    kafka_sasl_mechanism: KafkaSaslMechanism = Field(
        "SCRAM-SHA-512", description="SASL mechanism (SASL_*): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."
    )
    kafka_sasl_username: str = Field("", description="SASL user (SASL_PLAINTEXT, SASL_SSL).")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (SASL_*); from a Secret, never a ConfigMap. Never logged."
    )

    # --- warehouse ----------------------------------------------------------------------
    sink_batch_rows: int = Field(
        1000, description="The sink inserts once this many rows are buffered and no insert is running ..."
    )
    sink_max_batch_rows: int = Field(100_000, description="... or once this many are buffered, whatever runs ...")
    sink_max_age_s: float = Field(1.0, description="... or once the oldest buffered row is this old.")
    raw_retention_days: int = Field(30, description="TTL of raw beacon events.")
    stream_max_retries: int = Field(
        3,
        description="A row the warehouse refuses as bad data is tried this many more times, then sent to the "
        "dead-letter topic and its record acknowledged. Transient failures (warehouse down) are retried until they "
        "pass.",
    )

    # --- sessionizer (docs/metrics.md) ---------------------------------------------------------
    sessionizer_inactivity_timeout_s: float = Field(1800.0, description="A view with no beacon this long is closed.")
    sessionizer_ended_grace_s: float = Field(
        60.0, description="... or this long after `ended` or a fatal error without `view_end`."
    )
    sessionizer_flush_interval_s: float = Field(0.5, description="A view's change is written at most this late ...")
    sessionizer_flush_views: int = Field(2000, description="... or as soon as this many views changed.")
    sessionizer_evict_after_s: float = Field(300.0, description="A closed view leaves memory this long after.")

    # --- CDN steering (docs/steering.md) ---------------------------------------------------------
    steering_pathways: str = Field("cdn-a,cdn-b,cdn-c", description="Every pathway (CDN), in the safe default order.")
    steering_ttl_s: int = Field(20, description="TTL of the steering manifests served to players.")
    steering_min_views: int = Field(30, description="A CDN's figure counts from this many scored views.")
    steering_max_age_s: float = Field(180.0, description="Older figures are stale: the default order applies.")
    steering_switch_margin: float = Field(3.0, description="QoE points a challenger must lead the incumbent by ...")
    steering_switch_hold_s: float = Field(60.0, description="... for this long before a group is switched.")
    steering_emergency_margin: float = Field(20.0, description="A lead this large switches at once.")
    steering_explore_rate: float = Field(0.05, description="Share of steering answers that explore another CDN.")
    steering_spread_without_data: bool = Field(
        True, description="A group without figures is spread evenly over the pathways."
    )
    steering_instance: str = Field("gateway", description="Names this replica in the steering decision log.")
    steering_score_window_s: int = Field(30, description="The live CDN figures cover this many seconds.")
    steering_score_tick_s: float = Field(1.0, description="The score agent publishes this often.")
    steering_score_min_views: int = Field(5, description="The score agent publishes figures from this many views.")
    steering_max_source_share: float = Field(
        0.1,
        description="Largest share of a live CDN figure (and of the views counted for it) that one client "
        "source may make up: an address (IPv6: its /64) as ingest resolves it. 1 turns the cap off.",
    )

    # --- autoscaling signals (docs/autoscaling.md) -----------------------------------------------
    autoscaling_provision_minutes: int = Field(3, description="How far ahead capacity must be asked for.")
    autoscaling_stabilisation_s: float = Field(180.0, description="A lower recommendation waits this long.")
    autoscaling_max_data_age_s: float = Field(600.0, description="Older demand data: the signal says it is stale.")
    autoscaling_headroom: float = Field(0.25, description="Spare capacity on top of the forecast demand.")
    autoscaling_edge_gbps_per_replica: float = Field(20.0, description="Egress one edge replica serves.")
    autoscaling_origin_rps_per_replica: float = Field(400.0, description="Requests/s one origin replica serves.")
    autoscaling_ingest_beacons_per_replica: float = Field(1500.0, description="Beacons/s one ingest replica takes.")
    autoscaling_worker_events_per_replica: float = Field(50_000.0, description="Events/s one stream worker folds.")
    autoscaling_events_file: Path | None = Field(
        None, description="JSON list of scheduled live events (docs/autoscaling.md); read again when it changes."
    )

    # --- recommender (docs/recommender.md) --------------------------------------------------------
    recommender_first_retrain_s: float = Field(
        300.0, description="First retrain after the worker starts (and retry delay until a model exists)."
    )
    recommender_retrain_interval_s: float = Field(3600.0, description="Retrain this often when new views arrived.")

    # --- dashboards sign-in (docs/security.md) ---------------------------------------------------
    dashboards_secret_key: SecretStr | None = Field(
        None,
        description="Key that signs the dashboards' session cookies; every dashboards replica needs the same one "
        "(`openssl rand -hex 32`). Unset: a random key per process, so sessions end when it restarts. From a "
        "Secret; never logged.",
    )
    dashboards_admin_password: SecretStr | None = Field(
        None,
        description="When set, the dashboards ensure at start a user `admin` with the admin role and this password "
        "(hashed again only when it changed; a disabled `admin` is enabled again). From a Secret; never logged.",
    )
    dashboards_secure_cookies: bool = Field(
        True,
        description="Session cookies only over HTTPS (Secure). Browsers keep them over plain http on "
        "127.0.0.1 and localhost too (`qoe up`, a port-forward); off only for plain http under another name.",
    )
    dashboards_session_hours: float = Field(12.0, description="A dashboards sign-in lasts this long.")
    dashboards_login_rate_limit: str = Field(
        "5/minute",
        description="Failed dashboards sign-ins per user name and client address (`limits` notation; empty: no "
        "limit); past it 429 with Retry-After. The address is the peer's, or the X-Forwarded-For client of a "
        "QOE_TRUSTED_PROXIES peer.",
    )

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

    def resolved_gateway_url(self) -> str:
        return self.gateway_url or f"http://{self.host}:{self.api_port}"

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def embedded_warehouse(self) -> bool:
        return not self.clickhouse_url

    @property
    def steering_pathway_list(self) -> tuple[str, ...]:
        """``steering_pathways`` as a tuple, in the safe default order."""
        return tuple(p.strip() for p in self.steering_pathways.split(",") if p.strip())


def default_of(name: str) -> Any:
    """The default of setting ``name``: the default of a domain config field that mirrors it."""
    return Settings.model_fields[name].default


def default_settings(**values: Any) -> Settings:
    """The model's defaults with ``values``, whatever this machine's ``QOE_*`` variables and
    ``.env`` say: for evaluations whose figures must not depend on where they run."""
    return Settings.model_construct(**values)


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
