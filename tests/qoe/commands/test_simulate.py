from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pandas as pd
import pytest
from qoe_sim.run import audience_command

from foundation.properties import new_property_key
from foundation.settings import Settings
from qoe.commands import simulate as cli
from tests.factories.sim import validate_all


def qoe(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="qoe")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.handler(args, Settings(_env_file=None))
    return result


def test_virtual_run_writes_metrics_and_valid_beacons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics, beacons = tmp_path / "views.csv", tmp_path / "beacons.jsonl"
    argv = ["simulate", "--virtual", "--synthetic", "--viewers", "25", "--duration", "60s", "--seed", "4"]
    argv += ["--incident", "cdn-b:degrade:10s-40s", "--metrics-out", str(metrics), "--beacons-out", str(beacons)]
    assert qoe([*argv, "--quiet"]) == 0
    payloads = [orjson.loads(line) for line in beacons.read_bytes().splitlines()]
    validate_all(payloads)
    views = pd.read_csv(metrics)
    assert len(views) == sum(e["type"] == "view_end" for p in payloads for e in p["events"])
    assert {"startup_ms", "stall_ms", "watch_ms", "avg_bitrate_kbps", "switches_up", "group_asn"} <= set(views.columns)
    out = capsys.readouterr().out
    assert "QoE by CDN" in out and "all" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--incident", "cdn-b:explode:1-2"], "kind 'explode' is not one of"),
        (["--incident", "cdn-q:outage:1-2"], "unknown CDN 'cdn-q'"),
        (["--duration", "soon"], "not a duration"),
        (["--beacons-out", "x.jsonl", "--duration", "10s"], "--beacons-out needs --virtual"),
        (["--virtual", "--duration", "0"], "--virtual needs a finite --duration"),
        (["--virtual", "--traces", "/nowhere"], "trace directory /nowhere does not exist"),
        (["--virtual", "--sample-rate", "2"], "--sample-rate must be in"),
        (["--synthetic", "--traces", "/nowhere"], "--synthetic cannot be combined"),
        (["--virtual", "--duration", "10s", "--steering-url", "http://127.0.0.1:9"], "--steering-url needs a live run"),
    ],
)
def test_bad_arguments_get_a_clear_message_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qoe(["simulate", "--viewers", "2", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.shared_data
def test_fit_command_reports_the_constants_match(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    traces, manifest = shared_data / "traces", shared_data / "manifests" / "bbb.json"
    assert qoe(["simulate-fit", "--traces", str(traces), "--manifest", str(manifest)]) == 0
    captured = capsys.readouterr()
    assert set(orjson.loads(captured.out)["throughput"]) == {"fcc-hd", "fcc-sd", "hsdpa-3g", "lte-4g"}
    assert "matches the constants" in captured.err


def test_the_up_subprocess_command_parses() -> None:
    argv = audience_command(Settings(_env_file=None), viewers=12, ingest_url="http://127.0.0.1:9")
    assert argv[1:4] == ["-m", "qoe", "simulate"]
    parser = argparse.ArgumentParser(prog="qoe")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv[3:])
    assert (args.viewers, args.duration, args.ingest_url, args.quiet) == (12, "0", "http://127.0.0.1:9", True)


def test_qoe_up_audience_follows_the_gateways_steering() -> None:
    from qoe.up import UpOptions, _audience_args

    settings = Settings(_env_file=None, api_port=8123)
    parser = argparse.ArgumentParser(prog="qoe")
    cli.register(parser.add_subparsers(dest="command", required=True))
    key = new_property_key()
    args = parser.parse_args(_audience_args(settings, UpOptions(incidents=("cdn-b:degrade:60s-180s",)), key))
    assert args.steering_url == args.ingest_url == "http://127.0.0.1:8123"
    assert args.property_key == key  # the audience posts as the default property's players would
    assert args.cdns == settings.steering_pathways and args.incident == ["cdn-b:degrade:60s-180s"]
