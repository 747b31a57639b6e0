"""Ingest's own rules: trusted proxy networks, and the times its clock refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from foundation.settings import default_settings
from ingest.intake import DAY_MS, IntakeConfig, parse_networks, time_errors
from schemas import Beacon
from tests.factories.beacons import T0_MS, beacon, event

RECEIVED = T0_MS + 60_000


def _beacon(*offsets_ms: int, sent_at: int | None = None) -> Beacon:
    body: dict[str, Any] = beacon([event("heartbeat", RECEIVED + o, i) for i, o in enumerate(offsets_ms)])
    return Beacon.model_validate({**body, "sent_at": sent_at})


def test_networks_parse_from_cidrs_and_bare_addresses() -> None:
    networks = parse_networks(" 10.0.0.0/8, ,2001:db8::/32,192.0.2.7 ")
    assert [str(n) for n in networks] == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
    assert parse_networks("") == ()


@pytest.mark.parametrize("wrong", ["10.0.0.0/33", "10.0.0.1/8", "proxy.internal", "::1/129"])
def test_a_wrong_network_is_named(wrong: str) -> None:
    with pytest.raises(ValueError, match=f"QOE_TRUSTED_PROXIES: '{wrong}' is not a network"):
        parse_networks(f"127.0.0.1/32,{wrong}")


def test_the_default_trusts_loopback_only() -> None:
    intake = IntakeConfig()
    assert intake.trusts("127.0.0.1") and intake.trusts("::1") and intake.trusts("::ffff:127.0.0.1")
    assert not any(intake.trusts(peer) for peer in ("127.0.0.2", "10.0.0.1", "::2", "", None, "testclient"))


def test_the_key_is_unset_by_default_and_never_shown() -> None:
    assert IntakeConfig().hmac_key is None
    intake = IntakeConfig.from_settings(default_settings(viewer_id_hmac_key=SecretStr("k" * 16)))
    assert intake.hmac_key == b"k" * 16
    assert "kkkk" not in repr(intake)


def test_times_within_a_day_of_arrival_pass_and_beyond_it_are_named() -> None:
    assert time_errors(_beacon(-DAY_MS, -DAY_MS + 10), RECEIVED, 30) == []
    assert time_errors(_beacon(DAY_MS, sent_at=RECEIVED + DAY_MS), RECEIVED, 30) == []
    late = time_errors(_beacon(-DAY_MS - 1, -DAY_MS + 5), RECEIVED, 30)
    assert [e.field for e in late] == ["events[0].ts"]
    early = time_errors(_beacon(DAY_MS + 1), RECEIVED, 30)
    assert [e.field for e in early] == ["events[0].ts"] and "after the server's clock" in early[0].message
    sent = time_errors(_beacon(-DAY_MS, sent_at=RECEIVED - DAY_MS - 1), RECEIVED, 30)
    assert [e.field for e in sent] == ["sent_at"] and "before the server's clock" in sent[0].message


def test_the_retention_is_judged_on_the_servers_clock() -> None:
    # The device's clock is an hour behind: by the server's clock the events are a minute old.
    skewed = _beacon(-3_660_000, -3_660_000, sent_at=RECEIVED - 3_600_000)
    assert time_errors(skewed, RECEIVED, 1) == []
    errors = time_errors(skewed, RECEIVED, 0)
    assert [e.field for e in errors] == ["events[0].ts", "events[1].ts"]
    assert "happened 0.0 days before it arrived" in errors[0].message and "retention of 0 days" in errors[0].message
