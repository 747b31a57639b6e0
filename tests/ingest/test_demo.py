"""The gateway's demo mounts: a real (small) ladder built in the background, the SDK folders, /demo."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from foundation.settings import Settings
from ingest.app import create_app
from ingest.demo import SDK_DIR, LadderState, MediaBuild, MediaLadder, mount_demo
from ingest.media import MediaError, build_hls_ladder
from ingest.producer import MemoryRecordSink
from tests.factories.media import small_spec


def build_small(directory: Path) -> None:
    build_hls_ladder(directory, small_spec(duration_s=2.0))


def state_of(ladder: MediaLadder) -> LadderState:
    return ladder.state


def gateway(ladder: MediaLadder, sdk_dir: Path = SDK_DIR) -> TestClient:
    app = create_app(Settings(_env_file=None), MemoryRecordSink())
    mount_demo(app, ladder, sdk_dir)
    return TestClient(app, follow_redirects=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-media") / "bbb"
    build_small(directory)
    return directory


class GatedBuild:
    """The real build, held until the test lets it go: to see the gateway while it builds."""

    def __init__(self) -> None:
        self.go = threading.Event()

    def __call__(self, directory: Path) -> None:
        self.go.wait(30)
        build_small(directory)


@pytest.fixture
def gated(tmp_path: Path) -> Iterator[tuple[MediaLadder, GatedBuild]]:
    build = GatedBuild()
    ladder = MediaLadder(tmp_path / "bbb", "lazy", build=build, retry_after_s=3)
    yield ladder, build
    build.go.set()
    ladder.wait(60)


def test_media_answers_503_while_building_then_serves_the_ladder(gated: tuple[MediaLadder, GatedBuild]) -> None:
    ladder, build = gated
    with gateway(ladder) as client:
        assert state_of(ladder) == "idle", "lazy: nothing is built before someone asks"
        waiting = client.get("/media/bbb/master.m3u8")
        assert (waiting.status_code, waiting.headers["retry-after"]) == (503, "3")
        assert state_of(ladder) == "building"
        page = client.get("/demo/")
        assert page.status_code == 503 and '<meta http-equiv="refresh" content="3">' in page.text
        build.go.set()
        assert ladder.wait(60) == "ready"
        master = client.get("/media/bbb/master.m3u8")
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        assert "#EXT-X-STREAM-INF" in master.text
        segment = client.get("/media/bbb/144p/seg_0000.m4s")
        assert segment.status_code == 200 and segment.headers["content-type"] == "video/iso.segment"


def test_demo_redirects_to_the_page_keeping_the_query(built: Path) -> None:
    ladder = MediaLadder(built, "off")
    assert ladder.state == "ready", "off: a ladder already built is served"
    with gateway(ladder) as client:
        for path in ("/demo", "/demo/"):
            response = client.get(path, params={"autoplay": "1"})
            assert (response.status_code, response.headers["location"]) == (307, "/sdk/demo/?autoplay=1")
        page = client.get("/sdk/demo/")
        assert page.status_code == 200 and '<script type="module" src="./demo.js">' in page.text
        assert client.get("/sdk/demo/demo.js").headers["content-type"].startswith("text/javascript")
        assert client.get("/sdk/src/index.js").status_code == 200


def test_only_the_sdk_folders_the_page_needs_are_served(built: Path) -> None:
    with gateway(MediaLadder(built, "off")) as client:
        for hidden in ("/sdk/package.json", "/sdk/test/tracker.test.js", "/sdk/node_modules/ajv/package.json"):
            assert client.get(hidden).status_code == 404, hidden
        assert client.get("/sdk/src/../package.json").status_code == 404


def test_a_missing_sdk_folder_says_what_to_run(built: Path, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with gateway(MediaLadder(built, "off"), sdk_dir=tmp_path) as client:
        response = client.get("/sdk/node_modules/hls.js/dist/hls.mjs")
    assert response.status_code == 404 and "make js-deps" in response.json()["detail"]


def test_off_without_a_ladder_says_how_to_build_it(tmp_path: Path) -> None:
    ladder = MediaLadder(tmp_path / "bbb", "off")
    with gateway(ladder) as client:
        media = client.get("/media/bbb/master.m3u8")
        page = client.get("/demo/")
    assert media.status_code == 404 and "qoe media-ladder" in media.json()["detail"]
    assert page.status_code == 404 and "qoe media-ladder" in page.text
    assert ladder.state == "absent"


def test_a_failed_build_is_reported_not_retried(tmp_path: Path) -> None:
    def broken(_: Path) -> None:
        raise MediaError("ffmpeg not found: install it <now>")

    ladder = MediaLadder(tmp_path / "bbb", "start", build=broken)
    assert ladder.wait(10) == "failed"
    with gateway(ladder) as client:
        media = client.get("/media/bbb/master.m3u8")
        page = client.get("/demo/")
    assert media.status_code == 500 and "ffmpeg not found" in media.json()["detail"]
    assert page.status_code == 500 and "&lt;now&gt;" in page.text, "the reason is escaped into the page"


@pytest.mark.parametrize("mode", ["start", "lazy"])
def test_a_built_ladder_only_needs_its_cache_check(built: Path, mode: MediaBuild) -> None:
    ladder = MediaLadder(built, mode, build=build_small)
    assert ladder.state in ("building", "ready"), "checked at once, in the background, even when lazy"
    assert ladder.wait(10) == "ready"
