"""Collective operations: reduction ops and the algorithms that run collectives."""
