"""Steering evaluation on the simulator: ``qoe steering evaluate``."""
