"""The composition root: the ``qoe`` CLI, ``qoe up``, process hosting and the wiring of agents and apps.

Nothing imports it."""
