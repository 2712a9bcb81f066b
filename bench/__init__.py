"""Benchmarks against named peers (not tests): each sub-package is runnable with ``python -m bench.<name>``."""
