"""``inferwatch explainer``: alibi explanations of a deployed model behind Seldon, KServe and V2 endpoints."""

from __future__ import annotations

import argparse
import logging

from inferwatch.cli_flags import add_settings_arguments
from inferwatch.delivery.publisher import RESULTS_FIELDS, add_results_arguments
from inferwatch.errors import InferwatchError
from inferwatch.serve import run as serve
from inferwatch.settings import from_cli

HELP = "explain a deployed model's predictions with alibi (Seldon, KServe v1 and V2 explain endpoints)"
DESCRIPTION = """\
Serves alibi explanations of a model that runs elsewhere, calling it as a black box (batched, pooled,
retried, with 'Seldon-Skip-Logging: true' so the explainer's own calls are not logged).

  inferwatch explainer --kind anchor_tabular --model-url http://127.0.0.1:9000 --protocol seldon \\
      --reference iris.csv --port 8080

Kinds: anchor_tabular, kernel_shap (fitted on --reference), anchor_text (spacy.blank('en'), 'unknown'
sampling), tree_shap (white-box: --option model_file=M.joblib --trust-artifacts), ale, partial_dependence,
permutation_importance (labels in parameters.y), integrated_gradients (white-box Keras classifier:
--option model_file=M.keras; .h5 needs --trust-artifacts; needs TensorFlow: pip install
'inferwatch[explain-tf]' on its own, or the dev install's TF 2.18), anchor_image (images of
--option image_shape=[H,W,C], slic superpixels, --option segmentation_kwargs={...}).
Or load a saved explainer: --explainer-dir DIR --trust-artifacts.
Reference files: .npy, .npz (X, optional y, feature_names) or .csv with a header (--option target=COL).

Endpoints: POST /api/v1.0/explain and /api/v0.1/explain (Seldon message), POST /v1/models/NAME:explain
(KServe v1 instances), POST /v2/models/NAME/infer (V2; 'explanation' output as MLServer), POST /explain.
Every instance of a batch is explained. Per-request parameters: "parameters": {"threshold": 0.9} (V2:
parameters.explain_parameters). Every answer carries x-request-id: the caller's request id (x-request-id,
Seldon-Puid, Ce-Requestid, the body's id), else a generated one; --results-sink records under it.
Metrics and health on --metrics-port. Every flag has an environment variable INFERWATCH_EXPLAINER_<FLAG>;
flags win.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per ``ExplainerSettings`` field (``inferwatch.cli_flags``), the results flags in a group."""
    from inferwatch.explainers.settings import ExplainerSettings

    add_settings_arguments(p, ExplainerSettings, skip=RESULTS_FIELDS)
    add_results_arguments(p, ExplainerSettings)


def _prepare_tensorflow(kind: str) -> None:
    """TensorFlow only in processes whose kind uses it (alibi imports it eagerly, ~10 s)."""
    from inferwatch import tf_env
    from inferwatch.explainers.kinds import KINDS

    tf_env.prepare(kind in KINDS and KINDS[kind].needs_tf)


def run(args: argparse.Namespace) -> int:
    from inferwatch.delivery.publisher import ResultPublisher
    from inferwatch.explainers.app import create_app, create_explainer_admin_app
    from inferwatch.explainers.core import ExplainerCore
    from inferwatch.explainers.results import ExplainerResults
    from inferwatch.explainers.settings import ExplainerSettings

    settings = from_cli(ExplainerSettings, args)
    _prepare_tensorflow(settings.kind)
    core = ExplainerCore(settings)
    publisher = ResultPublisher.from_settings(settings, core.metrics.registry, f"explainer-{settings.kind}").start()
    log = logging.getLogger("inferwatch.explainers")
    log.info("explainer %s on %s:%d explaining %s", settings.kind, settings.host, settings.port, core.client.url)
    try:
        serve(
            create_app(settings, core, ExplainerResults(settings, publisher)),
            settings.host,
            settings.port,
            create_explainer_admin_app(core),
            settings.metrics_port,
        )
    finally:
        publisher.close()
    if core.failure is not None:
        if isinstance(core.failure, InferwatchError):
            raise core.failure
        raise InferwatchError(f"explainer failed to start: {core.failure}") from core.failure
    return 0
