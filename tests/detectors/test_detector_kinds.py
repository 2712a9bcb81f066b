"""The kind table and fit options."""

from __future__ import annotations

import numpy as np
import pytest

from inferwatch import tf_env
from inferwatch.detectors.fit import parse_options
from inferwatch.detectors.kinds import KINDS, build, get_kind
from inferwatch.errors import ConfigError

REQUIRED = ("ks", "chisquare", "tabular", "cvm", "fet", "cvm-online", "fet-online", "classifier", "iforest")


def test_table_lists_every_required_kind() -> None:
    assert set(REQUIRED) | {"mahalanobis"} <= set(KINDS)
    assert all(not KINDS[k].needs_tf for k in REQUIRED)
    assert {k for k, v in KINDS.items() if v.needs_tf} >= {"mmd", "lsdd", "ae", "vae", "adversarial-ae"}


@pytest.mark.parametrize("name", ["mmd", "lsdd-online", "adversarial-ae"])
def test_tf_kinds_ask_for_the_tensorflow_extra(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf_env, "available", lambda: False)  # as in an install without inferwatch[detect-tf]
    with pytest.raises(ConfigError, match=r"TensorFlow extra: pip install 'inferwatch\[detect-tf\]'"):
        build(get_kind(name), np.zeros((10, 2)), {})


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known: ks"):
        get_kind("nope")


def test_bad_constructor_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid options"):
        build(get_kind("ks"), np.zeros((10, 2)), {"no_such_option": 1})


def test_options_are_json_when_they_parse() -> None:
    opts = parse_options(["p_val=0.01", "correction=fdr", 'categories_per_feature={"0": 3}', "window_sizes=[5]"])
    assert opts == {"p_val": 0.01, "correction": "fdr", "categories_per_feature": {0: 3}, "window_sizes": [5]}
    with pytest.raises(ConfigError, match="key=value"):
        parse_options(["oops"])
