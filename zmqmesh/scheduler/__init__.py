"""Work stealing: ``Executor`` (root API), nodes, workers and pure policy."""

from zmqmesh.scheduler.executor import Executor

__all__ = ["Executor"]
