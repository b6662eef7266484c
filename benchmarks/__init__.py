"""Benchmarks of calls_async; run them all with ``python -m benchmarks.run_all``."""
