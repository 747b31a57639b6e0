"""``qoe media-ladder``: build the Big Buck Bunny HLS ladder that the demo and browser tests play."""

from __future__ import annotations

import argparse
from pathlib import Path

from foundation.settings import Settings
from ingest.media import BBB_ATTRIBUTION, LadderSpec, MediaError, build_hls_ladder, default_media_dir


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "media-ladder", help="Build the Big Buck Bunny HLS ladder the demo and browser tests play."
    )
    p.add_argument("--out", type=Path, default=None, help="Output directory (default: {data_dir}/media/bbb).")
    p.add_argument("--duration", type=float, default=LadderSpec.duration_s, help="Seconds of content (the clip loops).")
    p.add_argument("--segment", type=float, default=LadderSpec.segment_s, help="Segment duration in seconds.")
    p.set_defaults(handler=_cli_build)


def _cli_build(args: argparse.Namespace, settings: Settings) -> int:
    out = args.out or default_media_dir(settings)
    try:
        ladder = build_hls_ladder(out, LadderSpec(duration_s=args.duration, segment_s=args.segment))
    except MediaError as exc:
        print(f"error: {exc}")
        return 2
    for v in ladder.variants:
        print(f"{v.name:>6}  {v.width}x{v.height}  {v.bandwidth / 1000:8.0f} kbps peak  {v.segments} segments")
    print(f"{ladder.master}  ({ladder.duration_s:.1f} s; {BBB_ATTRIBUTION})")
    return 0
