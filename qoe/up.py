"""``qoe up``: the whole platform on this machine, on embedded defaults.

Process layout (chDB lets one process open the warehouse, so the worker process hosts every
warehouse reader):

    qoe up (this supervisor)
    ├── tansu broker            embedded Kafka, unless QOE_KAFKA_BOOTSTRAP is set
    ├── qoe worker              Faust agents + warehouse API (:8001) + dashboards (:8050)
    ├── qoe ingest              gateway (:8000): /v1/beacons and every other /v1 API
    └── qoe simulate            the simulated audience, unless --no-audience

With a ClickHouse server URL the worker hosts nothing else, and ``qoe api`` and
``qoe dashboards`` run as processes of their own. Children run in their own session so that
Ctrl-C reaches the supervisor alone, which stops them in order: audience, ingest, worker, broker.

The APIs need access tokens. Unless QOE_ADMIN_TOKEN is set, ``qoe up`` generates an admin token
once per data directory (``run/admin-token``, mode 0600, reused on the next run), gives it to the
children as QOE_ADMIN_TOKEN (the warehouse API registers it) and prints it with a curl example.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import orjson
from rich.console import Console

from foundation.access import Token, admin_token, admin_token_path, new_token
from foundation.broker import EmbeddedBroker
from foundation.kafka_security import kafka_python_options
from foundation.process import Child, spawn, stop_all, wait_ready
from foundation.properties import DEFAULT_PROPERTY, Property
from foundation.settings import Settings
from foundation.topics import ensure_topics, platform_topics
from qoe.commands.admin_client import RefusedError, ask
from qoe.commands.users import ensure_admin_password


class Shutdown(Exception):  # noqa: N818 - a signal, not an error
    """SIGTERM or Ctrl-C reached the supervisor."""


PROPERTIES_ROUTE = "/v1/properties"
AUDIENCE = "audience"
AUDIENCE_STOP_S = 5.0


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


@dataclass(frozen=True)
class UpOptions:
    audience: bool = True
    viewers: int | None = None
    incidents: tuple[str, ...] = ()
    ready_timeout_s: float = 90.0


def run_up(settings: Settings, options: UpOptions, console: Console | None = None) -> int:
    console = console or Console(soft_wrap=True)
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    previous = {s: signal.signal(s, _raise_shutdown) for s in (signal.SIGINT, signal.SIGTERM)}
    broker = EmbeddedBroker(log_path=logs / "broker.log") if settings.embedded_broker else None
    children: list[Child] = []
    try:
        _require_free_ports(settings)
        bootstrap = broker.start() if broker else settings.kafka_bootstrap
        ensure_topics(bootstrap, platform_topics(settings), security=kafka_python_options(settings))
        token = ensure_admin_token(settings)
        login = ensure_admin_password(settings)
        env = {
            **os.environ,
            "QOE_KAFKA_BOOTSTRAP": bootstrap,
            "QOE_DATA_DIR": str(settings.data_dir.resolve()),
            "QOE_ADMIN_TOKEN": str(token),
            "QOE_DASHBOARDS_ADMIN_PASSWORD": login[0],
        }
        children += _start_services(settings, env, logs)
        wait_ready(_ready_urls(settings), children, options.ready_timeout_s)
        prop = ensure_default_property(settings)
        if options.audience:
            children.append(spawn(AUDIENCE, _audience_args(settings, options, prop.key), env, logs))
        _write_state(settings, bootstrap, broker, children)
        _print_urls(console, settings, bootstrap, broker is not None, logs)
        _print_token(console, settings, token)
        _print_login(console, settings, login)
        console.print(f"  property key  {prop.key}   (property {prop.property_id}: players post with it)", markup=False)
        console.print("Ctrl-C stops everything.")
        return _supervise(console, children)
    except Shutdown:
        # A Ctrl-C in a terminal also ends a pipe reading our output (`make up | tee`): stopping goes on.
        with contextlib.suppress(OSError):
            console.print("stopping …")
        return 0
    except (RuntimeError, TimeoutError, ValueError, RefusedError) as exc:
        console.print(f"[red]qoe up failed:[/red] {exc}")
        return 1
    finally:
        _stop(children)
        if broker is not None:
            broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: list[Child]) -> None:
    """The audience first, so its last beacons reach a gateway that still answers (with the gateway
    gone it retried them until its deadline: 10 s); then the services together."""
    audience = [child for child in children if child.name == AUDIENCE]
    stop_all(audience, AUDIENCE_STOP_S)
    stop_all([child for child in children if child.name != AUDIENCE])


def ensure_admin_token(settings: Settings) -> Token:
    """QOE_ADMIN_TOKEN, or this data directory's admin token, generated on the first run."""
    token = admin_token(settings)
    if token is not None:
        return token
    token = new_token()
    path = admin_token_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with mode 0600 from the start: the token never sits in a file others can read.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(f"{token}\n")
    return token


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "run" / "up.json"


def _write_state(settings: Settings, bootstrap: str, broker: EmbeddedBroker | None, children: list[Child]) -> None:
    """What runs where, for operators (and for tests that check nothing outlives Ctrl-C)."""
    pids = {child.name: child.process.pid for child in children}
    if broker is not None and broker.pid is not None:
        pids["broker"] = broker.pid
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"kafka_bootstrap": bootstrap, "pids": pids}, option=orjson.OPT_INDENT_2))


def _require_free_ports(settings: Settings) -> None:
    """Fail fast: a port held by another program would answer our readiness checks for us."""
    wanted = {"QOE_API_PORT": settings.api_port, "QOE_DASHBOARDS_PORT": settings.dashboards_port}
    if not settings.internal_api_url:
        wanted["QOE_INTERNAL_API_PORT"] = settings.internal_api_port
    for variable, port in wanted.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.host, port))
            except OSError:
                raise RuntimeError(f"port {port} on {settings.host} is in use; free it or set {variable}") from None


def _start_services(settings: Settings, env: dict[str, str], logs: Path) -> list[Child]:
    if settings.embedded_warehouse:
        services = [spawn("worker", ["worker", "--api", "--dashboards"], env, logs)]
    else:
        services = [
            spawn("worker", ["worker"], env, logs),
            spawn("api", ["api"], env, logs),
            spawn("dashboards", ["dashboards"], env, logs),
        ]
    services.append(spawn("ingest", ["ingest"], env, logs))
    return services


def _ready_urls(settings: Settings) -> list[str]:
    return [
        f"http://{settings.host}:{settings.api_port}/healthz",
        f"{settings.resolved_internal_api_url()}/healthz",
        f"http://{settings.host}:{settings.dashboards_port}/healthz",  # "/" asks visitors to sign in
    ]


def ensure_default_property(settings: Settings) -> Property:
    """The default property, created on the first run, through the running API (which holds the
    embedded warehouse): the simulated audience posts with its key, as real players would."""
    listing = ask(settings.resolved_internal_api_url(), settings, "GET", PROPERTIES_ROUTE, about="the properties")
    for item in listing["properties"]:
        if item["property_id"] == DEFAULT_PROPERTY and item["active"]:
            return Property.from_json(item)
    body = {"property_id": DEFAULT_PROPERTY, "name": "Default property", "origins": []}
    return Property.from_json(ask(settings.resolved_internal_api_url(), settings, "POST", PROPERTIES_ROUTE, body))


def _audience_args(settings: Settings, options: UpOptions, property_key: str) -> list[str]:
    viewers = options.viewers if options.viewers is not None else settings.audience_viewers
    gateway = f"http://{settings.host}:{settings.api_port}"
    # The audience follows the gateway's content steering, so an --incident shows the loop close.
    args = ["simulate", "--viewers", str(viewers), "--ingest-url", gateway, "--steering-url", gateway]
    args += ["--cdns", settings.steering_pathways]
    args += ["--seed", str(settings.seed), "--duration", "0", "--quiet", "--property-key", property_key]
    for incident in options.incidents:
        args += ["--incident", incident]
    return args


def _print_urls(console: Console, settings: Settings, bootstrap: str, embedded: bool, logs: Path) -> None:
    base = f"http://{settings.host}:{settings.api_port}"
    console.print("[bold green]QoE platform is up[/bold green]")
    console.print(f"  API gateway   {base}   (docs {base}/docs, beacons {base}/v1/beacons)")
    console.print(f"  health        {base}/healthz   metrics {base}/metrics")
    console.print(f"  dashboards    http://{settings.host}:{settings.dashboards_port}/")
    console.print(f"  demo player   {base}/demo/")
    console.print(f"  Kafka         {bootstrap}{' (embedded Tansu)' if embedded else ''}")
    warehouse = settings.clickhouse_url or f"embedded chDB in {settings.data_dir / 'warehouse'}"
    console.print(f"  warehouse     {warehouse}")
    console.print(f"  logs          {logs}/")


def _print_token(console: Console, settings: Settings, token: Token) -> None:
    base = f"http://{settings.host}:{settings.api_port}"
    where = "QOE_ADMIN_TOKEN" if settings.admin_token is not None else str(admin_token_path(settings))
    console.print(f"  admin token   {token}   (from {where}; `qoe keys create` makes narrower ones)", markup=False)
    console.print(f'  try           curl -H "Authorization: Bearer {token}" {base}/v1/stats/overview', markup=False)


def _print_login(console: Console, settings: Settings, login: tuple[str, str]) -> None:
    password, where = login
    url = f"http://{settings.host}:{settings.dashboards_port}/login"
    console.print(f"  dashboards    sign in at {url} as admin / {password}   (from {where})", markup=False)


def _supervise(console: Console, children: list[Child]) -> int:
    while True:
        for child in children:
            if not child.alive():
                console.print(f"[red]{child.name} exited with {child.process.returncode}[/red]; see {child.log_path}")
                return 1
        time.sleep(0.5)
