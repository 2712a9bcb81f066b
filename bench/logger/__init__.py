"""Logger benchmark: direct calls vs the inferwatch logger vs nginx as a reverse proxy.

Run ``python -m bench.logger --help``; ``bench/README.md`` explains the method and the targets.
"""
