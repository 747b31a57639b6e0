"""Readers of the deployment files (deploy/ and .dockerignore) for tests/deploy.

Docker and Kubernetes do not run here, so the tests read the files the way those tools would:
Compose's ``${VAR:-default}`` interpolation, the Dockerfile's instructions and heredocs,
.dockerignore's patterns, and the GJSON paths KEDA's metrics-api scaler resolves.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from foundation.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
K8S_DIR = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

# The setting that holds the port each serving subcommand listens on (see qoe/commands/services.py).
LISTEN_PORT_SETTING = {"ingest": "api_port", "api": "internal_api_port", "dashboards": "dashboards_port"}

QOE_VARIABLE = re.compile(r"\bQOE_[A-Z0-9_]+\b")
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


# --- settings -------------------------------------------------------------------------------------


def setting_name(variable: str) -> str:
    """``QOE_API_PORT`` -> ``api_port``."""
    return variable.removeprefix("QOE_").lower()


def is_setting(variable: str) -> bool:
    return variable.startswith("QOE_") and setting_name(variable) in Settings.model_fields


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """The Settings a process started with exactly this environment builds (no .env, nothing inherited)."""
    with mock.patch.dict(os.environ, dict(env), clear=True):
        return Settings(_env_file=None)


# --- Compose --------------------------------------------------------------------------------------


def interpolate(value: str) -> str:
    """Compose's interpolation with the defaults written in the file (``$$`` is a literal ``$``)."""

    def replace(match: re.Match[str]) -> str:
        if match["default"] is None:
            raise ValueError(f"${{{match['name']}}} has no default: `docker compose up` would need it set")
        return match["default"]

    return _INTERPOLATION.sub(replace, value.replace("$$", "\0")).replace("\0", "$")


def _interpolate_all(node: Any) -> Any:
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, list):
        return [_interpolate_all(item) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_all(value) for key, value in node.items()}
    return node


def load_compose() -> dict[str, Any]:
    """The compose file as Compose sees it: merge keys resolved, variables at their defaults."""
    document: dict[str, Any] = _interpolate_all(yaml.safe_load(COMPOSE_FILE.read_text()))
    return document


def compose_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(key): str(value) for key, value in environment.items()}


# --- Kubernetes -----------------------------------------------------------------------------------


def load_kustomization() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())
    return document


def load_k8s_documents() -> list[dict[str, Any]]:
    """Every object of every resource the kustomization lists, in order."""
    documents = []
    for resource in load_kustomization()["resources"]:
        documents += [doc for doc in yaml.safe_load_all((K8S_DIR / resource).read_text()) if doc]
    return documents


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents if doc["kind"] == kind]


def named(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in of_kind(documents, kind) if doc["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name!r}, found {len(found)}")
    return found[0]


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (``matchLabels``; an empty selector selects everything) applied to ``labels``."""
    selector = selector or {}
    if selector.get("matchExpressions"):
        raise NotImplementedError("matchExpressions: extend this reader before using them in deploy/k8s")
    return all(labels.get(key) == value for key, value in (selector.get("matchLabels") or {}).items())


# --- NetworkPolicy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """Who opens a connection: a pod (its namespace and labels) or, with ``ip``, an address outside the cluster."""

    namespace: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    ip: str = ""

    @property
    def namespace_labels(self) -> dict[str, str]:
        # Kubernetes (1.22+) labels every namespace with its name: policies select namespaces by it.
        return {"kubernetes.io/metadata.name": self.namespace}

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict(self.labels)


def pod_peer(namespace: str, labels: Mapping[str, str]) -> Peer:
    return Peer(namespace, tuple(sorted(labels.items())))


def _peer_matches(source: Mapping[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in source:
        if not peer.ip:
            return False
        block = source["ipBlock"]
        address = ipaddress.ip_address(peer.ip)
        excluded = any(address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if peer.ip:
        return False
    if "namespaceSelector" in source:
        in_namespace = selects(source["namespaceSelector"], peer.namespace_labels)
    else:
        in_namespace = peer.namespace == policy_namespace
    return in_namespace and ("podSelector" not in source or selects(source["podSelector"], peer.pod_labels))


def _port_matches(ports: list[dict[str, Any]] | None, port: int, named_ports: Mapping[str, int]) -> bool:
    if not ports:
        return True
    for rule in ports:
        if rule.get("protocol", "TCP") != "TCP":
            continue
        wanted = rule.get("port")
        if wanted is None:
            return True
        first = named_ports.get(wanted, -1) if isinstance(wanted, str) else int(wanted)
        if first <= port <= int(rule.get("endPort", first)):
            return True
    return False


def ingress_policies(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The NetworkPolicies that restrict ingress (``policyTypes`` defaults to Ingress)."""
    policies = [doc for doc in documents if doc["kind"] == "NetworkPolicy"]
    return [p for p in policies if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])]


def admits(
    documents: list[dict[str, Any]],
    namespace: str,
    pod: Mapping[str, str],
    peer: Peer,
    port: int,
    named_ports: Mapping[str, int] | None = None,
) -> bool:
    """Whether a TCP connection from ``peer`` to ``port`` of a pod labelled ``pod`` in ``namespace``
    is allowed: as the API server documents NetworkPolicy (a pod no policy selects admits everyone;
    a selected pod admits what any selecting policy's rule allows)."""
    selecting = [p for p in ingress_policies(documents) if selects(p["spec"]["podSelector"], pod)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            sources = rule.get("from")
            peer_ok = not sources or any(_peer_matches(source, peer, namespace) for source in sources)
            if peer_ok and _port_matches(rule.get("ports"), port, named_ports or {}):
                return True
    return False


# --- Dockerfile -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: continuation lines joined, plus the body of its heredoc if any."""

    keyword: str
    arguments: str
    heredoc: str
    stage: str


_HEREDOC = re.compile(r"<<-?(['\"]?)(?P<marker>[A-Za-z_]+)\1")


def parse_dockerfile(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    lines = iter(text.splitlines())
    stage = ""
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        while stripped.endswith("\\"):
            stripped = stripped[:-1] + next(lines).strip()
        keyword, _, arguments = stripped.partition(" ")
        keyword = keyword.upper()
        heredoc = ""
        marker = _HEREDOC.search(arguments) if keyword == "RUN" else None
        if marker is not None:
            heredoc = "\n".join(_until(lines, marker["marker"])) + "\n"
        if keyword == "FROM":
            words = arguments.split()
            stage = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(instructions))
        instructions.append(Instruction(keyword, arguments, heredoc, stage))
    return instructions


def _until(lines: Iterator[str], marker: str) -> Iterator[str]:
    for line in lines:
        if line.strip() == marker:
            return
        yield line
    raise ValueError(f"heredoc {marker} is never closed")


def load_dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def stage_bases(instructions: list[Instruction]) -> dict[str, str]:
    """Stage name -> the image (or earlier stage) it starts from."""
    return {i.stage: i.arguments.split()[0] for i in instructions if i.keyword == "FROM"}


def env_of_stage(instructions: list[Instruction], stage: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.stage == stage and instruction.keyword == "ENV":
            for token in shlex.split(instruction.arguments):
                key, _, value = token.partition("=")
                env[key] = value
    return env


def final_stage(instructions: list[Instruction]) -> str:
    return [i.stage for i in instructions if i.keyword == "FROM"][-1]


# --- .dockerignore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    include: bool  # a `!pattern` exception


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out, index = out + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out)


def dockerignore_rules(text: str) -> list[IgnoreRule]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append(IgnoreRule(_pattern_regex(pattern), include))
    return rules


def is_ignored(relative: str, rules: list[IgnoreRule]) -> bool:
    """Docker's rule: a path is out when it or a parent folder matches; the last matching line wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            ignored = not rule.include
    return ignored


def copy_build_context(destination: Path) -> Path:
    """Copies the repository as `docker build .` would send it, .dockerignore applied."""
    rules = dockerignore_rules(DOCKERIGNORE.read_text())
    for folder, subfolders, files in os.walk(REPO):
        relative_folder = Path(folder).relative_to(REPO)
        subfolders[:] = [d for d in subfolders if not is_ignored((relative_folder / d).as_posix(), rules)]
        for name in files:
            relative = (relative_folder / name).as_posix()
            if not is_ignored(relative, rules):
                target = destination / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(folder) / name, target)
    return destination


# --- KEDA -----------------------------------------------------------------------------------------


def gjson_get(document: object, path: str) -> object:
    """The value at a plain GJSON path (dot-separated keys or array indexes; ``\\.`` escapes a dot)."""
    node = document
    for raw in re.split(r"(?<!\\)\.", path):
        key = raw.replace("\\.", ".")
        if any(char in key for char in "*?#|@"):
            raise ValueError(f"{path!r}: wildcards and modifiers are not plain keys ({key!r})")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise KeyError(f"{path!r}: no {key!r} in {type(node).__name__}")
    return node
