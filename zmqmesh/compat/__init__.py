"""Compatibility layers: existing programs written for other libraries."""
