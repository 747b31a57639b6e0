"""One module per dashboard page: ``PATH``, ``TITLE``, ``layout()`` and ``register(app, data)``."""
