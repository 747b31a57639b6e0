"""The per-view QoE score (0–100): ``score`` holds the formula (``ViewQoE``, ``score_view``,
``score_sessions``, ``DEFAULT_PARAMS``). Its calibration on the Waterloo SQoE databases lives in
:mod:`evaluation.scoring` (``qoe qoe-model``). See docs/qoe-score.md.
"""
