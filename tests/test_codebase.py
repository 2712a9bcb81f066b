"""The codebase stays linted (ruff) and typed (mypy --strict): checked with the project's own config.

mypy runs over the installed layout (``inferwatch.logger`` …, see ``devstack.namespace``): run from the
repository root it would not see the service folders as the ``inferwatch`` sub-packages they install as.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from devstack import typecheck

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    result = typecheck.mypy()
    assert result.returncode == 0, result.output
    assert "inferwatch/logger" not in result.output  # paths in messages point at the files developers edit
