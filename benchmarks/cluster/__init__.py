"""Cluster benchmark: stations across worker processes, calls routed through Redis.

``python -m benchmarks.cluster [--stations N] [--workers W]``; see ``bench.py``.
"""
