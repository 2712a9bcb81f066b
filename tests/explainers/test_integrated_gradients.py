"""integrated_gradients: a white-box Keras model explained through the explainer app (TensorFlow installed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from inferwatch import tf_env
from inferwatch.errors import ConfigError
from inferwatch.explainers.kinds import get_kind
from tests.explainers.conftest import IRIS_REFERENCE, SETOSA, VIRGINICA, explainer


def _keras_iris(path: Path) -> Any:
    """A tiny softmax classifier on iris, saved to ``path``."""
    tf_env.use_legacy_keras()
    import tensorflow as tf

    table = np.loadtxt(IRIS_REFERENCE, delimiter=",", skiprows=1)
    x, y = table[:, :4].astype(np.float32), table[:, 4].astype(np.int64)
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(4,)),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=60, batch_size=32, verbose=0)
    model.save(path)
    return model


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keras") / "iris.keras"
    _keras_iris(path)
    return path


def test_explains_each_instance_for_its_predicted_class(keras_model: Path, demo_model: str) -> None:
    options = [f"model_file={keras_model}", "n_steps=25"]
    with explainer(kind="integrated_gradients", model_url=demo_model, reference=None, option=options) as (url, core):
        r = httpx.post(f"{url}/explain", json={"instances": [SETOSA, VIRGINICA]}, timeout=60)
        assert r.status_code == 200, r.text
        first, second = r.json()["explanations"]
        assert first["meta"]["name"] == "IntegratedGradients"
        assert first["data"]["target"] == [0] and second["data"]["target"] == [2]
        attributions = np.asarray(first["data"]["attributions"][0])
        assert attributions.shape == (1, 4) and np.any(attributions != 0)
        # completeness: attributions add up to f(x) - f(baseline) for the target class, up to the integration error
        assert abs(first["data"]["deltas"][0]) < 0.05
        r = httpx.post(f"{url}/api/v1.0/explain", json={"data": {"ndarray": [SETOSA]}, "parameters": {"target": 1}})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["target"] == [1]
        assert core.client.calls == 0  # white-box: the model server is never called


def test_h5_model_needs_trust_and_model_file_is_required(tmp_path: Path, keras_model: Path) -> None:
    build = get_kind("integrated_gradients").build
    with pytest.raises(ConfigError, match="model_file"):
        build(lambda x: x, None, {})
    with pytest.raises(ConfigError, match="--trust-artifacts"):
        build(lambda x: x, None, {"model_file": str(tmp_path / "m.h5")})
    with pytest.raises(ConfigError, match="does not exist"):
        build(lambda x: x, None, {"model_file": str(tmp_path / "missing.keras")})


def test_without_tensorflow_names_the_extra(monkeypatch: pytest.MonkeyPatch, keras_model: Path) -> None:
    monkeypatch.setattr(tf_env, "available", lambda: False)
    with pytest.raises(ConfigError, match=r"inferwatch\[explain-tf\]"):
        get_kind("integrated_gradients").build(lambda x: x, None, {"model_file": str(keras_model)})
