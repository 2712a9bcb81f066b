"""Shared helpers of the protocol codec tests."""

from __future__ import annotations

from pathlib import Path

import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "testdata" / "protocols"


@pytest.fixture
def golden_dir() -> Path:
    return GOLDEN_DIR
