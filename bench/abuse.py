"""Abuse load: one address posting 500 invalid beacons/s beside normal traffic, on the real gateway.

``qoe ingest`` runs against the embedded broker, as in bench/ingest.py, with its default rate
limits. Normal traffic, valid beacons paced at ``NORMAL_RATE``/s over ``NORMAL_CONNECTIONS``
keep-alive connections from 127.0.0.1, runs throughout; in alternate blocks of ``block_s``
seconds the abuser joins it: ``ABUSE_RATE`` invalid beacons/s from 127.0.0.2 (Linux routes all of
127/8 to the loopback, so the gateway sees a second client address). Valid beacons' p99 beside
the abuse is compared with their p99 in the blocks without it, in the same run; and the share of
the abuser's requests answered 429 is reported.

The floor: the same traffic against a bare uvicorn app that answers a valid beacon 202 after
parsing it and producing it to Kafka, and every request of the abuser 429 before reading its body
(bench.ingest_baseline.create_refusing_produce_baseline_app), the cheapest refusal a process can
make. What the abuse costs the valid beacons there is what it costs outside any application code:
uvicorn's own work per request on the one event loop, the kernel's, and the abuser's client on the
same cores. No in-process limiter gets the gateway's ratio below the floor's; only refusing before
the process (at the edge: deploy/k8s/ingress.yaml) does. Both servers run at once and take turns:
each pair of blocks (quiet, abuse) goes to one and then the same pair to the other, so both see
the same clients, rates, blocks and warm-up, and a drift of the machine lands on both alike.

Both clients are a minimal blocking HTTP/1.1 client, a thread per connection, and the abuser runs
in a process of its own. The clients share the machine's cores with the gateway, and an asyncio
or httpx client costs several times more CPU per request: a heavy abuser, or one sharing the
normal client's process, would show up as the gateway's slowdown.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from bench.ingest_baseline import REFUSED_ADDRESS_VARIABLE
from bench.report import BenchRow
from foundation.broker import EmbeddedBroker, free_port
from foundation.process import Child, die_with_parent, spawn, wait_ready
from foundation.settings import Settings, default_settings
from foundation.topics import ensure_topics, platform_topics
from ingest.limits import RateLimitConfig, RateLimiter, Rule

SECTION = "Abuse load: 500 invalid beacons/s from one address"
NORMAL_RATE = 200
NORMAL_CONNECTIONS = 8
ABUSE_RATE = 500
ABUSE_CONNECTIONS = 4
BLOCK_S = 2.5
BLOCKS = ("quiet", "abuse") * 4  # interleaved, so a drift of the machine weighs on both alike
WARMUP_S = 2.0
NORMAL_ADDRESS, ABUSER_ADDRESS = "127.0.0.1", "127.0.0.2"
GOAL_RATIO = 1.2  # issue 12: valid beacons' p99 beside the abuse within 20 % of the same run without it


def beacon_bodies(now_ms: int) -> tuple[bytes, bytes]:
    """A valid 20-event beacon of the present, and the same with one event of an unknown type:
    refused only after the whole body was parsed and validated, the costliest refusal."""
    events: list[dict[str, object]] = [{"type": "playback_request", "ts": now_ms, "seq": 0, "playhead_ms": 0}]
    events += [
        {"type": "heartbeat", "ts": now_ms + 1000 * i, "seq": i, "playhead_ms": 1000 * i, "dropped_frames": 0}
        for i in range(1, 20)
    ]
    beacon = {
        "version": 1,
        "view_id": "abuse-bench-view",
        "viewer_id": "abuse-bench-viewer",
        "batch_seq": 0,
        "sdk": {"name": "bench", "version": "1"},
        "context": {"player_name": "bench", "title_id": "t1", "cdn": "cdn-a", "country": "NO"},
        "events": events,
    }
    invalid = {**beacon, "events": [*events[:10], {**events[10], "type": "not-an-event"}, *events[11:]]}
    return orjson.dumps(beacon), orjson.dumps(invalid)


class Connection:
    """One keep-alive HTTP/1.1 connection posting one body, from a chosen local address."""

    def __init__(self, port: int, local_address: str, body: bytes) -> None:
        self._address = ("127.0.0.1", port)
        self._local_address = (local_address, 0)
        head = f"POST /v1/beacons HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        self._request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        self._socket: socket.socket | None = None
        self._buffer = b""

    def open(self) -> None:
        """Connect now, ahead of the first post, so that no post's latency holds the connect; a
        failure is left to the post."""
        try:
            self._connect()
        except OSError:
            self.close()

    def _connect(self) -> None:
        if self._socket is None:
            self._socket = socket.create_connection(self._address, 10, self._local_address)

    def post(self) -> int:
        """The answer's status; 0 when the connection failed (it is opened again next time)."""
        try:
            self._connect()
            assert self._socket is not None
            self._socket.sendall(self._request)
            return self._answer()
        except (OSError, ValueError):
            self.close()
            return 0

    def _answer(self) -> int:
        while b"\r\n\r\n" not in self._buffer:
            self._receive()
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").lower().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            self._receive()
        self._buffer = self._buffer[length:]
        if headers.get("connection") == "close":
            self.close()
        return int(lines[0].split()[1])

    def _receive(self) -> None:
        assert self._socket is not None
        chunk = self._socket.recv(65536)
        if not chunk:
            raise ConnectionResetError("the gateway closed the connection")
        self._buffer += chunk

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket, self._buffer = None, b""


TARGETS = ("gateway", "floor")


@dataclass(frozen=True)
class Block:
    kind: str  # "warmup", "quiet" or "abuse"
    target: str  # which server the block's traffic goes to: one of TARGETS
    start: float  # time.monotonic(), the same clock in every process of the machine
    end: float
    round: int = -1  # which pair of BLOCKS (quiet, abuse) it belongs to; -1: the warm-up


def schedule(start: float, block_s: float) -> list[Block]:
    """Each target's warm-up, then each pair of BLOCKS for one target after the other: both
    targets see the same blocks, and a drift of the machine weighs on them alike."""
    blocks = [
        Block("warmup", target, start + i * WARMUP_S, start + (i + 1) * WARMUP_S) for i, target in enumerate(TARGETS)
    ]
    kinds = [
        (target, kind, i // 2)
        for i in range(0, len(BLOCKS), 2)
        for target in (TARGETS if i % 4 == 0 else TARGETS[::-1])  # who goes first alternates
        for kind in BLOCKS[i : i + 2]
    ]
    begin = blocks[-1].end
    return blocks + [
        Block(kind, target, begin + i * block_s, begin + (i + 1) * block_s, round_)
        for i, (target, kind, round_) in enumerate(kinds)
    ]


@dataclass
class Answers:
    """What a client saw, per block kind: statuses and latencies in ms."""

    statuses: dict[str, list[int]] = field(default_factory=lambda: {"quiet": [], "abuse": [], "warmup": []})
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "abuse": [], "warmup": []})
    by_round_ms: dict[tuple[str, int], list[float]] = field(default_factory=dict)  # (kind, round): latencies


def _paced(connection: Connection, rate: float, start: float, end: float, block: Block, answers: Answers) -> None:
    """Posts at ``rate``/s from ``start`` to ``end`` (monotonic), each answer filed under ``block``.
    The connection is opened before the first post and closed after the last: a server idle
    through the other target's blocks would close it (uvicorn's keep-alive timeout)."""
    connection.open()
    statuses, latencies = answers.statuses[block.kind], answers.latencies_ms[block.kind]
    in_round = answers.by_round_ms.setdefault((block.kind, block.round), [])
    due = start
    while due < end:
        time.sleep(max(0.0, due - time.monotonic()))
        began = time.monotonic()
        statuses.append(connection.post())
        latency_ms = (time.monotonic() - began) * 1000
        latencies.append(latency_ms)
        in_round.append(latency_ms)
        due += 1 / rate
    connection.close()


def _clients(
    address: str, body: bytes, ports: dict[str, int], rate: float, count: int, blocks: list[Block]
) -> dict[str, Answers]:
    """``count`` connections from ``address``, one thread each, posting ``rate``/s in all during
    ``blocks`` to each block's target, their starts spread evenly instead of in bursts."""
    answers = {target: Answers() for target in TARGETS}

    def post_through(index: int) -> None:
        connections = {target: Connection(port, address, body) for target, port in ports.items()}
        for block in blocks:
            start = block.start + index / rate
            _paced(connections[block.target], rate / count, start, block.end, block, answers[block.target])

    threads = [threading.Thread(target=post_through, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _abuse(ports: dict[str, int], body: bytes, blocks: list[Block]) -> dict[str, list[int]]:
    """The abuser, in a process of its own, so that its client work does not delay the normal
    client's answers in the measuring process."""
    answers = _clients(ABUSER_ADDRESS, body, ports, ABUSE_RATE, ABUSE_CONNECTIONS, blocks)
    return {target: seen.statuses["abuse"] for target, seen in answers.items()}


@dataclass(frozen=True)
class AbuseRun:
    normal: Answers
    abuser_statuses: list[int]
    abuse_seconds: float
    server_cpu_s: dict[str, float]  # CPU the server process (gateway or floor) used in the blocks of each kind


@dataclass(frozen=True)
class AbuseRuns:
    """The gateway's run and the floor's, their blocks taking turns in one run on one broker."""

    gateway: AbuseRun
    floor: AbuseRun


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _sample_cpu(pids: dict[str, int], blocks: list[Block], used: dict[str, dict[str, float]]) -> threading.Thread:
    """A thread adding up the CPU each block's target process uses, per target and kind of block."""

    def sample() -> None:
        for block in blocks:
            pid = pids[block.target]
            time.sleep(max(0.0, block.start - time.monotonic()))
            started = _cpu_seconds(pid)
            time.sleep(max(0.0, block.end - time.monotonic()))
            spent = used.setdefault(block.target, {})
            spent[block.kind] = spent.get(block.kind, 0.0) + _cpu_seconds(pid) - started

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


def _drive(ports: dict[str, int], pids: dict[str, int], block_s: float) -> AbuseRuns:
    valid, invalid = beacon_bodies(int(time.time() * 1000))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(int).result()  # the abuser's process started and ready before the clock starts
        blocks = schedule(time.monotonic(), block_s)
        abused = pool.submit(_abuse, ports, invalid, [block for block in blocks if block.kind == "abuse"])
        cpu: dict[str, dict[str, float]] = {}
        sampler = _sample_cpu(pids, blocks, cpu)
        normal = _clients(NORMAL_ADDRESS, valid, ports, NORMAL_RATE, NORMAL_CONNECTIONS, blocks)
        sampler.join()
        abuser = abused.result()
    abuse_s = block_s * BLOCKS.count("abuse")
    gateway, floor = (AbuseRun(normal[t], abuser[t], abuse_s, cpu.get(t, {})) for t in TARGETS)
    return AbuseRuns(gateway, floor)


def _gateway(env: dict[str, str], port: int, logs: Path) -> tuple[Child, str]:
    """``qoe ingest`` with its default rate limits, and the URL that answers once it is ready."""
    gateway = spawn("bench-abuse-ingest", ["ingest", "--demo-media", "off"], env | {"QOE_API_PORT": str(port)}, logs)
    return gateway, f"http://127.0.0.1:{port}/healthz"


def _floor(env: dict[str, str], port: int, logs: Path) -> tuple[Child, str]:
    """The produce baseline refusing the abuser at once, served by uvicorn as `qoe ingest` serves the gateway
    (uvloop and httptools where installed, no access log, no proxy headers)."""
    factory = "bench.ingest_baseline:create_refusing_produce_baseline_app"
    command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    log_path = logs / "bench-abuse-floor.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            env=env | {REFUSED_ADDRESS_VARIABLE: ABUSER_ADDRESS},
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    return Child("bench-abuse-floor", process, log_path), f"http://127.0.0.1:{port}/docs"


def measure(settings: Settings, logs: Path, block_s: float = BLOCK_S) -> AbuseRuns:
    """The gateway and the floor, each in its own process on one embedded broker, driven from this one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOE_RATE_LIMIT_")}  # the defaults are measured
    env |= {"QOE_HOST": "127.0.0.1", "QOE_DATA_DIR": str(logs.parent)}
    with EmbeddedBroker() as broker, ExitStack() as servers:
        ensure_topics(broker.bootstrap, platform_topics(settings))
        env["QOE_KAFKA_BOOTSTRAP"] = broker.bootstrap
        ports = {target: free_port() for target in TARGETS}
        children, urls = {}, []
        for target, start in (("gateway", _gateway), ("floor", _floor)):
            child, url = start(env, ports[target], logs)
            servers.callback(child.stop)
            children[target] = child
            urls.append(url)
        wait_ready(urls, list(children.values()), 60)
        return _drive(ports, {target: child.process.pid for target, child in children.items()}, block_s)


def limiter_cost_us(calls: int = 50_000, addresses: int = 1000) -> float:
    """What the in-memory limiter adds to one admitted beacon, in µs: the refused-budget check
    and the beacon count, with the default rates, over ``addresses`` clients."""
    limiter = RateLimiter(RateLimitConfig.from_settings(default_settings()))
    identities = [f"ip:10.0.{i // 256}.{i % 256}" for i in range(addresses)]

    async def admit_all() -> float:
        started = time.perf_counter()
        for i in range(calls):
            await limiter.admit(Rule.BEACONS, identities[i % addresses], "/v1/beacons")
        return (time.perf_counter() - started) / calls * 1e6

    return asyncio.run(admit_all())


def _percentile(values: Iterable[float], q: float) -> float:
    array = np.fromiter(values, dtype=float)
    return float(np.percentile(array, q)) if array.size else float("nan")


def _p99s(run: AbuseRun) -> tuple[float, float]:
    """Valid beacons' p99 in ms: in the blocks without the abuse, and beside it."""
    quiet, abused = (_percentile(run.normal.latencies_ms[kind], 99) for kind in ("quiet", "abuse"))
    return quiet, abused


def _round_ratios(run: AbuseRun) -> list[float]:
    """Valid beacons' p99 beside the abuse over their p99 without it, per pair of blocks: how much
    a single run's ratio moves on this machine."""
    rounds = sorted({round_ for kind, round_ in run.normal.by_round_ms if kind == "abuse"})
    p99 = {key: _percentile(values, 99) for key, values in run.normal.by_round_ms.items()}
    return [p99["abuse", r] / p99["quiet", r] for r in rounds if ("quiet", r) in p99]


def _share_429(run: AbuseRun) -> float:
    sent = run.abuser_statuses
    return sum(1 for status in sent if status == 429) / len(sent) if sent else 0.0


def _valid_failed(run: AbuseRun) -> int:
    return sum(1 for s in run.normal.statuses["abuse"] + run.normal.statuses["quiet"] if s != 202)


def rows(runs: AbuseRuns, limiter_us: float | None = None) -> list[BenchRow]:
    run = runs.gateway
    quiet, abused = _p99s(run)
    sent = run.abuser_statuses
    limited = _share_429(run)
    others = {s: sent.count(s) for s in sorted(set(sent)) if s != 429}
    return [
        BenchRow(
            SECTION,
            "valid beacons' p99 latency beside the abuse",
            abused,
            "ms",
            quiet,
            "same run, blocks without the abuse",
            f"≤ {GOAL_RATIO:g}× baseline",
            abused <= GOAL_RATIO * quiet,
            f"{NORMAL_RATE} valid 20-event beacons/s over {NORMAL_CONNECTIONS} connections from {NORMAL_ADDRESS}; "
            f"{len(BLOCKS)} alternating blocks of {run.abuse_seconds / BLOCKS.count('abuse'):g} s, taking turns "
            f"with the floor's; "
            f"valid beacons not answered 202: {_valid_failed(run)}",
        ),
        BenchRow(
            SECTION,
            "the abusing address's requests answered 429",
            100 * limited,
            "%",
            None,
            "",
            "≥ 90 %",
            limited >= 0.9,
            f"{len(sent) / run.abuse_seconds:.0f} invalid beacons/s sent from {ABUSER_ADDRESS} over "
            f"{ABUSE_CONNECTIONS} connections; other answers: {others or 'none'} (default rate limits)",
        ),
        _cpu_row(run),
        *_floor_rows(runs),
        *([_limiter_row(limiter_us, _percentile(run.normal.latencies_ms["quiet"], 50))] if limiter_us else []),
    ]


def _cpu_per_abusive_us(run: AbuseRun) -> float:
    """The abuse blocks' CPU less the quiet blocks', per request of the abuser."""
    quiet, abused = run.server_cpu_s.get("quiet", 0.0), run.server_cpu_s.get("abuse", 0.0)
    return 1e6 * max(0.0, abused - quiet) / max(1, len(run.abuser_statuses))


def _cpu_per_valid_us(run: AbuseRun) -> float:
    """The quiet blocks' CPU per valid beacon."""
    return 1e6 * run.server_cpu_s.get("quiet", 0.0) / max(1, len(run.normal.statuses["quiet"]))


def _cpu_row(run: AbuseRun) -> BenchRow:
    """What an abusive request costs the gateway beyond the normal traffic, beside a valid beacon."""
    return BenchRow(
        SECTION,
        "gateway CPU per abusive request",
        _cpu_per_abusive_us(run),
        "µs",
        _cpu_per_valid_us(run),
        "per valid beacon, same run",
        "reported",
        None,
        "the abuse blocks' CPU less the quiet blocks', per request of the abuser (/proc, 10 ms ticks); a 429 "
        "skips the body, its validation and its dead letter: what remains is mostly the HTTP server's own work",
    )


def _floor_rows(runs: AbuseRuns) -> list[BenchRow]:
    """The floor's valid-p99 ratio (abuse / quiet), and the gateway's against it."""
    (gateway_quiet, gateway_abused), (floor_quiet, floor_abused) = _p99s(runs.gateway), _p99s(runs.floor)
    gateway_ratio, floor_ratio = gateway_abused / gateway_quiet, floor_abused / floor_quiet
    both = {"floor": runs.floor, "gateway": runs.gateway}
    rounds = {name: _round_ratios(run) for name, run in both.items()}
    if floor_ratio <= GOAL_RATIO:
        verdict = f"the floor meets the {GOAL_RATIO:g}× goal in this run"
    elif min(rounds["floor"], default=0.0) > GOAL_RATIO:
        verdict = f"the floor misses the {GOAL_RATIO:g}× goal in every round: out of reach for any in-process limiter"
    else:
        verdict = f"the floor misses the {GOAL_RATIO:g}× goal in this run, though not in every round"
    spread = "; ".join(f"{name} {min(r):.2f}–{max(r):.2f}" for name, r in rounds.items() if r)
    cpu = (
        f"CPU per abusive request {_cpu_per_abusive_us(runs.floor):.0f} µs (gateway "
        f"{_cpu_per_abusive_us(runs.gateway):.0f} µs), per valid beacon {_cpu_per_valid_us(runs.floor):.0f} µs "
        f"(gateway {_cpu_per_valid_us(runs.gateway):.0f} µs)"
    )
    return [
        BenchRow(
            SECTION,
            "floor: valid beacons' p99 beside the abuse, the abuser refused 429 before its body is read",
            floor_abused,
            "ms",
            floor_quiet,
            "same run, the floor's blocks without the abuse",
            "reported",
            None,
            f"the same clients, rates, blocks and warm-up against a bare uvicorn app (JSON parse + Kafka produce "
            f"awaiting the ack, then 202) that answers every request from {ABUSER_ADDRESS} 429 at once: no "
            f"in-process limiter refuses for less. Abuser answered 429: {100 * _share_429(runs.floor):.1f} %; "
            f"valid beacons not answered 202: {_valid_failed(runs.floor)}; {cpu}. Valid-p99 ratio of each pair "
            f"of blocks: {spread}; {verdict}",
        ),
        BenchRow(
            SECTION,
            "gateway's valid-p99 ratio (abuse / quiet) against the floor's",
            gateway_ratio,
            "×",
            floor_ratio,
            "the floor's ratio, same run",
            "reported",
            None,
            f"1× would be a gateway whose refusals cost the valid beacons no more than the cheapest in-process 429; "
            f"p99 added by the abuse: gateway {gateway_abused - gateway_quiet:+.2f} ms, floor "
            f"{floor_abused - floor_quiet:+.2f} ms. Under the floor only a refusal before the process can go (the "
            f"ingress's per-address limit, deploy/README.md)",
        ),
    ]


def _limiter_row(limiter_us: float, p50_ms: float) -> BenchRow:
    return BenchRow(
        SECTION,
        "rate limiter's cost per admitted beacon (in memory)",
        limiter_us,
        "µs",
        None,
        "",
        "reported",
        None,
        f"in-memory sliding window counters (ingest.limits.MemoryCounters), 1,000 client addresses; a valid "
        f"beacon's p50 "
        f"here: {p50_ms:.2f} ms",
    )


def run(settings: Settings) -> list[BenchRow]:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return rows(measure(settings, logs), limiter_cost_us())
