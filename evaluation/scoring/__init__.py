"""QoE-score calibration and validation on the Waterloo SQoE databases: ``qoe qoe-model``."""
