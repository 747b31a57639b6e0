"""Abuse load: one address posting 500 invalid beacons/s beside normal traffic, on the real gateway.

``qoe ingest`` runs against the embedded broker, as in bench/ingest.py, with its default rate
limits. Normal traffic, valid beacons paced at ``NORMAL_RATE``/s over ``NORMAL_CONNECTIONS``
keep-alive connections from 127.0.0.1, runs throughout; in alternate blocks of ``block_s``
seconds the abuser joins it: ``ABUSE_RATE`` invalid beacons/s from 127.0.0.2 (Linux routes all of
127/8 to the loopback, so the gateway sees a second client address). Valid beacons' p99 beside
the abuse is compared with their p99 in the blocks without it, in the same run; and the share of
the abuser's requests answered 429 is reported.

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
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson

from bench.report import BenchRow
from foundation.broker import EmbeddedBroker, free_port
from foundation.process import spawn, wait_ready
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

    def post(self) -> int:
        """The answer's status; 0 when the connection failed (it is opened again next time)."""
        try:
            if self._socket is None:
                self._socket = socket.create_connection(self._address, 10, self._local_address)
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


@dataclass(frozen=True)
class Block:
    kind: str  # "quiet" or "abuse"
    start: float  # time.monotonic(), the same clock in every process of the machine
    end: float


def schedule(start: float, block_s: float) -> list[Block]:
    return [Block(kind, start + i * block_s, start + (i + 1) * block_s) for i, kind in enumerate(BLOCKS)]


def kind_at(blocks: list[Block], moment: float) -> str:
    return next((block.kind for block in blocks if block.start <= moment < block.end), "warmup")


@dataclass
class Answers:
    """What a client saw, per block kind: statuses and latencies in ms."""

    statuses: dict[str, list[int]] = field(default_factory=lambda: {"quiet": [], "abuse": [], "warmup": []})
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"quiet": [], "abuse": [], "warmup": []})


def _paced(
    connection: Connection, rate: float, start: float, end: float, blocks: list[Block], answers: Answers
) -> None:
    """Posts at ``rate``/s from ``start`` to ``end`` (monotonic), each answer filed under the
    block it began in."""
    due = start
    while due < end:
        time.sleep(max(0.0, due - time.monotonic()))
        began = time.monotonic()
        status = connection.post()
        kind = kind_at(blocks, began)
        answers.statuses[kind].append(status)
        answers.latencies_ms[kind].append((time.monotonic() - began) * 1000)
        due += 1 / rate
    connection.close()


def _clients(
    address: str, body: bytes, port: int, rate: float, count: int, spans: list[Block], blocks: list[Block]
) -> Answers:
    """``count`` connections from ``address``, one thread each, posting ``rate``/s in all during
    ``spans``, their starts spread evenly instead of in bursts; answers filed by ``blocks``."""
    answers = Answers()

    def post_through(index: int) -> None:
        connection = Connection(port, address, body)
        for span in spans:
            _paced(connection, rate / count, span.start + index / rate, span.end, blocks, answers)

    threads = [threading.Thread(target=post_through, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _abuse(port: int, body: bytes, blocks: list[Block]) -> list[int]:
    """The abuser, in a process of its own, so that its client work does not delay the normal
    client's answers in the measuring process."""
    return _clients(ABUSER_ADDRESS, body, port, ABUSE_RATE, ABUSE_CONNECTIONS, blocks, blocks).statuses["abuse"]


@dataclass(frozen=True)
class AbuseRun:
    normal: Answers
    abuser_statuses: list[int]
    abuse_seconds: float
    gateway_cpu_s: dict[str, float]  # CPU the gateway process used in the blocks of each kind


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _sample_cpu(pid: int, blocks: list[Block], used: dict[str, float]) -> threading.Thread:
    """A thread adding up the CPU process ``pid`` uses in each kind of block."""

    def sample() -> None:
        for block in blocks:
            time.sleep(max(0.0, block.start - time.monotonic()))
            started = _cpu_seconds(pid)
            time.sleep(max(0.0, block.end - time.monotonic()))
            used[block.kind] = used.get(block.kind, 0.0) + _cpu_seconds(pid) - started

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    return thread


def _drive(port: int, block_s: float, gateway_pid: int) -> AbuseRun:
    valid, invalid = beacon_bodies(int(time.time() * 1000))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(int).result()  # the abuser's process started and ready before the clock starts
        now = time.monotonic()
        blocks = schedule(now + WARMUP_S, block_s)
        abused = pool.submit(_abuse, port, invalid, [block for block in blocks if block.kind == "abuse"])
        cpu: dict[str, float] = {}
        sampler = _sample_cpu(gateway_pid, blocks, cpu)
        whole_run = [Block("warmup", now, blocks[-1].end)]
        normal = _clients(NORMAL_ADDRESS, valid, port, NORMAL_RATE, NORMAL_CONNECTIONS, whole_run, blocks)
        sampler.join()
        return AbuseRun(normal, abused.result(), block_s * BLOCKS.count("abuse"), cpu)


def measure(settings: Settings, logs: Path, block_s: float = BLOCK_S) -> AbuseRun:
    """The gateway in its own process on the embedded broker, driven from this one."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QOE_RATE_LIMIT_")}  # the defaults are measured
    env |= {"QOE_API_PORT": str(port), "QOE_HOST": "127.0.0.1", "QOE_DATA_DIR": str(logs.parent)}
    with EmbeddedBroker() as broker:
        ensure_topics(broker.bootstrap, platform_topics(settings))
        env["QOE_KAFKA_BOOTSTRAP"] = broker.bootstrap
        gateway = spawn("bench-abuse-ingest", ["ingest", "--demo-media", "off"], env, logs)
        try:
            wait_ready([f"http://127.0.0.1:{port}/healthz"], [gateway], 60)
            return _drive(port, block_s, gateway.process.pid)
        finally:
            gateway.stop()


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


def rows(run: AbuseRun, limiter_us: float | None = None) -> list[BenchRow]:
    quiet, abused = (_percentile(run.normal.latencies_ms[kind], 99) for kind in ("quiet", "abuse"))
    sent = run.abuser_statuses
    limited = sum(1 for status in sent if status == 429) / len(sent) if sent else 0.0
    valid_failed = sum(1 for s in run.normal.statuses["abuse"] + run.normal.statuses["quiet"] if s != 202)
    others = {s: sent.count(s) for s in sorted(set(sent)) if s != 429}
    return [
        BenchRow(
            SECTION,
            "valid beacons' p99 latency beside the abuse",
            abused,
            "ms",
            quiet,
            "same run, blocks without the abuse",
            "≤ 1.2× baseline",
            abused <= 1.2 * quiet,
            f"{NORMAL_RATE} valid 20-event beacons/s over {NORMAL_CONNECTIONS} connections from {NORMAL_ADDRESS}; "
            f"{len(BLOCKS)} alternating blocks of {run.abuse_seconds / BLOCKS.count('abuse'):g} s; "
            f"valid beacons not answered 202: {valid_failed}",
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
        *([_limiter_row(limiter_us, _percentile(run.normal.latencies_ms["quiet"], 50))] if limiter_us else []),
    ]


def _cpu_row(run: AbuseRun) -> BenchRow:
    """What an abusive request costs the gateway beyond the normal traffic, beside a valid beacon."""
    quiet, abused = run.gateway_cpu_s.get("quiet", 0.0), run.gateway_cpu_s.get("abuse", 0.0)
    per_abusive = 1e6 * max(0.0, abused - quiet) / max(1, len(run.abuser_statuses))
    per_valid = 1e6 * quiet / max(1, len(run.normal.statuses["quiet"]))
    return BenchRow(
        SECTION,
        "gateway CPU per abusive request",
        per_abusive,
        "µs",
        per_valid,
        "per valid beacon, same run",
        "reported",
        None,
        "the abuse blocks' CPU less the quiet blocks', per request of the abuser (/proc, 10 ms ticks); a 429 "
        "skips the body, its validation and its dead letter: what remains is mostly the HTTP server's own work",
    )


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
