"""Explainer kinds from the table, saved explainers, settings and the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inferwatch.errors import ConfigError
from inferwatch.explainers.core import ExplainerCore
from inferwatch.explainers.kinds import KINDS, get_kind
from inferwatch.explainers.settings import ExplainerSettings, parse_options
from inferwatch.settings import from_cli
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA, VIRGINICA, explainer
from tests.servers import serving


def _sentiment_model() -> Starlette:
    """A Seldon text model: class 1 when the text says 'good', else class 0 (probabilities)."""

    async def predict(request: Request) -> JSONResponse:
        texts = (await request.json())["data"]["ndarray"]
        good = [1.0 if "good" in str(t).split() else 0.0 for t in texts]
        return JSONResponse({"data": {"ndarray": [[1 - g, g] for g in good]}})

    return Starlette(routes=[Route("/api/v1.0/predictions", predict, methods=["POST"])])


def test_anchor_text_finds_the_deciding_word() -> None:
    with (
        serving(_sentiment_model()) as model_url,
        explainer(kind="anchor_text", model_url=model_url, reference=None, option=[]) as (url, _),
    ):
        body = {"data": {"ndarray": ["the food was good and cheap", "the room was dark"]}}
        r = httpx.post(f"{url}/api/v1.0/explain", json=body, timeout=60)
        assert r.status_code == 200, r.text
        first, second = r.json()["explanations"]
        assert first["meta"]["name"] == "AnchorText"
        assert first["data"]["anchor"] == ["good"]
        assert first["data"]["raw"]["prediction"] == [1] and second["data"]["raw"]["prediction"] == [0]


def test_tree_shap_white_box_model(tmp_path: Path, demo_model: str) -> None:
    from sklearn.ensemble import RandomForestClassifier

    table = np.loadtxt(IRIS_REFERENCE, delimiter=",", skiprows=1)
    model_file = tmp_path / "forest.joblib"
    joblib.dump(RandomForestClassifier(n_estimators=10, random_state=0).fit(table[:, :4], table[:, 4]), model_file)
    options = ["target=species", f"model_file={model_file}"]
    with explainer(kind="tree_shap", model_url=demo_model, option=options, trust_artifacts=True) as (url, _):
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA, VIRGINICA]}, timeout=60)
        assert r.status_code == 200, r.text
        first, second = r.json()["explanations"]
        assert first["meta"]["name"] == "TreeShap"
        assert np.asarray(first["data"]["shap_values"]).shape == (3, 1, 4)
        assert first["data"]["shap_values"] != second["data"]["shap_values"]


async def test_tree_shap_refuses_a_pickled_model_without_trust(tmp_path: Path, demo_model: str) -> None:
    settings = ExplainerSettings(kind="tree_shap", model_url=demo_model, option=[f"model_file={tmp_path}/m.joblib"])
    core = ExplainerCore(settings)
    with pytest.raises(ConfigError, match="--trust-artifacts"):
        await core.start()
    await core.stop()


async def test_saved_explainer_loads_only_with_trust(tmp_path: Path, demo_model: str) -> None:
    from alibi.saving import save_explainer

    fit = ExplainerCore(ExplainerSettings(kind="anchor_tabular", model_url=demo_model, reference=IRIS_REFERENCE,
                                          option=["target=species"]))  # fmt: skip
    await fit.start()
    # saving resets alibi's predictor, which calls the model: off the event loop, like every model call
    await asyncio.to_thread(save_explainer, fit.explainer, str(tmp_path / "anchors"))
    await fit.stop()

    with pytest.raises(ConfigError, match="--trust-artifacts"):
        ExplainerCore(ExplainerSettings(kind="anchor_tabular", model_url=demo_model,
                                        explainer_dir=tmp_path / "anchors"))  # fmt: skip

    loaded = ExplainerCore(ExplainerSettings(kind="anchor_tabular", model_url=demo_model,
                                             explainer_dir=tmp_path / "anchors", trust_artifacts=True))  # fmt: skip
    await loaded.start()
    try:
        [e] = await loaded.explain([VIRGINICA])
        assert e["data"]["raw"]["prediction"] == [2]
        assert loaded.n_features == 4
    finally:
        await loaded.stop()


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as e:
        get_kind("lime")
    assert "anchor_tabular" in e.value.message and "kernel_shap" in e.value.message
    assert {"anchor_tabular", "anchor_text", "kernel_shap", "tree_shap", "ale", "partial_dependence",
            "permutation_importance"} <= set(KINDS)  # fmt: skip


def test_options_and_settings() -> None:
    assert parse_options(["threshold=0.9", "link=identity", "features=[0, 2]", "x=a=b"]) == {
        "threshold": 0.9,
        "link": "identity",
        "features": [0, 2],
        "x": "a=b",
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_options(["novalue"])
    import argparse

    args = argparse.Namespace(protocol="kserve", model_url="http://127.0.0.1:1/", option=["seed=1"], port=None)
    s = from_cli(ExplainerSettings, args)
    assert (s.protocol, s.model_url, s.options, s.port) == ("kserve-v1", "http://127.0.0.1:1", {"seed": 1}, 8080)
    with pytest.raises(ConfigError, match="protocol"):
        from_cli(ExplainerSettings, argparse.Namespace(protocol="grpc"))
    with pytest.raises(ConfigError, match="model_url"):
        from_cli(ExplainerSettings, argparse.Namespace(model_url="127.0.0.1:9000"))


def test_missing_reference_is_a_settings_error() -> None:
    with pytest.raises(ConfigError, match="needs --reference"):
        ExplainerCore(ExplainerSettings(kind="kernel_shap"))
    with pytest.raises(ConfigError, match="does not exist"):
        ExplainerCore(ExplainerSettings(kind="kernel_shap", reference="/nonexistent/ref.csv"))


def test_cli_help_and_bad_settings_exit_2() -> None:
    out = subprocess.run([sys.executable, "-m", "inferwatch.cli", "explainer", "--help"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0
    for flag in ("--kind", "--model-url", "--protocol", "--reference", "--explainer-dir", "--option",
                 "--trust-artifacts", "--metrics-port", "/v1/models/NAME:explain"):  # fmt: skip
        assert flag in out.stdout
    bad = subprocess.run([sys.executable, "-m", "inferwatch.cli", "explainer", "--protocol", "grpc"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert bad.returncode == 2
    assert "protocol" in bad.stderr
