from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from delivery.autoscaling.capacity import CapacityModel
from delivery.autoscaling.signals import SignalConfig
from delivery.steering.policy import PolicyConfig
from delivery.steering.service import SteeringConfig
from foundation.settings import Settings, default_of, default_settings, settings_table
from ingest.intake import IntakeConfig
from ingest.limits import RateLimitConfig
from recommender.retrain import RetrainSchedule
from streams.cdn_scores.live import LiveScoreConfig
from streams.failures import RetryPolicy
from streams.sessionizer.config import SessionizerConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_as_generated() -> None:
    text = README.read_text()
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    block = text[text.index(start) + len(start) : text.index(end)]
    assert block == settings_table(), "run `python scripts/readme-settings.py`"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QOE_API_PORT", "9100")
    monkeypatch.setenv("QOE_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    settings = Settings(_env_file=None)
    assert settings.api_port == 9100
    assert not settings.embedded_broker
    assert settings.embedded_warehouse


def test_missing_research_data_is_none_not_an_error(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, shared_data_dir=tmp_path / "absent")
    assert settings.resolved_shared_data() is None


# --- sub-configs: built from the settings, with the settings' defaults ------------------------------------------


def _policy(settings: Settings) -> PolicyConfig:
    # ``pathways`` has no default, and ``spread_without_data`` deliberately defaults to False, not
    # to the setting's True: the bare policy keeps the default order (docs/steering.md).
    return PolicyConfig(settings.steering_pathway_list, spread_without_data=settings.steering_spread_without_data)


# Every class with a ``from_settings``, and what its own defaults make of the settings' defaults.
OWN_DEFAULTS: dict[type[Any], Callable[[Settings], object]] = {
    SessionizerConfig: lambda _: SessionizerConfig(),
    LiveScoreConfig: lambda _: LiveScoreConfig(),
    RetryPolicy: lambda _: RetryPolicy(),
    RetrainSchedule: lambda _: RetrainSchedule(),
    CapacityModel: lambda _: CapacityModel(),
    SignalConfig: lambda _: SignalConfig(),
    PolicyConfig: _policy,
    SteeringConfig: lambda s: SteeringConfig(_policy(s)),
    IntakeConfig: lambda _: IntakeConfig(),
    RateLimitConfig: lambda _: RateLimitConfig(),
}

# (sub-config, its field, the setting it takes): every setting a ``from_settings`` reads.
MIRRORS: list[tuple[type[Any], str, str]] = [
    (SessionizerConfig, "inactivity_timeout_s", "sessionizer_inactivity_timeout_s"),
    (SessionizerConfig, "ended_grace_s", "sessionizer_ended_grace_s"),
    (SessionizerConfig, "flush_interval_s", "sessionizer_flush_interval_s"),
    (SessionizerConfig, "flush_views", "sessionizer_flush_views"),
    (SessionizerConfig, "evict_after_s", "sessionizer_evict_after_s"),
    (SessionizerConfig, "late_limit_days", "raw_retention_days"),
    (LiveScoreConfig, "window_s", "steering_score_window_s"),
    (LiveScoreConfig, "min_views", "steering_score_min_views"),
    (LiveScoreConfig, "max_source_share", "steering_max_source_share"),
    (RetryPolicy, "max_retries", "stream_max_retries"),
    (RetrainSchedule, "first_after_s", "recommender_first_retrain_s"),
    (RetrainSchedule, "interval_s", "recommender_retrain_interval_s"),
    (CapacityModel, "edge_gbps_per_replica", "autoscaling_edge_gbps_per_replica"),
    (CapacityModel, "origin_rps_per_replica", "autoscaling_origin_rps_per_replica"),
    (CapacityModel, "ingest_beacons_per_replica", "autoscaling_ingest_beacons_per_replica"),
    (CapacityModel, "worker_events_per_replica", "autoscaling_worker_events_per_replica"),
    (CapacityModel, "headroom", "autoscaling_headroom"),
    (SignalConfig, "provision_minutes", "autoscaling_provision_minutes"),
    (SignalConfig, "stabilisation_s", "autoscaling_stabilisation_s"),
    (SignalConfig, "max_data_age_s", "autoscaling_max_data_age_s"),
    (SignalConfig, "capacity.headroom", "autoscaling_headroom"),
    (PolicyConfig, "pathways", "steering_pathway_list"),
    (PolicyConfig, "min_views", "steering_min_views"),
    (PolicyConfig, "max_age_s", "steering_max_age_s"),
    (PolicyConfig, "switch_margin", "steering_switch_margin"),
    (PolicyConfig, "switch_hold_s", "steering_switch_hold_s"),
    (PolicyConfig, "emergency_margin", "steering_emergency_margin"),
    (PolicyConfig, "explore_rate", "steering_explore_rate"),
    (PolicyConfig, "spread_without_data", "steering_spread_without_data"),
    (SteeringConfig, "ttl_s", "steering_ttl_s"),
    (SteeringConfig, "policy.explore_rate", "steering_explore_rate"),
    (IntakeConfig, "trusted_proxies", "trusted_proxies"),
    (IntakeConfig, "viewer_id_hmac_key", "viewer_id_hmac_key"),
    (IntakeConfig, "raw_retention_days", "raw_retention_days"),
    (RateLimitConfig, "beacons", "rate_limit_beacons"),
    (RateLimitConfig, "refused_beacons", "rate_limit_refused_beacons"),
    (RateLimitConfig, "players", "rate_limit_players"),
    (RateLimitConfig, "api", "rate_limit_api"),
    (RateLimitConfig, "per_token", "rate_limit_per_token"),
    (RateLimitConfig, "storage_url", "rate_limit_storage_url"),
]
PRODUCT = ("ingest", "streams", "delivery", "recommender", "dashboards", "warehouse", "foundation", "qoe")
REPO = README.parent


def _changed(value: bool | float) -> bool | float:
    """Another valid value of a setting."""
    if isinstance(value, bool):
        return not value
    return value + 1 if isinstance(value, int) else value * 1.5


# Another valid value of each setting of MIRRORS that is text (or unset), by hand.
OTHER_VALUES: dict[str, Any] = {
    "trusted_proxies": "10.0.0.0/8, fd00::/8",
    "viewer_id_hmac_key": SecretStr("a-key-of-at-least-16-characters"),
    "rate_limit_beacons": "10/second",
    "rate_limit_refused_beacons": "1/second",
    "rate_limit_players": "5 per minute",
    "rate_limit_api": "",
    "rate_limit_per_token": "7/second",
    "rate_limit_storage_url": "redis://redis:6379",
}
# Every setting of MIRRORS changed (steering_pathway_list is steering_pathways, parsed).
CHANGED = default_settings(
    steering_pathways="cdn-x, cdn-y",
    **{
        s: OTHER_VALUES[s] if s in OTHER_VALUES else _changed(default_of(s))
        for _, _, s in MIRRORS
        if s != "steering_pathway_list"
    },
)


def _field(config: object, dotted: str) -> Any:
    for name in dotted.split("."):
        config = getattr(config, name)
    return config


def _modules(packages: tuple[str, ...]) -> Iterator[tuple[str, ast.Module]]:
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            yield module, ast.parse(path.read_text(), str(path))


def _from_settings() -> dict[str, ast.FunctionDef]:
    """Every ``from_settings`` in the product packages and benchmarks, by its class's dotted name."""
    found = {}
    for module, tree in _modules((*PRODUCT, "bench", "evaluation")):
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "from_settings":
                        found[f"{module}.{node.name}"] = item
    return found


def _dotted(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.mark.parametrize("config", OWN_DEFAULTS, ids=lambda c: c.__name__)
def test_a_sub_config_built_from_the_default_settings_is_its_own_default(config: type[Any]) -> None:
    defaults = default_settings()
    assert config.from_settings(defaults) == OWN_DEFAULTS[config](defaults)


@pytest.mark.parametrize(("config", "field", "setting"), MIRRORS, ids=lambda v: getattr(v, "__name__", v))
def test_a_sub_config_takes_the_setting_it_mirrors(config: type[Any], field: str, setting: str) -> None:
    defaults = default_settings()
    assert _field(OWN_DEFAULTS[config](defaults), field) == getattr(defaults, setting)
    assert _field(config.from_settings(CHANGED), field) == getattr(CHANGED, setting) != getattr(defaults, setting)


def test_every_from_settings_is_checked_for_every_setting_it_reads() -> None:
    found = _from_settings()
    assert set(found) == {_dotted(config) for config in OWN_DEFAULTS}, "add the new sub-config to OWN_DEFAULTS"
    for config in OWN_DEFAULTS:
        body = found[_dotted(config)]
        read = {n.attr for n in ast.walk(body) if isinstance(n, ast.Attribute) and ast.unparse(n.value) == "settings"}
        listed = {setting for owner, _, setting in MIRRORS if owner is config}
        assert read <= listed, f"add {config.__name__}'s {sorted(read - listed)} to MIRRORS"


def test_pathways_are_a_comma_separated_list() -> None:
    assert default_settings(steering_pathways=" cdn-x, cdn-y ,").steering_pathway_list == ("cdn-x", "cdn-y")
    assert default_settings().steering_pathway_list == ("cdn-a", "cdn-b", "cdn-c")


def test_settings_travel_typed() -> None:
    """A parameter or variable named ``settings`` is a :class:`Settings` (or its FastAPI dependency), never ``Any``."""
    untyped = []
    for module, tree in _modules((*PRODUCT, "bench", "evaluation")):
        for node in ast.walk(tree):
            if isinstance(node, ast.arg):
                name, annotation = node.arg, node.annotation
            elif isinstance(node, ast.AnnAssign):
                name, annotation = ast.unparse(node.target).rsplit(".", 1)[-1], node.annotation
            else:
                continue
            typed = annotation is not None and ast.unparse(annotation) in ("Settings", "SettingsDep")
            if name == "settings" and not typed:
                untyped.append(f"{module}:{node.lineno}")
    assert not untyped
