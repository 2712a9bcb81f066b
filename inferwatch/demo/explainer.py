"""The demo's explainer: AnchorTabular fitted on iris at start-up, calling the demo model over Seldon v1.
Needs the ``[explain]`` extra (alibi, BSL-1.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from inferwatch.serve import Side


@dataclass
class DemoExplainer:
    sides: list[Side] = field(default_factory=list)
    url: str = ""
    note: str = ""


def start_explainer(reference: Path, model_port: int, port: int) -> DemoExplainer:
    """The explainer on ``port`` (its metrics on ``port + 1``); it fits when its app starts."""
    try:
        import alibi  # noqa: F401
    except ImportError:
        return DemoExplainer(note="explainer skipped: install the BSL-1.1 extra with pip install 'inferwatch[explain]'")
    from inferwatch.explainers.app import create_app, create_explainer_admin_app
    from inferwatch.explainers.core import ExplainerCore
    from inferwatch.explainers.settings import ExplainerSettings

    settings = ExplainerSettings(
        kind="anchor_tabular",
        model_url=f"http://127.0.0.1:{model_port}",
        protocol="seldon",
        reference=reference,
        host="127.0.0.1",
        port=port,
        metrics_port=port + 1,
    )
    core = ExplainerCore(settings)
    return DemoExplainer(
        sides=[
            (create_app(settings, core), "127.0.0.1", port),
            (create_explainer_admin_app(core), "127.0.0.1", port + 1),
        ],
        url=f"http://localhost:{port}",
    )
