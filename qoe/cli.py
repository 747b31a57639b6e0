"""The ``qoe`` console script.

Each part of the platform registers its own subcommands from its ``cli`` module, so this file
only builds the settings and dispatches. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from qoe.errors import UsageError
from qoe.settings import Settings

# Modules exposing ``register(subparsers)``; order is the order of ``qoe --help``.
COMMAND_MODULES = (
    "qoe.commands",
    "qoe.media",
    "streams.cli",
    "streams.scoring.cli",
    "qoe_sim.cli",
    "delivery.cli",
    "recommender.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qoe", description="Video streaming QoE platform.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        result: int | None = args.handler(args, settings)
    except UsageError as exc:
        print(f"qoe {args.command}: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"qoe: invalid QOE_* setting: {exc}", file=sys.stderr)
        return 2
    return result or 0


if __name__ == "__main__":
    sys.exit(main())
