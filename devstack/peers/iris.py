"""Train the scikit-learn iris classifier the peer servers serve.

Training runs INSIDE the peer venv (its own Python and scikit-learn), so the pickled model always
loads in the server that serves it. The data set ships with scikit-learn; nothing is downloaded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from devstack.peers.errors import PeerError
from devstack.peers.process import clean_env
from devstack.peers.venvs import Venv

FEATURE_NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
CLASS_NAMES = ("setosa", "versicolor", "virginica")

# Run as `python -c SCRIPT DEST FRAME`: FRAME "1" trains on a pandas DataFrame with named columns
# (what MLServer's `pd` content type hands the model), "0" on a plain float array.
_TRAIN_SCRIPT = f"""
import sys
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

dest, frame = sys.argv[1], sys.argv[2] == "1"
names = {FEATURE_NAMES!r}
X, y = load_iris(return_X_y=True)
if frame:
    import pandas as pd
    X = pd.DataFrame(X, columns=list(names))
model = LogisticRegression(max_iter=1000, random_state=0).fit(X, y)
joblib.dump(model, dest)
"""


def train_iris(venv: Venv, dest: Path, *, named_columns: bool = False, timeout: float = 300.0) -> Path:
    """Fit a logistic-regression iris model with ``venv``'s Python and save it to ``dest`` with joblib.

    ``named_columns`` trains on a DataFrame whose columns are ``FEATURE_NAMES`` (needs pandas in the
    venv). Returns ``dest``; raises ``PeerError`` with the script's output if training fails.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(venv.python), "-c", _TRAIN_SCRIPT, str(dest), "1" if named_columns else "0"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise PeerError(f"training the iris model in {venv.path} timed out") from e
    if done.returncode != 0 or not dest.exists():
        raise PeerError(f"training the iris model in {venv.path} failed:\n{done.stdout}{done.stderr}")
    return dest
