"""The demo's detectors: an IForest outlier detector and a KS drift detector fitted on iris at start-up,
served beside the model and fed by the logger through ``cloudevents+http`` sinks (the way a
SeldonDeployment's ``logger.url`` feeds an alibi-detect server); their results go to the demo's store, so
``inferwatch audit`` shows them under the records. Needs the ``[detect]`` extra (BSL-1.1)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferwatch.demo.model_server import FEATURES
from inferwatch.serve import Side

log = logging.getLogger("inferwatch.demo")

DRIFT_WINDOW = 20


@dataclass
class DemoDetectors:
    """Apps to serve beside the model, the sinks that feed them, and what to tell the user."""

    sides: list[Side] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    metrics_urls: dict[str, str] = field(default_factory=dict)
    publishers: list[Any] = field(default_factory=list)
    """The detectors' result publishers (``ResultPublisher``), closed when the demo stops."""
    note: str = ""

    def close(self) -> None:
        for publisher in self.publishers:
            publisher.close()


def start_detectors(workdir: Path, reference: Path, base_port: int, results_sink: str | None = None) -> DemoDetectors:
    """Fit (once per work dir) and build both detectors on ports ``base_port`` .. ``base_port + 3``; their results
    go to ``results_sink`` (the demo's store) when given."""
    try:
        import alibi_detect  # noqa: F401
    except ImportError:
        return DemoDetectors(note="detectors skipped: install the BSL-1.1 extra with pip install 'inferwatch[detect]'")
    from inferwatch.detectors.app import create_app, create_detector_admin_app
    from inferwatch.detectors.core import DetectorCore
    from inferwatch.detectors.fit import fit_detector
    from inferwatch.detectors.results import start_results
    from inferwatch.detectors.settings import DetectorSettings

    out = DemoDetectors()
    for i, (name, kind, options) in enumerate((("outlier", "iforest", {}), ("drift", "ks", {"p_val": 0.05}))):
        port = base_port + 2 * i
        directory = workdir / name
        if not directory.exists():
            fit_detector(kind, reference, directory, feature_names=FEATURES, options=options)
        settings = DetectorSettings(
            detector=directory,
            trust_artifacts=True,  # fitted by this demo a moment ago
            host="127.0.0.1",
            port=port,
            metrics_port=port + 1,
            model_name=f"iris-{name}",
            batch_size=DRIFT_WINDOW,
            state_dir=workdir / "state" / name,
            results_sink=[results_sink] if results_sink else [],
            results_model="iris",
        )
        core = DetectorCore(settings)
        results = start_results(settings, core)
        out.publishers.append(results.publisher)
        out.sides.append((create_app(settings, core, results), "127.0.0.1", port))
        out.sides.append((create_detector_admin_app(core), "127.0.0.1", port + 1))
        out.sinks.append(f"cloudevents+http://127.0.0.1:{port}/")
        out.metrics_urls[name] = f"http://localhost:{port + 1}/metrics"
    return out
