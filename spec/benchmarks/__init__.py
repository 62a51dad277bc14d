"""Benchmarks (pytest-benchmark), run through the adapter: ``python -m pytest spec/benchmarks --bench``."""
