"""Errors a command reports to its user as one line, without a traceback."""


class UsageError(Exception):
    """The command cannot run as asked; the message says what to change. Exit code 2."""
