"""The per-view QoE score (0–100) and its calibration on the Waterloo SQoE databases.

``score`` holds the formula (``ViewQoE``, ``score_view``, ``score_sessions``, ``DEFAULT_PARAMS``);
``waterloo`` reads Waterloo-layout data; ``fit`` and ``evaluate`` refit and validate the constants;
``cli`` adds ``qoe qoe-model``. See docs/qoe-score.md.
"""
