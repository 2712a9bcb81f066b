"""anchor_image: AnchorImage on scikit-learn's 8x8 digits, the model called over HTTP in batches of images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from inferwatch.demo.model_server import IrisModel, create_model_app
from inferwatch.errors import ConfigError
from inferwatch.explainers.kinds import get_kind, image_shape
from tests.explainers.conftest import explainer
from tests.servers import serving

SHAPE = [8, 8, 1]
OPTIONS = [
    f"image_shape={SHAPE}",
    "seed=0",
    'segmentation_kwargs={"n_segments": 4, "compactness": 10, "sigma": 0.5, "start_label": 0}',
]


@pytest.fixture(scope="module")
def digits() -> tuple[Any, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    data = load_digits()
    images = data.images / 16.0
    model = LogisticRegression(max_iter=2000).fit(images.reshape(len(images), -1), data.target)
    return model, images


@pytest.fixture(scope="module")
def digits_url(digits: tuple[Any, np.ndarray]) -> Iterator[str]:
    model, _ = digits
    served = IrisModel(model, [str(c) for c in range(10)], name="digits", n_features=64)
    with serving(create_model_app(served)) as url:
        yield url


def test_images_are_explained_one_by_one_with_batched_model_calls(
    digits: tuple[Any, np.ndarray], digits_url: str
) -> None:
    model, images = digits
    batch = images[:2].reshape(2, *SHAPE)
    with explainer(kind="anchor_image", model_url=digits_url, protocol="seldon", reference=None, option=OPTIONS) as (
        url,
        core,
    ):
        body = {"data": {"ndarray": batch.tolist()}, "parameters": {"threshold": 0.9, "p_sample": 0.5}}
        r = httpx.post(f"{url}/api/v1.0/explain", json=body, timeout=120)
        assert r.status_code == 200, r.text
        explanations = r.json()["explanations"]
        assert len(explanations) == 2
        expected = model.predict(images[:2].reshape(2, -1)).tolist()
        for e, label in zip(explanations, expected, strict=True):
            assert e["meta"]["name"] == "AnchorImage"
            assert np.asarray(e["data"]["anchor"]).shape == tuple(SHAPE)
            assert np.asarray(e["data"]["segments"]).shape == tuple(SHAPE[:2])
            assert e["data"]["raw"]["prediction"] == [label]
            precision = np.asarray(e["data"]["precision"], dtype=float)
            assert ((precision >= 0.0) & (precision <= 1.0)).all()
        assert core.client.calls < 200  # perturbations go to the model in batches, not one call each

        one = httpx.post(f"{url}/api/v1.0/explain", json={"data": {"ndarray": images[3].tolist()}}, timeout=120)
        assert one.status_code == 200, one.text  # one grey image without the channel axis is accepted
        assert one.json()["meta"]["name"] == "AnchorImage"

        wrong = httpx.post(f"{url}/api/v1.0/explain", json={"data": {"ndarray": [[0.1] * 10]}}, timeout=30)
        assert wrong.status_code == 422
        error = wrong.json()["error"]
        assert error["details"] == {"expected": ["n", *SHAPE], "received": [1, 10]}
        assert "expected images of shape [8, 8, 1]" in error["message"]


def test_image_shape_is_required_and_checked() -> None:
    with pytest.raises(ConfigError, match="image_shape"):
        get_kind("anchor_image").build(lambda x: x, None, {})
    with pytest.raises(ConfigError, match="image_shape"):
        image_shape({"image_shape": "big"})
    assert image_shape({"image_shape": "28x28x1"}) == (28, 28, 1)
    assert image_shape({"image_shape": [32, 32, 3]}) == (32, 32, 3)
