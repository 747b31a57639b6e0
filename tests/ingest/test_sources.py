"""The source ingest stamps on each record: a keyed hash of the client address, never the address."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from foundation.settings import Settings
from ingest.app import BeaconFastPath, create_app
from ingest.intake import IntakeConfig, client_network, source_id
from ingest.producer import MemoryRecordSink
from schemas import BeaconRecord
from tests.factories.beacons import beacon, playing_view_events
from tests.factories.cmcd import session_line

KEY = "a-key-of-at-least-16-characters"
CLIENT = "203.0.113.77"  # documentation range: nothing else in a record can contain it by chance


def _server_of(peer: str, headers: dict[str, str] | None = None, *, fast_path: bool = False, **values: Any) -> Any:
    sink = MemoryRecordSink()
    app = create_app(Settings(_env_file=None, **values), sink)
    with TestClient(BeaconFastPath(app) if fast_path else app, client=(peer, 40000)) as client:
        assert client.post("/v1/beacons", json=beacon(playing_view_events(4)), headers=headers).status_code == 202
    [(_, _, value)] = sink.records
    assert peer.encode() not in value and CLIENT.encode() not in value  # only the hash travels
    return BeaconRecord.model_validate_json(value).server


@pytest.mark.parametrize("fast_path", [False, True])
def test_a_direct_client_is_its_own_source(fast_path: bool) -> None:
    server = _server_of(CLIENT, fast_path=fast_path, viewer_id_hmac_key=KEY)
    assert server.source == source_id(KEY.encode(), CLIENT)


def test_behind_a_trusted_proxy_the_forwarded_client_is_the_source() -> None:
    server = _server_of("127.0.0.1", {"x-forwarded-for": f"198.51.100.1, {CLIENT}"}, viewer_id_hmac_key=KEY)
    assert server.source == source_id(KEY.encode(), CLIENT)  # the nearest untrusted entry: the one the proxy saw


def test_an_untrusted_peer_cannot_forward_another_source() -> None:
    forged = _server_of(CLIENT, {"x-forwarded-for": "198.51.100.1"}, viewer_id_hmac_key=KEY)
    assert forged.source == source_id(KEY.encode(), CLIENT)


def test_a_trusted_peer_naming_no_client_has_no_source() -> None:
    # The platform's own traffic (the demo, a simulated audience on the same host): never capped.
    assert _server_of("127.0.0.1").source is None
    assert _server_of("::1", {"x-forwarded-for": "127.0.0.1"}).source is None


def test_replicas_agree_on_a_source_when_they_share_the_key() -> None:
    one, two = (_server_of(CLIENT, viewer_id_hmac_key=KEY).source for _ in range(2))
    assert one == two
    assert _server_of(CLIENT, viewer_id_hmac_key=KEY + "-other").source != one


def test_without_a_key_each_process_hashes_with_a_random_one() -> None:
    # Nobody can turn a source back into an address; replicas need QOE_VIEWER_ID_HMAC_KEY to agree.
    assert IntakeConfig().source_key != IntakeConfig().source_key
    assert IntakeConfig(viewer_id_hmac_key=SecretStr(KEY)).source_key == KEY.encode()


def test_a_source_is_keyed_and_short() -> None:
    ours = source_id(b"k" * 32, CLIENT)
    assert len(ours) == 24 and CLIENT not in ours
    assert ours == source_id(b"k" * 32, CLIENT) != source_id(b"j" * 32, CLIENT)
    assert source_id(b"k" * 32, CLIENT, "property-1") != ours  # property keys will fold in here


@pytest.mark.parametrize(
    ("one", "two", "same"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # one /64: one household, one source
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("::ffff:203.0.113.77", CLIENT, True),  # IPv4 on a dual-stack socket
        ("203.0.113.77", "203.0.113.78", False),
    ],
)
def test_an_ipv6_client_is_its_slash_64(one: str, two: str, same: bool) -> None:
    assert (client_network(one) == client_network(two)) is same
    assert (source_id(b"k" * 32, one) == source_id(b"k" * 32, two)) is same


def test_cmcd_records_carry_the_source_too() -> None:
    sink = MemoryRecordSink()
    app = create_app(Settings(_env_file=None, viewer_id_hmac_key=KEY), sink)
    report = session_line(0, "ps", int(time.time() * 1000), sid="a", sta="s")
    with TestClient(app, client=(CLIENT, 40000)) as client:
        response = client.post("/v1/cmcd", content=report, headers={"content-type": "application/cmcd"})
        assert response.status_code == 202, response.text
    servers = [BeaconRecord.model_validate_json(v).server for t, _, v in sink.records if t == "beacons"]
    assert servers and {s.source for s in servers} == {source_id(KEY.encode(), CLIENT)}


def test_a_record_from_before_sources_still_decodes() -> None:
    old = b'{"server":{"received_at":1790000000000,"country":"NO"},"beacon":' + orjson.dumps(beacon()) + b"}"
    assert BeaconRecord.model_validate_json(old).server.source is None
