"""Benchmarks of the kit: `invoke bench` (see benchmarks/README.md)."""
