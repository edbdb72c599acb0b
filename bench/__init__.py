"""Benchmarks of the hub against hand-written floors (see bench/README.md)."""
