"""``inferwatch explainer``: alibi explanations of a deployed model behind Seldon, KServe and V2 endpoints."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from inferwatch.delivery.publisher import add_results_arguments
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
'inferwatch[explain-tf]' on its own, or the dev install's TF 2.18). anchor_image is not available.
Or load a saved explainer: --explainer-dir DIR --trust-artifacts.
Reference files: .npy, .npz (X, optional y, feature_names) or .csv with a header (--option target=COL).

Endpoints: POST /api/v1.0/explain and /api/v0.1/explain (Seldon message), POST /v1/models/NAME:explain
(KServe v1 instances), POST /v2/models/NAME/infer (V2; 'explanation' output as MLServer), POST /explain.
Every instance of a batch is explained. Per-request parameters: "parameters": {"threshold": 0.9} (V2:
parameters.explain_parameters). Metrics and health on --metrics-port. Every flag has an environment
variable INFERWATCH_EXPLAINER_<FLAG>; flags win.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from inferwatch.explainers.settings import ExplainerSettings

    f = ExplainerSettings.model_fields
    p.add_argument("--kind", help=f"explainer kind (default {f['kind'].default})")
    p.add_argument("--model-url", help="model server base URL, e.g. http://127.0.0.1:9000")
    p.add_argument("--protocol", help="model protocol: seldon (default), kserve-v1 or v2")
    p.add_argument("--model-name", help="model name in KServe v1 and V2 paths")
    p.add_argument("--model-output", help="V2 output to request, e.g. predict_proba (default: first output)")
    p.add_argument("--reference", type=Path, help="reference data to fit on (.npy, .npz, .csv)")
    p.add_argument("--explainer-dir", type=Path, help="directory written by alibi.saving.save_explainer")
    p.add_argument(
        "--trust-artifacts", action="store_true", default=None, help="allow loading pickled explainers/models"
    )
    p.add_argument("--option", action="append", help="explainer option key=value (repeat)")
    p.add_argument("--host", help=f"interface to listen on (default {f['host'].default})")
    p.add_argument("--port", type=int, help=f"port to listen on (default {f['port'].default})")
    p.add_argument(
        "--metrics-port", type=int, help=f"metrics/health port, 0 = off (default {f['metrics_port'].default})"
    )
    p.add_argument("--timeout", type=float, help="seconds per explanation before 504 (default 60)")
    p.add_argument("--model-timeout", type=float, help="seconds per model call (default 30)")
    p.add_argument("--retries", type=int, help="retries of a failed model call (default 5)")
    p.add_argument("--batch-size", type=int, help="most instances per model call (default 5000)")
    p.add_argument("--max-concurrency", type=int, help="model calls in flight (default 4)")
    add_results_arguments(p)


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
