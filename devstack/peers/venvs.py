"""Isolated, cached venvs for the peer model servers (their pins clash with the project's).

A venv lives at ``CommonSettings().cache_dir / "venvs" / "<name>-<hash>"`` where the hash covers the
Python version and the requirement list, so changing a pin builds a new venv beside the old one.
A ``.complete`` stamp marks a finished build; a directory without it is removed and rebuilt. Builds
hold an exclusive file lock, so two pytest sessions racing for the same venv build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devstack.peers.errors import PeerError
from devstack.peers.process import clean_env
from inferwatch.settings import CommonSettings

log = logging.getLogger(__name__)

STAMP = ".complete"
INSTALL_TIMEOUT = 1800.0


@dataclass(frozen=True)
class VenvSpec:
    """What one peer venv contains: a name and exact pip requirements."""

    name: str
    requirements: tuple[str, ...]

    def digest(self, python_version: str) -> str:
        """Short hash of the Python version and the requirements (order-insensitive)."""
        text = "\n".join([python_version, *sorted(self.requirements)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


SELDON = VenvSpec(
    "seldon",
    (
        # tensorflow is the wrapper's own [tensorflow] extra: without it `tftensor` requests fail.
        "seldon-core[tensorflow]==1.18.2",
        "tensorflow==2.19.1",
        "scikit-learn==1.9.1",
        "joblib==1.6.0",
        # seldon-core's gunicorn 20.1 imports pkg_resources, removed from setuptools 70.
        "setuptools<70",
    ),
)
"""Seldon Core's Python wrapper (Seldon v1 protocol) with scikit-learn."""

MLSERVER = VenvSpec(
    "mlserver",
    ("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "scikit-learn==1.9.1", "joblib==1.6.0"),
)
"""MLServer (V2 protocol) with its scikit-learn runtime; it pulls numpy 2 and pandas."""

MLSERVER_ALIBI_DETECT = VenvSpec(
    "mlserver-alibi-detect",
    (
        "mlserver==1.7.1",
        "mlserver-alibi-detect==1.6.1",
        # the runtime needs alibi-detect's TensorFlow extra; TF 2.18 keeps numpy 1.26 (alibi-detect caps numpy < 2)
        "alibi-detect[tensorflow]==0.13.0",
        "tensorflow==2.18.1",
        "numpy==1.26.4",
    ),
)
"""MLServer with its alibi-detect runtime (V2 protocol): serves a directory written by ``save_detector``."""


@dataclass(frozen=True)
class Venv:
    """A complete peer venv."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, name: str) -> Path:
        """Path of a console script installed in the venv (``mlserver``, ``seldon-core-microservice``)."""
        return self.path / "bin" / name


def base_python() -> Path:
    """The interpreter peer venvs are made from: the base install behind ``sys.executable``."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidate = Path(sys.base_prefix) / "bin" / name
    return candidate if candidate.exists() else Path(sys.executable)


def venvs_dir(settings: CommonSettings | None = None) -> Path:
    """Where peer venvs are cached (outside the work tree, reused across runs and CI)."""
    return (settings or CommonSettings()).cache_dir / "venvs"


def venv_path(spec: VenvSpec, settings: CommonSettings | None = None) -> Path:
    """The directory ``spec``'s venv lives in, whether or not it is built yet."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return venvs_dir(settings) / f"{spec.name}-{spec.digest(version)}"


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], log_file: Path) -> None:
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        try:
            done = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=clean_env(),
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise PeerError(f"timed out after {INSTALL_TIMEOUT:.0f}s: {argv[:4]}; see {log_file}") from e
    if done.returncode != 0:
        raise PeerError(f"exit {done.returncode} from {' '.join(argv[:4])}...; see {log_file}")


def _build(spec: VenvSpec, path: Path, log_file: Path) -> None:
    if path.exists():
        log.warning("removing incomplete venv %s", path)
        shutil.rmtree(path)
    log_file.write_text("")
    _run([str(base_python()), "-m", "venv", str(path)], log_file)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    _run([*pip, *spec.requirements], log_file)
    _run([str(path / "bin" / "python"), "-m", "pip", "check"], log_file)
    partial = path / (STAMP + ".tmp")
    partial.write_text("\n".join(spec.requirements) + "\n")
    partial.rename(path / STAMP)  # atomic: the stamp exists only once complete


def ensure_venv(spec: VenvSpec, settings: CommonSettings | None = None) -> Venv:
    """Return ``spec``'s venv, building it first if no complete one is cached.

    Safe when several processes call it at once: one builds, the others wait on the lock and reuse.
    Raises ``PeerError`` naming the build log if ``venv`` or ``pip`` fails; the half-built directory
    is left for inspection and removed by the next call.
    """
    path = venv_path(spec, settings)
    venv = Venv(path)
    if (path / STAMP).exists():
        return venv
    log_file = path.with_name(path.name + ".log")
    with _locked(path.with_name(path.name + ".lock")):
        if (path / STAMP).exists():
            return venv
        started = time.monotonic()
        log.info("building peer venv %s (log %s)", path, log_file)
        _build(spec, path, log_file)
        log.info("built peer venv %s in %.0fs", path, time.monotonic() - started)
    return venv
