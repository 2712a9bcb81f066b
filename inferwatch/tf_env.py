"""TensorFlow in an inferwatch process: legacy Keras, and no TensorFlow at all when nothing needs it.

alibi-detect 0.13 and alibi 0.9 import TensorFlow as soon as they are imported (to find out whether it is
installed), which costs ~10 s and several hundred MB per process even for kinds that never use it. Entry
points that know which kind they run call :func:`prepare` once, before alibi/alibi-detect are imported:

- a kind that needs TensorFlow gets ``TF_USE_LEGACY_KERAS=1`` (tf-keras): alibi-detect saves the Keras
  models of OutlierAE/OutlierVAE/AdversarialAE in its legacy format, which only works with tf-keras;
- any other kind hides TensorFlow from the process (``import tensorflow`` raises ``ImportError``), so
  alibi/alibi-detect start as fast as without the TensorFlow extra.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("inferwatch.tf_env")

DETECT_TF_EXTRA = "pip install 'inferwatch[detect-tf]'"
EXPLAIN_TF_EXTRA = "pip install 'inferwatch[explain-tf]' (in its own environment: it needs TensorFlow < 2.15)"
_MODULES = ("tensorflow", "tensorflow_probability")


class TensorFlowSettings(BaseSettings):
    """How TensorFlow is set up in inferwatch processes (environment ``INFERWATCH_TF_*``)."""

    model_config = SettingsConfigDict(env_prefix="INFERWATCH_TF_", extra="ignore")

    legacy_keras: bool = Field(True, description="Export TF_USE_LEGACY_KERAS=1 (tf-keras) before TF is imported.")
    hide_when_unused: bool = Field(True, description="Hide TensorFlow from processes whose kind does not use it.")
    log_level: str = Field("2", description="TF_CPP_MIN_LOG_LEVEL for TensorFlow's C++ logging (2: errors only).")


def available() -> bool:
    """Whether TensorFlow can be imported here (without importing it)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"] is not None
    return importlib.util.find_spec("tensorflow") is not None


def use_legacy_keras(settings: TensorFlowSettings | None = None) -> None:
    """Make ``tf.keras`` tf-keras (``TF_USE_LEGACY_KERAS=1``) if TensorFlow is not imported yet."""
    s = settings or TensorFlowSettings()
    loaded = sys.modules.get("tensorflow") is not None
    if s.legacy_keras and not loaded:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", s.log_level)
    elif s.legacy_keras and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        log.warning("TensorFlow was imported before TF_USE_LEGACY_KERAS=1 was set: Keras models may not save")


_owns_process = False


def own_process() -> None:
    """Called by the console script's ``main``: this process runs one service, so ``prepare`` may hide TF.

    Code that calls ``inferwatch.cli.main([...])`` inside a bigger process (tests) never hides TensorFlow.
    """
    global _owns_process
    _owns_process = True


def prepare(needs_tensorflow: bool, settings: TensorFlowSettings | None = None) -> None:
    """Set the process up for a kind that does (or does not) need TensorFlow; call before alibi is imported."""
    s = settings or TensorFlowSettings()
    if needs_tensorflow:
        use_legacy_keras(s)
        return
    loaded = any(m in sys.modules for m in ("alibi", "alibi_detect", "tensorflow"))
    if _owns_process and s.hide_when_unused and not loaded:
        for name in _MODULES:
            sys.modules[name] = None  # type: ignore[assignment]  # documented: import raises ImportError
        log.debug("TensorFlow hidden from this process: its kind does not use it")
