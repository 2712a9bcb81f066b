"""schemathesis against the detector's OpenAPI, in process: no 5xx for any body it describes, or breaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis

from inferwatch.detectors.app import create_app
from inferwatch.detectors.core import DetectorCore
from inferwatch.protocols import limits
from tests.detectors.conftest import MakeCore
from tests.openapi_fuzz import fuzz, stop_lifespans

pytestmark = pytest.mark.slow


@pytest.fixture(params=["iforest", "ks"])
def core(request: pytest.FixtureRequest, tmp_path: Path, make_core: MakeCore) -> Iterator[DetectorCore]:
    detector = request.getfixturevalue(f"{request.param}_dir")
    yield make_core(detector, tmp_path / "state", batch_size=10, trust_artifacts=True)
    stop_lifespans()
    limits.configure(limits.DEFAULT_MAX_ELEMENTS)


def test_no_server_error_on_any_operation(core: DetectorCore) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(core.settings, core))
    fuzzed = fuzz(schema, path_parameters={"name": core.settings.model_name}, max_examples=60)
    assert "POST /v2/models/{name}/infer" in fuzzed and "POST /" in fuzzed
