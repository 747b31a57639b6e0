"""Benchmarks and their baselines, run by ``qoe bench`` / ``make bench`` (:mod:`bench.suite`).

They may import any package; no product package imports them."""
