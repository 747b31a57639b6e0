"""deploy/k8s: the kustomization and every manifest it lists, checked against the code they run."""

from __future__ import annotations

import re
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
from foundation.access import Scope, StoredToken, Token, TokenInfo, TokenVerifier, hash_secret, new_token
from foundation.kafka_security import kafka_python_options
from foundation.settings import Settings
from foundation.topics import platform_topics
from ingest.app import create_app
from ingest.producer import MemoryRecordSink
from qoe.api import create_api, warehouse_routers
from qoe.cli import build_parser
from tests.factories.delivery import FakeDemandSource, demand_frame
from tests.factories.deploy import (
    DEPLOY,
    K8S_DIR,
    LISTEN_PORT_SETTING,
    QOE_VARIABLE,
    Peer,
    admits,
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
    pod_peer,
    pod_spec,
    selects,
    setting_name,
    settings_from_env,
)
from warehouse import app as warehouse_app

NOW = datetime(2026, 9, 17, 18, 0, 45, tzinfo=UTC)
SETTINGS_CONFIGMAP = "qoe-settings"
# Created by the operator, never committed (deploy/README.md): it holds the ClickHouse credentials.
WAREHOUSE_SECRET = "qoe-warehouse"
WAREHOUSE_COMMANDS = {"migrate", "worker", "api", "dashboards"}
# The tier of the signal document that sizes each scaled part (docs/autoscaling.md §3).
TIER_OF_COMMAND = {"ingest": "ingest", "worker": "stream_workers"}
KNOWN_KINDS = {
    "Namespace",
    "ConfigMap",
    "Deployment",
    "Service",
    "Job",
    "ScaledObject",
    "TriggerAuthentication",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
}
# The parts that talk to Kafka; only they get its login (the Secret qoe-kafka).
KAFKA_COMMANDS = {"ingest", "worker"}
KAFKA_SECRET = "qoe-kafka"


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
    for entry in only_container(workload).get("env", []):
        # A Secret's key stands in for its value, which is never in the manifests.
        reference = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = f"<{reference['name']}/{reference['key']}>" if reference else entry["value"]
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


def signals_client(region: str, token: Token) -> TestClient:
    """`qoe api`'s application, its signal on a fake demand source that has fresh data for ``region``,
    and ``token`` a read token it holds (as KEDA's would be)."""
    source = FakeDemandSource(demand_frame(NOW.replace(second=0), regions={region: 1.0, "elsewhere": 0.5}))
    signals = AutoscalingSignals(source, SignalConfig(min_refresh_s=0), registry=CollectorRegistry(), clock=lambda: NOW)
    stored = StoredToken(
        TokenInfo(token.token_id, "keda", frozenset({Scope.READ}), NOW, "test"), hash_secret(token.secret)
    )
    settings = Settings(_env_file=None)
    client = cast(Client, UnreachableWarehouse())
    app = warehouse_app.create_api(settings, client, warehouse_routers(), None, TokenVerifier(lambda: [stored]))
    app.state.autoscaling = signals  # what the route builds on first use, from ClickHouse, in production
    return TestClient(app)


def trigger_authentication(documents: list[dict[str, Any]], trigger: dict[str, Any]) -> dict[str, Any]:
    name = trigger["authenticationRef"]["name"]
    (found,) = [d for d in of_kind(documents, "TriggerAuthentication") if d["metadata"]["name"] == name]
    return found


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
        # KEDA presents the token of its TriggerAuthentication as a bearer: without it, 401.
        assert trigger["metadata"]["authMode"] == "bearer"
        (secret,) = trigger_authentication(documents, trigger)["spec"]["secretTargetRef"]
        assert secret["parameter"] == "token" and secret["name"] and secret["key"]
        token = new_token()
        client = signals_client(region, token)
        assert client.get(f"{url.path}?{url.query}").status_code == 401
        response = client.get(f"{url.path}?{url.query}", headers=token.bearer)
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


# --- transport security and secrets ----------------------------------------------------------------


def secret_names(workload: dict[str, Any]) -> set[str]:
    """Every Secret a workload's pods read: as variables (envFrom, secretKeyRef) or as files."""
    container = only_container(workload)
    names = {source["secretRef"]["name"] for source in container.get("envFrom", []) if "secretRef" in source}
    for entry in container.get("env", []):
        if "secretKeyRef" in entry.get("valueFrom", {}):
            names.add(entry["valueFrom"]["secretKeyRef"]["name"])
    names |= {volume["secret"]["secretName"] for volume in pod_spec(workload).get("volumes", []) if "secret" in volume}
    return names


def mounted_secret_file(workload: dict[str, Any], path: str) -> tuple[str, str]:
    """The (Secret, key) whose content the container reads at ``path``."""
    volumes = {volume["name"]: volume for volume in pod_spec(workload).get("volumes", [])}
    for mount in only_container(workload).get("volumeMounts", []):
        folder = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(folder):
            secret = volumes[mount["name"]].get("secret")
            assert secret is not None, f"{path} is on the volume {mount['name']}, which is no Secret"
            relative = path.removeprefix(folder)
            if "items" not in secret:
                return secret["secretName"], relative
            keys = {item["path"]: item["key"] for item in secret["items"]}
            assert relative in keys, f"the Secret {secret['secretName']} puts no file at {path}"
            return secret["secretName"], keys[relative]
    raise AssertionError(f"nothing is mounted at {path}")


def test_kafka_clients_use_tls_and_a_login_from_a_secret(documents: list[dict[str, Any]]) -> None:
    for workload in workloads(documents):
        name, command = workload["metadata"]["name"], command_of(workload)[0]
        if command not in KAFKA_COMMANDS:
            assert KAFKA_SECRET not in secret_names(workload), f"{name} does not use Kafka: no Kafka login"
            continue
        settings = settings_of(documents, workload)
        assert settings.kafka_security_protocol == "SASL_SSL", name
        options = kafka_python_options(settings)  # raises on contradictory settings
        assert options["sasl_plain_username"] == f"<{KAFKA_SECRET}/username>", name
        assert options["sasl_plain_password"] == f"<{KAFKA_SECRET}/password>", name
        assert mounted_secret_file(workload, settings.kafka_ssl_cafile) == (KAFKA_SECRET, "ca.crt"), name


def test_topics_are_replicated_and_need_two_in_sync_replicas(documents: list[dict[str, Any]]) -> None:
    """The worker creates the topics; ingest writes with acks=all, so an accepted beacon is on two brokers."""
    settings = settings_of(documents, deployment_running(documents, "worker"))
    assert settings.topic_replication_factor >= 3
    for spec in platform_topics(settings):
        assert (spec.replication, spec.config.get("min.insync.replicas")) == (3, "2"), spec.name


# A variable whose name says it carries a secret, whatever its setting's type.
SECRET_VARIABLE = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")


def test_secrets_are_referenced_never_written(documents: list[dict[str, Any]]) -> None:
    assert not of_kind(documents, "Secret"), "Secrets are created by the operator (deploy/README.md), not committed"
    secret_settings = {name for name, field in Settings.model_fields.items() if "SecretStr" in str(field.annotation)}
    assert "kafka_sasl_password" in secret_settings
    for variable in configmap_env(documents):
        assert setting_name(variable) not in secret_settings, f"{variable} belongs in a Secret"
        assert not SECRET_VARIABLE.search(variable), f"{variable} belongs in a Secret"
    readme = (DEPLOY / "README.md").read_text()
    referenced: set[str] = set()
    for workload in workloads(documents):
        for entry in only_container(workload).get("env", []):
            if setting_name(entry["name"]) in secret_settings or SECRET_VARIABLE.search(entry["name"]):
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"{entry['name']}: a secretKeyRef, not a value"
        referenced |= secret_names(workload)
    referenced |= {tls["secretName"] for ingress in of_kind(documents, "Ingress") for tls in ingress["spec"]["tls"]}
    assert {WAREHOUSE_SECRET, KAFKA_SECRET} <= referenced
    for secret in referenced:
        assert f"`{secret}`" in readme, f"deploy/README.md must say how to create the Secret {secret}"


# --- the Ingress ------------------------------------------------------------------------------------


def pod_port_behind(documents: list[dict[str, Any]], service_name: str, port: int | str) -> tuple[str, int]:
    """(Deployment, container port) that a Service port, by number or name, leads to."""
    service = named(documents, "Service", service_name)
    selector = {"matchLabels": service["spec"]["selector"]}
    (deployment,) = [d for d in of_kind(documents, "Deployment") if selects(selector, pod_labels(d))]
    (entry,) = [p for p in service["spec"]["ports"] if port in (p["port"], p.get("name"))]
    return deployment["metadata"]["name"], container_port(deployment, entry["targetPort"])


def test_the_ingress_serves_only_the_gateway_and_only_over_tls(documents: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(documents, "Ingress")
    spec = ingress["spec"]
    gateway = deployment_running(documents, "ingest")
    assert "defaultBackend" not in spec
    assert spec["tls"] and all(entry["secretName"] for entry in spec["tls"])
    tls_hosts = {host for entry in spec["tls"] for host in entry["hosts"]}
    assert spec["rules"]
    for rule in spec["rules"]:
        assert rule["host"] in tls_hosts, f"{rule['host']} would be served without TLS"
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            port = backend["port"].get("number", backend["port"].get("name"))
            target = pod_port_behind(documents, backend["name"], port)
            assert target == (gateway["metadata"]["name"], settings_of(documents, gateway).api_port)
            # /v1 only: /metrics, /docs and /openapi.json stay inside the cluster.
            assert path["path"] == "/v1" or path["path"].startswith("/v1/"), path["path"]
            assert path["pathType"] in {"Prefix", "Exact"}


# --- NetworkPolicies --------------------------------------------------------------------------------

# Default installations of the ingress controller (ingressClassName nginx), Prometheus and KEDA.
INGRESS_CONTROLLER = pod_peer("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
PROMETHEUS = pod_peer("monitoring", {"app.kubernetes.io/name": "prometheus"})
KEDA_OPERATOR = pod_peer("keda", {"app.kubernetes.io/name": "keda-operator"})
INTERNET = Peer(ip="203.0.113.9")


def platform_peers(documents: list[dict[str, Any]]) -> dict[str, Peer]:
    """Each workload's pods as a client, by workload name."""
    namespace = load_kustomization()["namespace"]
    return {w["metadata"]["name"]: pod_peer(namespace, pod_labels(w)) for w in workloads(documents)}


def called_at(documents: list[dict[str, Any]], url: str) -> tuple[str, int]:
    """(Deployment, container port) that a URL on a Service (``name`` or ``name.ns.svc...``) reaches."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return pod_port_behind(documents, parts.hostname.split(".")[0], parts.port)


def expected_connections(documents: list[dict[str, Any]]) -> set[tuple[Peer, str, int]]:
    """Who calls whom, read from the manifests themselves: (client, Deployment, port)."""
    peers = platform_peers(documents)
    ingest, dashboards = deployment_running(documents, "ingest"), deployment_running(documents, "dashboards")
    gateway = (ingest["metadata"]["name"], settings_of(documents, ingest).api_port)
    expected = {(INGRESS_CONTROLLER, *gateway), (PROMETHEUS, *gateway)}  # the Ingress; /metrics
    for client, url in (
        (ingest, settings_of(documents, ingest).resolved_internal_api_url()),  # the gateway's proxy
        (dashboards, settings_of(documents, dashboards).resolved_gateway_url()),  # live steering figures
    ):
        expected.add((peers[client["metadata"]["name"]], *called_at(documents, url)))
    for scaled in of_kind(documents, "ScaledObject"):
        for trigger in metrics_api_triggers(scaled):
            expected.add((KEDA_OPERATOR, *called_at(documents, trigger["metadata"]["url"])))
    return expected


def test_network_policies_admit_exactly_who_calls_whom(documents: list[dict[str, Any]]) -> None:
    """Every pod is isolated; each admits only the clients the manifests say call it, on the port they call."""
    namespace = load_kustomization()["namespace"]
    expected = expected_connections(documents)
    strangers = [INTERNET, pod_peer("default", {"app": "curious"}), pod_peer(namespace, {"app": "intruder"})]
    everyone = {INGRESS_CONTROLLER, PROMETHEUS, KEDA_OPERATOR, *strangers, *platform_peers(documents).values()}
    for workload in workloads(documents):
        name = workload["metadata"]["name"]
        labels = pod_labels(workload)
        named_ports = {p["name"]: p["containerPort"] for p in only_container(workload).get("ports", [])}
        for port in {*named_ports.values(), 22, 9092}:  # its own ports, and ports it does not serve
            allowed = {peer for peer in everyone if admits(documents, namespace, labels, peer, port, named_ports)}
            wanted = {peer for peer, target, target_port in expected if (target, target_port) == (name, port)}
            assert allowed == wanted, f"{name}:{port} admits {allowed - wanted}, refuses {wanted - allowed}"


def test_default_deny_and_outside_sources_named_exactly(documents: list[dict[str, Any]]) -> None:
    """Only the gateway takes traffic from beyond the namespace (and KEDA reads the API's signal):
    no rule opens a port to every source, to an address range or to a whole namespace."""
    namespace = load_kustomization()["namespace"]
    policies = [doc for doc in documents if doc["kind"] == "NetworkPolicy"]
    deny = [p for p in policies if not p["spec"]["podSelector"].get("matchLabels")]
    assert len(deny) == 1 and not deny[0]["spec"].get("ingress"), "one namespace-wide default-deny policy"
    assert "Ingress" in deny[0]["spec"]["policyTypes"]
    gateway = pod_labels(deployment_running(documents, "ingest"))
    for policy in policies:
        name = policy["metadata"]["name"]
        for rule in policy["spec"].get("ingress") or []:
            assert rule.get("from") and rule.get("ports"), f"{name}: a rule must name its sources and ports"
            for source in rule["from"]:
                assert "ipBlock" not in source, f"{name}: the outside world comes in through the Ingress only"
                if "namespaceSelector" not in source:
                    continue
                labels = source["namespaceSelector"].get("matchLabels") or {}
                assert list(labels) == ["kubernetes.io/metadata.name"], f"{name}: one namespace, by name"
                assert labels["kubernetes.io/metadata.name"] != namespace
                assert (source.get("podSelector") or {}).get("matchLabels"), f"{name}: chosen pods, not a namespace"
                peer = pod_peer(labels["kubernetes.io/metadata.name"], source["podSelector"]["matchLabels"])
                gateway_policy = selects(policy["spec"]["podSelector"], gateway)
                assert gateway_policy or peer == KEDA_OPERATOR, f"{name}: only the gateway is public"


# --- PodDisruptionBudgets ---------------------------------------------------------------------------


def minimum_replicas(documents: list[dict[str, Any]], deployment: dict[str, Any]) -> int:
    scaled = [s for s in of_kind(documents, "ScaledObject") if scale_target(documents, s) is deployment]
    if scaled:
        return int(scaled[0]["spec"].get("minReplicaCount", 0))  # KEDA's default is 0
    return int(deployment["spec"].get("replicas", 1))


def test_replicated_parts_have_a_disruption_budget_that_lets_drains_through(documents: list[dict[str, Any]]) -> None:
    budgets = of_kind(documents, "PodDisruptionBudget")
    deployments = of_kind(documents, "Deployment")
    for budget in budgets:
        chosen = [d for d in deployments if selects(budget["spec"]["selector"], pod_labels(d))]
        assert len(chosen) == 1, f"{budget['metadata']['name']} selects {len(chosen)} Deployments"
    for deployment in deployments:
        name, replicas = deployment["metadata"]["name"], minimum_replicas(documents, deployment)
        mine = [b for b in budgets if selects(b["spec"]["selector"], pod_labels(deployment))]
        # One replica: a budget would block every node drain, so none.
        assert len(mine) == (1 if replicas > 1 else 0), f"{name} (at least {replicas} replicas): {len(mine)} budgets"
        for budget in mine:
            spec = budget["spec"]
            assert ("maxUnavailable" in spec) != ("minAvailable" in spec), name
            if "maxUnavailable" in spec:
                assert isinstance(spec["maxUnavailable"], int) and spec["maxUnavailable"] >= 1, name
            else:
                assert isinstance(spec["minAvailable"], int) and spec["minAvailable"] < replicas, name
