"""Peer venv cache: one directory per requirement hash, stamp, rebuild of half-built venvs, race safety.

Uses a tiny spec (``pip`` is already in every fresh venv, so nothing is downloaded) under a temporary
``INFERWATCH_CACHE_DIR``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.peers.errors import PeerError
from devstack.peers.venvs import MLSERVER, SELDON, STAMP, VenvSpec, ensure_venv, venv_path
from inferwatch.settings import CommonSettings

TINY = VenvSpec("tiny", ("pip",))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERWATCH_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_path_depends_on_requirements_not_their_order(cache: Path) -> None:
    a = venv_path(VenvSpec("x", ("b==1", "a==2")))
    assert a == venv_path(VenvSpec("x", ("a==2", "b==1")))
    assert a != venv_path(VenvSpec("x", ("a==2", "b==2")))
    assert a.parent == CommonSettings().cache_dir / "venvs" == cache / "venvs"
    assert a.name.startswith("x-")
    assert venv_path(SELDON).name.startswith("seldon-") and venv_path(MLSERVER).name.startswith("mlserver-")


@pytest.mark.slow
def test_half_built_venv_is_rebuilt_then_reused(cache: Path) -> None:
    path = venv_path(TINY)
    path.mkdir(parents=True)
    (path / "leftover").write_text("from an interrupted build")
    venv = ensure_venv(TINY)
    assert venv.path == path
    assert not (path / "leftover").exists()
    assert (path / STAMP).read_text().split() == ["pip"]
    out = subprocess.run([str(venv.python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert Path(out.stdout.strip()) == path
    stamp_time = (path / STAMP).stat().st_mtime_ns
    assert ensure_venv(TINY) == venv
    assert (path / STAMP).stat().st_mtime_ns == stamp_time


@pytest.mark.slow
def test_two_racing_processes_build_once(cache: Path) -> None:
    code = "from devstack.peers.venvs import VenvSpec, ensure_venv; print(ensure_venv(VenvSpec('tiny', ('pip',))).path)"
    env = {**os.environ, "INFERWATCH_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    paths = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert paths == {str(venv_path(TINY))}
    build_log = venv_path(TINY).with_name(venv_path(TINY).name + ".log").read_text()
    assert build_log.count(" -m venv ") == 1


def test_failed_install_names_the_log(cache: Path) -> None:
    broken = VenvSpec("broken", (str(cache / "missing" / "nothing-1.0-py3-none-any.whl"),))
    with pytest.raises(PeerError) as info:
        ensure_venv(broken)
    log_file = venv_path(broken).with_name(venv_path(broken).name + ".log")
    assert str(log_file) in str(info.value)
    assert "does not exist" in log_file.read_text()
    assert not (venv_path(broken) / STAMP).exists()
