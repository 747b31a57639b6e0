"""deploy/k8s: the kustomization and every manifest it lists, checked against the code they run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, cast
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from clickhouse_connect.driver.client import Client
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from dashboards.app import create_dashboards
from dashboards.data import DashboardData
from delivery.autoscaling.signals import AutoscalingSignals, SignalConfig
from delivery.autoscaling.warehouse import OTHER_REGION, REGION_OF
from foundation.settings import Settings
from ingest.app import create_app
from ingest.producer import MemoryRecordSink
from qoe.api import create_api
from qoe.cli import build_parser
from tests.factories.delivery import FakeDemandSource, demand_frame
from tests.factories.deploy import (
    K8S_DIR,
    LISTEN_PORT_SETTING,
    QOE_VARIABLE,
    env_of_stage,
    final_stage,
    gjson_get,
    is_setting,
    load_dockerfile,
    load_k8s_documents,
    load_kustomization,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    settings_from_env,
)

NOW = datetime(2026, 9, 17, 18, 0, 45, tzinfo=UTC)
SETTINGS_CONFIGMAP = "qoe-settings"
# Created by the operator, never committed (deploy/README.md): it holds the ClickHouse credentials.
WAREHOUSE_SECRET = "qoe-warehouse"
WAREHOUSE_COMMANDS = {"migrate", "worker", "api", "dashboards"}
# The tier of the signal document that sizes each scaled part (docs/autoscaling.md §3).
TIER_OF_COMMAND = {"ingest": "ingest", "worker": "stream_workers"}
KNOWN_KINDS = {"Namespace", "ConfigMap", "Deployment", "Service", "Job", "ScaledObject"}


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return load_k8s_documents()


def workloads(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return of_kind(documents, "Deployment") + of_kind(documents, "Job")


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(workload)["containers"]
    assert len(containers) == 1, workload["metadata"]["name"]
    return containers[0]


def command_of(workload: dict[str, Any]) -> list[str]:
    container = only_container(workload)
    return [str(part) for part in container.get("command", []) + container.get("args", [])]


def deployment_running(documents: list[dict[str, Any]], subcommand: str) -> dict[str, Any]:
    found = [d for d in of_kind(documents, "Deployment") if command_of(d)[0] == subcommand]
    assert len(found) == 1, f"expected one Deployment running `qoe {subcommand}`"
    return found[0]


def configmap_env(documents: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = named(documents, "ConfigMap", SETTINGS_CONFIGMAP)["data"]
    return data


def settings_of(documents: list[dict[str, Any]], workload: dict[str, Any]) -> Settings:
    """The image's ENV, then the ConfigMap, then the Secret (its URL stands in for the real one)."""
    instructions = load_dockerfile()
    env = env_of_stage(instructions, final_stage(instructions))
    for source in only_container(workload).get("envFrom", []):
        if "configMapRef" in source:
            env.update(named(documents, "ConfigMap", source["configMapRef"]["name"])["data"])
        elif source["secretRef"]["name"] == WAREHOUSE_SECRET:
            env["QOE_CLICKHOUSE_URL"] = "http://qoe:secret@clickhouse.example:8123"
    env.update({e["name"]: e["value"] for e in only_container(workload).get("env", [])})
    return settings_from_env(env)


def scale_target(documents: list[dict[str, Any]], scaled: dict[str, Any]) -> dict[str, Any]:
    return named(documents, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])


def service_for(documents: list[dict[str, Any]], workload: dict[str, Any]) -> dict[str, Any]:
    labels = pod_labels(workload)
    found = [
        s for s in of_kind(documents, "Service") if all(labels.get(k) == v for k, v in s["spec"]["selector"].items())
    ]
    assert len(found) == 1, workload["metadata"]["name"]
    return found[0]


def container_port(workload: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    ports = {p["name"]: p["containerPort"] for p in only_container(workload)["ports"]}
    return int(ports[port])


def test_kustomization_lists_every_manifest() -> None:
    listed = load_kustomization()["resources"]
    on_disk = sorted(p.name for p in K8S_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)
    assert not list(K8S_DIR.glob("*.yml")), "manifests use the .yaml extension"


def test_manifests_parse_into_known_kinds_in_one_namespace(documents: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in documents}
    assert kinds <= KNOWN_KINDS, kinds - KNOWN_KINDS
    namespace = load_kustomization()["namespace"]
    assert [doc["metadata"]["name"] for doc in of_kind(documents, "Namespace")] == [namespace]
    for doc in documents:
        assert doc["metadata"].get("namespace", namespace) == namespace, doc["metadata"]["name"]


def test_no_hand_written_hpa(documents: list[dict[str, Any]]) -> None:
    """KEDA creates the HPA of each ScaledObject; a second autoscaler on a workload would fight it."""
    assert not of_kind(documents, "HorizontalPodAutoscaler")
    for scaled in of_kind(documents, "ScaledObject"):
        target = scale_target(documents, scaled)
        assert "replicas" not in target["spec"], "kubectl apply would reset the replicas KEDA set"


def test_every_qoe_variable_is_a_setting() -> None:
    names = {name for path in K8S_DIR.glob("*.yaml") for name in QOE_VARIABLE.findall(path.read_text())}
    assert names
    unknown = sorted(name for name in names if not is_setting(name))
    assert not unknown, f"not fields of foundation.settings.Settings: {unknown}"


def test_every_container_runs_a_real_qoe_command(documents: list[dict[str, Any]]) -> None:
    parser = build_parser()
    for workload in workloads(documents):
        argv = command_of(workload)
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"{workload['metadata']['name']}: `qoe {' '.join(argv)}` is not a valid command")
    commands = sorted(command_of(w)[0] for w in workloads(documents))
    assert commands == ["api", "dashboards", "ingest", "migrate", "worker"]


def test_images_are_pinned(documents: list[dict[str, Any]]) -> None:
    pins = {image["name"]: image for image in load_kustomization()["images"]}
    for workload in workloads(documents):
        image = only_container(workload)["image"]
        name, _, tag = image.rpartition(":")
        assert tag and tag != "latest", image
        override = pins.get(name)
        if override is not None:
            assert override.get("newTag", tag) not in ("", "latest")
            assert "digest" in override or override.get("newTag") == tag


def test_settings_validate_and_reach_external_kafka_and_clickhouse(documents: list[dict[str, Any]]) -> None:
    for workload in workloads(documents):
        name, command = workload["metadata"]["name"], command_of(workload)[0]
        settings = settings_of(documents, workload)
        assert settings.host == "0.0.0.0", name
        refs = {next(iter(s.values()))["name"] for s in only_container(workload)["envFrom"]}
        assert SETTINGS_CONFIGMAP in refs, name
        if command in WAREHOUSE_COMMANDS:
            assert WAREHOUSE_SECRET in refs and not settings.embedded_warehouse, f"{name} needs the warehouse URL"
        else:
            assert WAREHOUSE_SECRET not in refs, f"{name} does not read the warehouse: no credentials"
        if command in {"worker", "ingest"}:
            assert not settings.embedded_broker, f"{name} needs QOE_KAFKA_BOOTSTRAP"
    assert "QOE_CLICKHOUSE_URL" not in configmap_env(documents), "credentials belong in the Secret"


def test_containers_services_and_probes_use_the_configured_ports(documents: list[dict[str, Any]]) -> None:
    for command, setting in LISTEN_PORT_SETTING.items():
        deployment = deployment_running(documents, command)
        port = getattr(settings_of(documents, deployment), setting)
        container = only_container(deployment)
        assert [p["containerPort"] for p in container["ports"]] == [port], command
        for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
            probe = container.get(probe_name)
            if probe is not None:
                action = probe.get("httpGet") or probe["tcpSocket"]
                assert container_port(deployment, action["port"]) == port, (command, probe_name)
        service_ports = service_for(documents, deployment)["spec"]["ports"]
        assert [(p["port"], container_port(deployment, p["targetPort"])) for p in service_ports] == [(port, port)]


class UnreachableWarehouse:
    """A ClickHouse client whose server is down: every call fails."""

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def fail(*_: object, **__: object) -> NoReturn:
            raise ConnectionError(f"ClickHouse is down ({name})")

        return fail


def http_probe_paths(container: dict[str, Any]) -> dict[str, str]:
    probes = ("readinessProbe", "livenessProbe", "startupProbe")
    return {name: container[name]["httpGet"]["path"] for name in probes if "httpGet" in container.get(name, {})}


def test_probes_hit_real_routes_and_only_readiness_needs_the_dependencies(documents: list[dict[str, Any]]) -> None:
    """Liveness must hold through a Kafka or ClickHouse outage; readiness must not."""
    settings = Settings(_env_file=None)
    kafka_down = MemoryRecordSink()
    kafka_down.available = False
    warehouse_down = cast(Client, UnreachableWarehouse())
    gateway = create_app(settings, kafka_down, upstream="http://127.0.0.1:9")
    apps = {"ingest": gateway, "api": create_api(settings, warehouse_down)}
    for command, app in apps.items():
        client = TestClient(app, raise_server_exceptions=False)
        paths = http_probe_paths(only_container(deployment_running(documents, command)))
        assert paths["readinessProbe"] == "/healthz", command
        assert client.get(paths.pop("readinessProbe")).status_code >= 500, command
        assert set(paths) == {"livenessProbe", "startupProbe"}, command
        for probe, path in paths.items():
            assert client.get(path).status_code == 200, (command, probe, path)

    dashboards = create_dashboards(DashboardData(settings, lambda: warehouse_down)).server.test_client()
    for probe, path in http_probe_paths(only_container(deployment_running(documents, "dashboards"))).items():
        assert dashboards.get(path).status_code == 200, (probe, path)


def test_gateway_forwards_to_the_api_service(documents: list[dict[str, Any]]) -> None:
    ingest = deployment_running(documents, "ingest")
    api = deployment_running(documents, "api")
    upstream = urlsplit(settings_of(documents, ingest).resolved_internal_api_url())
    service = service_for(documents, api)
    assert upstream.hostname == service["metadata"]["name"]
    assert upstream.port == service["spec"]["ports"][0]["port"]


def test_dashboards_read_the_steering_board_of_the_gateway_service(documents: list[dict[str, Any]]) -> None:
    """Not ``http://{QOE_HOST}:{QOE_API_PORT}``: on 0.0.0.0 the dashboards pod would ask itself."""
    dashboards = deployment_running(documents, "dashboards")
    gateway = urlsplit(settings_of(documents, dashboards).resolved_gateway_url())
    service = service_for(documents, deployment_running(documents, "ingest"))
    assert gateway.hostname == service["metadata"]["name"]
    assert gateway.port == service["spec"]["ports"][0]["port"]


def test_resources_and_security(documents: list[dict[str, Any]]) -> None:
    for workload in workloads(documents):
        name = workload["metadata"]["name"]
        resources = only_container(workload)["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), f"{name}: {kind}"
        pod_security = pod_spec(workload)["securityContext"]
        assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0, name
        container_security = only_container(workload)["securityContext"]
        assert container_security["allowPrivilegeEscalation"] is False, name
        if container_security.get("readOnlyRootFilesystem"):
            mounts = {m["mountPath"] for m in only_container(workload)["volumeMounts"]}
            data_dir = str(settings_of(documents, workload).data_dir)
            assert {"/tmp", data_dir} <= mounts, f"{name}: the data dir and /tmp must stay writable"


def test_migrate_job_runs_once_to_completion(documents: list[dict[str, Any]]) -> None:
    (job,) = of_kind(documents, "Job")
    assert command_of(job) == ["migrate"]
    assert pod_spec(job)["restartPolicy"] in {"OnFailure", "Never"}


# --- KEDA -------------------------------------------------------------------------------------------


def signals_client(region: str) -> TestClient:
    """`qoe api`'s application, its signal on a fake demand source that has fresh data for ``region``."""
    source = FakeDemandSource(demand_frame(NOW.replace(second=0), regions={region: 1.0, "elsewhere": 0.5}))
    signals = AutoscalingSignals(source, SignalConfig(min_refresh_s=0), registry=CollectorRegistry(), clock=lambda: NOW)
    app = create_api(Settings(_env_file=None), cast(Client, UnreachableWarehouse()))
    app.state.autoscaling = signals  # what the route builds on first use, from ClickHouse, in production
    return TestClient(app)


def test_gjson_paths_resolve_like_keda() -> None:
    document = {"regions": {"eu.west": {"tiers": [{"n": 3}]}}}
    assert gjson_get(document, "regions.eu\\.west.tiers.0.n") == 3
    with pytest.raises(KeyError, match="'us'"):
        gjson_get(document, "regions.us.tiers")
    with pytest.raises(ValueError, match="wildcards"):
        gjson_get(document, "regions.*.tiers")


def metrics_api_triggers(scaled: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in scaled["spec"]["triggers"] if t["type"] == "metrics-api"]


def test_scaled_objects_read_a_real_signal_document(documents: list[dict[str, Any]]) -> None:
    namespace = load_kustomization()["namespace"]
    api_service = service_for(documents, deployment_running(documents, "api"))
    scaled_objects = of_kind(documents, "ScaledObject")
    assert {command_of(scale_target(documents, s))[0] for s in scaled_objects} == set(TIER_OF_COMMAND)
    for scaled in scaled_objects:
        target = scale_target(documents, scaled)
        (trigger,) = metrics_api_triggers(scaled)
        assert trigger["metricType"] == "AverageValue" and trigger["metadata"]["targetValue"] == "1"
        assert trigger["metadata"]["format"] == "json"
        url = urlsplit(trigger["metadata"]["url"])
        assert url.hostname == f"{api_service['metadata']['name']}.{namespace}.svc.cluster.local"
        assert url.port == api_service["spec"]["ports"][0]["port"]
        assert url.path == "/v1/autoscaling/signals"
        (region,) = parse_qs(url.query)["region"]
        assert region in {*REGION_OF.values(), OTHER_REGION}, f"{region!r} is not a delivery region"

        location = trigger["metadata"]["valueLocation"]
        assert location.split(".")[:2] == ["regions", region], "the region asked for is the region read"
        assert location.split(".")[3] == TIER_OF_COMMAND[command_of(target)[0]]
        response = signals_client(region).get(f"{url.path}?{url.query}")
        assert response.status_code == 200, response.text
        value = gjson_get(response.json(), location)
        assert isinstance(value, int) and value >= 1, (location, value)


def test_scaled_objects_fall_back_and_keep_cpu(documents: list[dict[str, Any]]) -> None:
    for scaled in of_kind(documents, "ScaledObject"):
        spec = scaled["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["fallback"]["replicas"] <= spec["maxReplicaCount"]
        (cpu,) = [t for t in spec["triggers"] if t["type"] == "cpu"]
        assert cpu["metricType"] == "Utilization" and 0 < int(cpu["metadata"]["value"]) <= 100
        target = scale_target(documents, scaled)
        assert "cpu" in only_container(target)["resources"]["requests"], "KEDA refuses a CPU trigger without requests"
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 0, "the signal is stabilised already"


def test_workers_never_outnumber_partitions(documents: list[dict[str, Any]]) -> None:
    worker = deployment_running(documents, "worker")
    (scaled,) = [s for s in of_kind(documents, "ScaledObject") if scale_target(documents, s) is worker]
    assert scaled["spec"]["maxReplicaCount"] <= settings_of(documents, worker).topic_partitions


def test_manifests_are_plain_yaml_without_anchors() -> None:
    """kubectl and kustomize disagree on YAML anchors across versions; plain objects load everywhere."""
    for path in K8S_DIR.glob("*.yaml"):
        for event in yaml.parse(path.read_text()):
            assert not getattr(event, "anchor", None), f"{path.name} uses an anchor"
