"""Micro benchmarks (pytest-benchmark) and the script that compares them: ``benchmarks/compare.py``."""
