"""What every benchmark shares: the row of a figure, BENCHMARKS.md's rendering, and a wrk load.

Each figure is printed beside a baseline measured in the same run on the same machine, so the
ratio means something.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class BenchRow:
    section: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    passed: bool | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {system}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def render_markdown(rows: Sequence[BenchRow], machine: str, started: datetime, seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {started:%Y-%m-%d %H:%M} UTC in {seconds:.0f} s.",
        f"Machine: {machine}.",
        "Every baseline was measured in the same run, on the same machine.",
        "",
    ]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines += [
                "",
                f"## {section}",
                "",
                "| metric | value | baseline | ratio | target | met |",
                "|---|---|---|---|---|---|",
            ]
        baseline = f"{_fmt(row.baseline)} ({row.baseline_label})" if row.baseline is not None else "–"
        met = {True: "yes", False: "**no**", None: "–"}[row.passed]
        ratio = _fmt(row.ratio) + "×" if row.ratio is not None else "–"
        lines.append(f"| {row.metric} | {_fmt(row.value)} {row.unit} | {baseline} | {ratio} | {row.target} | {met} |")
        if row.notes:
            lines.append(f"| ↳ {row.notes} | | | | | |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str) -> float:
    for unit, scale in _LATENCY_UNITS.items():
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * scale
    raise ValueError(f"unreadable wrk latency {text!r}")


def parse_wrk(output: str) -> LoadResult:
    rps = p50 = p99 = None
    non_2xx = 0
    for line in output.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif len(parts) == 2 and parts[0] == "50%":
            p50 = _latency_ms(parts[1])
        elif len(parts) == 2 and parts[0] == "99%":
            p99 = _latency_ms(parts[1])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            non_2xx = int(parts[-1])
    if rps is None or p50 is None or p99 is None:
        raise ValueError(f"wrk printed no summary:\n{output}")
    return LoadResult(rps, p50, p99, non_2xx)


def post_load(url: str, body: bytes, seconds: int = 10, connections: int = 16) -> LoadResult:
    """POST ``body`` to ``url`` with wrk (one thread) for ``seconds``; wrk is C, so the client stays cheap."""
    import shutil
    import subprocess
    import tempfile

    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("the benchmark needs wrk: apt-get install wrk (make bench installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        payload = Path(tmp) / "body.json"
        payload.write_bytes(body)
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{payload}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        )
        command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)
