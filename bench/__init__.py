"""Benchmarks (`make bench`): each module has ``run() -> dict``; see bench/README.md."""
