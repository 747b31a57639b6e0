"""deploy/compose.yaml, read as `docker compose` would (no Docker engine runs here)."""

from __future__ import annotations

import base64
import re
import shlex
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from foundation.settings import Settings
from qoe.cli import build_parser
from tests.factories.deploy import (
    COMPOSE_FILE,
    DEPLOY,
    DOCKERFILE,
    LISTEN_PORT_SETTING,
    QOE_VARIABLE,
    REPO,
    compose_environment,
    env_of_stage,
    final_stage,
    interpolate,
    is_setting,
    load_compose,
    load_dockerfile,
    settings_from_env,
)

PLATFORM_IMAGE_PREFIX = "qoe-platform:"
# Parts that read or write the warehouse, and parts that talk to Kafka.
WAREHOUSE_COMMANDS = {"migrate", "worker", "api", "dashboards"}
KAFKA_COMMANDS = {"worker", "ingest"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def platform_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services(compose).items() if s["image"].startswith(PLATFORM_IMAGE_PREFIX)}


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings inside the container: the image's ENV, then the service's environment."""
    instructions = load_dockerfile()
    return settings_from_env({**env_of_stage(instructions, final_stage(instructions)), **compose_environment(service)})


def service_running(compose: dict[str, Any], subcommand: str) -> str:
    names = [n for n, s in platform_services(compose).items() if command_of(s)[0] == subcommand]
    assert len(names) == 1, f"expected one service running `qoe {subcommand}`, found {names}"
    return names[0]


def test_interpolation_uses_the_files_defaults() -> None:
    assert interpolate("a:${X:-1.2}/${Y-b}$$z") == "a:1.2/b$z"
    with pytest.raises(ValueError, match="no default"):
        interpolate("${REQUIRED}")


def test_every_qoe_variable_is_a_setting() -> None:
    names = set(QOE_VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert names, "the compose file configures the platform with QOE_* variables"
    unknown = sorted(name for name in names if not is_setting(name))
    assert not unknown, f"not fields of foundation.settings.Settings: {unknown}"


def test_every_platform_command_parses(compose: dict[str, Any]) -> None:
    parser = build_parser()
    for name, service in platform_services(compose).items():
        try:
            parser.parse_args(command_of(service))
        except SystemExit:
            pytest.fail(f"service {name}: `qoe {' '.join(command_of(service))}` is not a valid command")


def test_each_part_runs_in_its_own_container(compose: dict[str, Any]) -> None:
    commands = sorted(command_of(s)[0] for s in platform_services(compose).values())
    assert commands == ["api", "dashboards", "ingest", "migrate", "simulate", "worker"]
    worker = services(compose)[service_running(compose, "worker")]
    assert command_of(worker) == ["worker"], "with a ClickHouse server the worker hosts neither API nor dashboards"


def test_settings_validate_and_point_at_the_servers(compose: dict[str, Any]) -> None:
    for name, service in platform_services(compose).items():
        settings = settings_of(service)
        command = command_of(service)[0]
        assert settings.host == "0.0.0.0", f"{name}: a container must listen beyond its loopback"
        if command in WAREHOUSE_COMMANDS:
            assert not settings.embedded_warehouse, f"{name} needs QOE_CLICKHOUSE_URL"
        if command in KAFKA_COMMANDS:
            assert not settings.embedded_broker, f"{name} needs QOE_KAFKA_BOOTSTRAP"


def test_clickhouse_url_matches_the_clickhouse_service(compose: dict[str, Any]) -> None:
    clickhouse = services(compose)["clickhouse"]
    env = compose_environment(clickhouse)
    for service in platform_services(compose).values():
        url = urlsplit(settings_of(service).clickhouse_url)
        assert (url.hostname, url.port) == ("clickhouse", 8123)
        assert (url.username, url.password) == (env["CLICKHOUSE_USER"], env["CLICKHOUSE_PASSWORD"])


def test_kafka_bootstrap_is_the_advertised_listener(compose: dict[str, Any]) -> None:
    env = compose_environment(services(compose)["kafka"])
    advertised = {urlsplit(listener).netloc for listener in env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for service in platform_services(compose).values():
        assert settings_of(service).kafka_bootstrap in advertised


def test_kafka_is_a_single_kraft_node_with_a_valid_cluster_id(compose: dict[str, Any]) -> None:
    env = compose_environment(services(compose)["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    node = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node}@kafka:")
    cluster_id = env["CLUSTER_ID"]
    raw = base64.urlsafe_b64decode(cluster_id + "==")
    assert len(raw) == 16 and base64.urlsafe_b64encode(raw).decode().rstrip("=") == cluster_id
    assert uuid.UUID(bytes=raw).int != 0
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_auto_created_topics_get_the_platforms_partition_count(compose: dict[str, Any]) -> None:
    partitions = {settings_of(s).topic_partitions for s in platform_services(compose).values()}
    assert len(partitions) == 1
    assert int(compose_environment(services(compose)["kafka"])["KAFKA_NUM_PARTITIONS"]) == partitions.pop()


def _published_container_ports(service: dict[str, Any]) -> set[int]:
    ports = {int(str(entry).rsplit(":", 1)[-1].split("/")[0]) for entry in service.get("ports", [])}
    return ports | {int(str(entry)) for entry in service.get("expose", [])}


def _healthcheck_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    urls = [part for part in test if re.match(r"https?://", str(part))]
    assert len(urls) == 1, test
    return str(urls[0])


def test_ports_and_health_checks_use_the_configured_ports(compose: dict[str, Any]) -> None:
    for name, service in platform_services(compose).items():
        command = command_of(service)[0]
        if command not in LISTEN_PORT_SETTING:
            assert "ports" not in service and "healthcheck" not in service, name
            continue
        port = getattr(settings_of(service), LISTEN_PORT_SETTING[command])
        assert _published_container_ports(service) == {port}, name
        url = urlsplit(_healthcheck_url(service))
        assert (url.hostname, url.port) == ("127.0.0.1", port), name
        assert url.path == "/healthz", name


def test_gateway_and_audience_reach_the_right_services(compose: dict[str, Any]) -> None:
    api_name = service_running(compose, "api")
    api_port = settings_of(services(compose)[api_name]).internal_api_port
    ingest_name = service_running(compose, "ingest")
    ingest = services(compose)[ingest_name]
    upstream = urlsplit(settings_of(ingest).resolved_internal_api_url())
    assert (upstream.hostname, upstream.port) == (api_name, api_port)

    audience = services(compose)[service_running(compose, "simulate")]
    args = build_parser().parse_args(command_of(audience))
    target = urlsplit(args.ingest_url)
    assert (target.hostname, target.port) == (ingest_name, settings_of(ingest).api_port)
    assert audience["profiles"] == ["audience"], "the audience is optional"


def test_dashboards_read_the_steering_board_of_the_gateway_service(compose: dict[str, Any]) -> None:
    ingest_name = service_running(compose, "ingest")
    dashboards = services(compose)[service_running(compose, "dashboards")]
    gateway = urlsplit(settings_of(dashboards).resolved_gateway_url())
    assert (gateway.hostname, gateway.port) == (ingest_name, settings_of(services(compose)[ingest_name]).api_port)


def test_start_order_waits_for_health_and_migrations(compose: dict[str, Any]) -> None:
    every = services(compose)
    migrate = service_running(compose, "migrate")
    assert every[migrate]["restart"] == "no", "migrate is one-shot"
    for name, service in every.items():
        for dependency, spec in service.get("depends_on", {}).items():
            condition = spec["condition"]
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "healthcheck" in every[dependency], f"{name} waits for {dependency}, which has no healthcheck"
        command = command_of(service)[0] if service["image"].startswith(PLATFORM_IMAGE_PREFIX) else ""
        if command in WAREHOUSE_COMMANDS - {"migrate"}:
            assert service["depends_on"][migrate]["condition"] == "service_completed_successfully", name
        if command in KAFKA_COMMANDS:
            assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_images_are_pinned_and_built_from_the_repository(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != "latest" and "/" not in tag, f"{name}: {image} is not pinned"
        assert re.search(r"\d", tag), f"{name}: {image} is not a version"
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == REPO
            assert context / service["build"]["dockerfile"] == DOCKERFILE
