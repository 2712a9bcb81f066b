"""Builders of the TensorFlow detector kinds (``pip install 'inferwatch[detect-tf]'``).

Imported only when one of these kinds is fitted, so nothing else pays for TensorFlow. The auto-encoders
are small dense networks sized from the feature count; their options (``--option key=value``):

- ``ae``/``vae``: ``epochs`` (50), ``batch_size`` (32), ``latent_dim`` (features // 2, at least 2),
  ``hidden`` (units of the hidden layer, 4 x features, at least 16), ``threshold_perc`` (95), ``seed`` (0);
  ``vae`` also ``samples`` (10) and ``beta`` (1.0).
- ``adversarial-ae``: the same, plus ``label_column`` (required, read by ``fit``: the reference column holding
  the class labels; it is not a feature) and ``classifier_epochs`` (100): a small dense softmax classifier is
  trained on the reference and its labels, then the adversarial auto-encoder is trained against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inferwatch.errors import ConfigError

Array = np.ndarray[Any, Any]


def _dense(n_in: int, hidden: int, n_out: int, activation: str | None = None) -> Any:
    import tensorflow as tf

    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(n_in,)),
            tf.keras.layers.Dense(hidden, activation="relu"),
            tf.keras.layers.Dense(n_out, activation=activation),
        ]
    )


def _sizes(x: Array, opts: dict[str, Any]) -> tuple[int, int, int]:
    n = int(x.shape[1])
    latent = int(opts.pop("latent_dim", max(2, n // 2)))
    hidden = int(opts.pop("hidden", max(16, 4 * n)))
    return n, latent, hidden


def _seed(opts: dict[str, Any]) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(int(opts.pop("seed", 0)))


def _train(opts: dict[str, Any]) -> dict[str, Any]:
    return {"epochs": int(opts.pop("epochs", 50)), "batch_size": int(opts.pop("batch_size", 32)), "verbose": False}


def autoencoder(cls: Any, x: Array, options: dict[str, Any], *, variational: bool) -> Any:
    """OutlierAE or OutlierVAE trained on ``x``, its threshold at ``threshold_perc`` of the reference scores."""
    opts = dict(options)
    _seed(opts)
    perc = float(opts.pop("threshold_perc", 95.0))
    n, latent, hidden = _sizes(x, opts)
    train = _train(opts)
    if variational:
        encoder = _dense(n, hidden, hidden, "relu")  # OutlierVAE adds the mean/log-variance layers itself
        detector = cls(encoder_net=encoder, decoder_net=_dense(latent, hidden, n), latent_dim=latent, **opts)
    else:
        detector = cls(encoder_net=_dense(n, hidden, latent), decoder_net=_dense(latent, hidden, n), **opts)
    detector.fit(x, **train)
    detector.infer_threshold(x, threshold_perc=perc)
    return detector


def _classifier(x: Array, y: Array, hidden: int, epochs: int) -> Any:

    classes = np.unique(y)
    if classes.size < 2 or not np.array_equal(classes, np.arange(classes.size)):
        raise ConfigError(f"adversarial-ae needs class labels 0..K-1 (K >= 2), got {classes.tolist()[:10]}")
    model = _dense(int(x.shape[1]), hidden, int(classes.size), "softmax")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    model.trainable = False
    return model


def adversarial(cls: Any, x: Array, options: dict[str, Any], labels: Array | None) -> Any:
    """AdversarialAE protecting a small classifier trained on ``x`` and ``labels``."""
    if labels is None:
        raise ConfigError("adversarial-ae trains a classifier on the reference: pass --option label_column=NAME")
    opts = dict(options)
    _seed(opts)
    perc = float(opts.pop("threshold_perc", 95.0))
    n, latent, hidden = _sizes(x, opts)
    model = _classifier(x, labels.astype(np.int64), hidden, int(opts.pop("classifier_epochs", 100)))
    train = _train(opts)
    detector = cls(model=model, encoder_net=_dense(n, hidden, latent), decoder_net=_dense(latent, hidden, n), **opts)
    detector.fit(x, **train)
    detector.infer_threshold(x, threshold_perc=perc)
    return detector
