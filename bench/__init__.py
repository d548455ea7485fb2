"""Benchmarks; each module runs with `python -m bench.<name> --help` from the repository root."""
