"""Explainer benchmark: the same alibi explainers (AnchorTabular, KernelShap) on the same scikit-learn model,
through ``inferwatch explainer`` (the model served over HTTP) vs in-process alibi with a local ``predict_fn``
(vs MLServer's alibi-explain runtime, where it installs).

Run ``python -m bench.explainers --help``; ``bench/README.md`` explains the method and the targets.
"""
