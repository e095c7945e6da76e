"""Benchmarks (`make bench`): speed and memory targets live here, never in timed tests.

Each benchmark measures the pipeline against a baseline in the same run and writes
``bench/results/<name>.json``.
"""
