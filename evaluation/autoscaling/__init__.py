"""Autoscaling evaluation on synthetic or recorded demand: ``qoe autoscaling evaluate``."""
