"""Factories for test data."""
