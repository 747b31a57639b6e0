"""Subcommands of this package (registered by qoe.cli)."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    """Add this package's subcommands to ``qoe``."""
