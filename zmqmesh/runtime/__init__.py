"""The engine, communicators, requests, the collective runner, profiling,
and the bootstrap that wires them from ``job/`` and ``transport/``."""
