"""A small example model server for the demo: an iris classifier behind Seldon v1, V2 and KServe v1.

It uses the project's own codecs, so it answers exactly what real Seldon/MLServer clients send.
Routes: ``POST /api/v1.0/predictions`` and ``/predict`` (Seldon), ``POST /v2/models/iris/infer`` (V2),
``POST /v1/models/iris:predict`` (KServe v1), health and metadata endpoints of each protocol.
"""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inferwatch.errors import CodecError, UnprocessableEntity
from inferwatch.protocols import get_codec
from inferwatch.protocols.base import Codec
from inferwatch.protocols.payload import Payload, Tensor
from inferwatch.protocols.v2 import TensorMetadata

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@dataclass
class IrisModel:
    """A fitted classifier and the names of its classes."""

    estimator: Any
    classes: list[str]
    name: str = "iris"
    n_features: int = len(FEATURES)
    """Inputs per instance (images arrive flattened by ``features``)."""

    def predict_proba(self, x: NDArray[Any]) -> NDArray[np.float64]:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            names = f" ({', '.join(FEATURES)})" if self.n_features == len(FEATURES) else ""
            raise UnprocessableEntity(
                f"expected {self.n_features} features per instance{names}, got shape {list(x.shape)}"
            )
        return np.asarray(self.estimator.predict_proba(x.astype(np.float64)))


def train_iris() -> IrisModel:
    """Fit a logistic regression on scikit-learn's bundled iris data (no download)."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    data = load_iris()
    model = LogisticRegression(max_iter=500).fit(data.data, data.target)
    return IrisModel(model, [str(n) for n in data.target_names])


def write_iris_reference(path: Path) -> Path:
    """iris's 150 instances as CSV with a header of ``FEATURES``: reference data for detectors and explainers."""
    from sklearn.datasets import load_iris

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FEATURES)
        w.writerows(load_iris().data.tolist())
    return path


def features(payload: Payload) -> NDArray[np.float64]:
    """The instances as one float matrix: a single 2-D tensor, or one column per named input."""
    numeric = [t for t in payload.tensors if isinstance(t.data, np.ndarray)]
    if len(numeric) == 1:
        x = np.asarray(numeric[0].data, dtype=np.float64)
        return x.reshape(1, -1) if x.ndim == 1 else x.reshape(x.shape[0], -1)
    if numeric:
        by_name = {t.name: t for t in numeric}
        ordered = [by_name[f] for f in FEATURES] if all(f in by_name for f in FEATURES) else numeric
        return np.column_stack([np.asarray(t.data, dtype=np.float64).reshape(-1) for t in ordered])
    raise CodecError("no numeric input tensor in the request")


def create_model_app(model: IrisModel) -> Starlette:
    seldon, v2, kserve = get_codec("seldon"), get_codec("v2"), get_codec("kserve-v1")

    def _json(body: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(body), status_code=status, media_type="application/json")

    def endpoint(
        codec: Codec,
        respond: Callable[[Payload, NDArray[np.float64]], Payload],
        error: Callable[[str], dict[str, Any]],
    ) -> Callable[[Request], Awaitable[Response]]:
        """A predict route: decode with ``codec``, predict, encode ``respond``'s payload; bad input -> 400."""

        async def handle(request: Request) -> Response:
            try:
                req = codec.decode_request(orjson.loads(await request.body()))
                proba = model.predict_proba(features(req))
            except orjson.JSONDecodeError as e:
                return _json(error(f"invalid JSON: {e}"), 400)
            except (CodecError, UnprocessableEntity) as e:
                return _json(error(e.message), 400)
            return _json(codec.encode_response(respond(req, proba)))

        return handle

    def seldon_error(info: str) -> dict[str, Any]:
        return {"status": {"code": -1, "info": info, "reason": "MICROSERVICE_BAD_DATA", "status": "FAILURE"}}

    def plain_error(message: str) -> dict[str, Any]:
        return {"error": message}

    def tensor(name: str, proba: NDArray[np.float64]) -> list[Tensor]:
        return [Tensor(name, "FP64", list(proba.shape), proba)]

    seldon_predict = endpoint(
        seldon,
        lambda req, p: Payload("seldon", "response", tensor("data", p), names=model.classes, extra=dict(req.extra)),
        seldon_error,
    )
    v2_infer = endpoint(
        v2,
        lambda req, p: Payload("v2", "response", tensor("predict_proba", p), id=req.id, model_name=model.name),
        plain_error,
    )
    kserve_predict = endpoint(
        kserve, lambda req, p: Payload("kserve-v1", "response", tensor("predictions", p)), plain_error
    )

    async def v2_model(_: Request) -> Response:
        return _json(
            {
                "name": model.name,
                "platform": "sklearn",
                "inputs": [TensorMetadata("predict", "FP32", [-1, len(FEATURES)]).to_json()],
                "outputs": [TensorMetadata("predict_proba", "FP64", [-1, len(model.classes)]).to_json()],
            }
        )

    async def ok(_: Request) -> Response:
        return _json({"status": "ok"})

    async def seldon_metadata(_: Request) -> Response:
        return _json(
            {
                "name": model.name,
                "inputs": [{"messagetype": "tensor", "schema": {"names": FEATURES, "shape": [len(FEATURES)]}}],
                "outputs": [{"messagetype": "tensor", "schema": {"names": model.classes}}],
            }
        )

    return Starlette(
        routes=[
            Route("/api/v1.0/predictions", seldon_predict, methods=["POST"]),
            Route("/predict", seldon_predict, methods=["POST"]),
            Route("/api/v1.0/metadata", seldon_metadata, methods=["GET"]),
            Route("/health/ping", ok, methods=["GET"]),
            Route("/health/status", ok, methods=["GET"]),
            Route(f"/v2/models/{model.name}/infer", v2_infer, methods=["POST"]),
            Route(f"/v2/models/{model.name}", v2_model, methods=["GET"]),
            Route(f"/v2/models/{model.name}/ready", ok, methods=["GET"]),
            Route("/v2/health/live", ok, methods=["GET"]),
            Route("/v2/health/ready", ok, methods=["GET"]),
            Route(f"/v1/models/{model.name}:predict", kserve_predict, methods=["POST"]),
            Route(f"/v1/models/{model.name}", ok, methods=["GET"]),
        ]
    )
