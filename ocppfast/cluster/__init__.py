"""Several processes and hosts as one central system: presence and call routing via Redis.

Needs the ``cluster`` extra (``pip install 'ocppfast[cluster]'``: hiredis). See docs/cluster.md.
"""

from ._cluster import (
    Cluster,
    ClusterUnavailableError,
    NodeInfo,
    NodeUnavailableError,
    StationLocation,
)

__all__ = [
    "Cluster",
    "ClusterUnavailableError",
    "NodeInfo",
    "NodeUnavailableError",
    "StationLocation",
]
