"""The subcommands of ``qoe``, one module per group (registered by :mod:`qoe.cli`)."""
