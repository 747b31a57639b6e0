"""The ``qoe`` console script.

Each group of subcommands lives in a module of :mod:`qoe.commands`, so this file only builds the
settings and dispatches. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from foundation.errors import UsageError
from foundation.settings import Settings
from qoe.commands import delivery, keys, media, privacy, properties, recommender, scoring, services, simulate, users

# Modules exposing ``register(subparsers)``; order is the order of ``qoe --help``.
COMMAND_MODULES = (services, media, scoring, simulate, delivery, recommender, privacy, keys, properties, users)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qoe", description="Video streaming QoE platform.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
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
