"""A throw-away certificate authority for the TLS tests, made with the openssl tool at test time so
that no key is ever committed."""

from __future__ import annotations

import asyncio
import shlex
import ssl
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path  # for localhost and 127.0.0.1
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(command: str, folder: Path) -> None:
    subprocess.run(["openssl", *shlex.split(command)], cwd=folder, check=True, capture_output=True, timeout=60)


def _leaf(name: str, extensions: str, folder: Path) -> None:
    """A key and a certificate signed by the folder's CA."""
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(f"req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj '/CN=qoe test {name}'", folder)
    _openssl(
        f"x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -sha256 "
        f"-out {name}.crt -extfile {name}.ext",
        folder,
    )


def make_tls_files(folder: Path) -> TlsFiles:
    """A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, in ``folder``."""
    _openssl(
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -sha256 -subj '/CN=qoe test CA' "
        "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        folder,
    )
    leaf = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    _leaf("server", leaf + "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n", folder)
    _leaf("client", leaf + "extendedKeyUsage=clientAuth\n", folder)
    return TlsFiles(
        ca_cert=folder / "ca.crt",
        server_cert=folder / "server.crt",
        server_key=folder / "server.key",
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
    )


class TlsTerminator:
    """A TLS listener in front of a plain-text Kafka broker, as stunnel or an Envoy sidecar would be.

    The embedded Tansu (0.6.0) cannot listen with TLS itself: its ``--cert`` and ``--key`` options
    share one exclusive clap group, so giving both is refused and giving one leaves TLS off. The
    broker advertises this listener, so every client connection, bootstrap and partition leader
    alike, goes through here. Client certificates are required (mutual TLS). A connection whose
    handshake fails is closed and counted in ``refused``; one closed before saying anything (the
    gateway's TCP reachability probe) only in ``probes``.
    """

    def __init__(self, upstream: tuple[str, int], port: int, tls: TlsFiles) -> None:
        self.upstream = upstream
        self.port = port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls.ca_cert))
        self.context.load_cert_chain(tls.server_cert, tls.server_key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.handshakes = 0
        self.refused = 0
        self.probes = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)

    def __enter__(self) -> TlsTerminator:
        self._thread.start()
        if not self._started.wait(5):
            raise TimeoutError("the TLS listener did not start")
        return self

    def __exit__(self, *_: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self._started.set()
        async with server:
            await self._stop.wait()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await writer.start_tls(self.context)
        except (ssl.SSLEOFError, ConnectionResetError):
            self.probes += 1
            writer.close()
            return
        except ssl.SSLError:
            self.refused += 1
            writer.close()
            return
        self.handshakes += 1
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ssl.SSLError, OSError):
        pass  # the other side went away: close this one too
    finally:
        writer.close()
