"""Detector benchmark: the same saved alibi-detect detector on the same batches, called in-process (``direct``),
through ``inferwatch detector serve`` over HTTP (V2 and Seldon), and through MLServer's alibi-detect runtime.

Run ``python -m bench.detectors --help``; ``bench/README.md`` explains the method and the targets.
"""
