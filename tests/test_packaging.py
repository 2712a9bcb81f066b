"""The wheel holds one namespace: ``inferwatch`` with the service folders mapped in, and no dev tooling.

Built from this checkout and installed into a fresh virtualenv, as a user's ``pip install .`` would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from devstack.namespace import ROOT, module_files, package_dirs

pytestmark = pytest.mark.slow
SITE = "lib/python3.11/site-packages"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools reuses ./build/lib in place, where files deleted since an earlier build linger.
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in set(package_dirs().values()):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("inferwatch-*.whl")
    return built


def test_wheel_holds_every_module_under_inferwatch_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"inferwatch", "inferwatch-0.1.0.dist-info"}
    modules = {n for n in names if n.endswith(".py")}
    assert modules == set(module_files())  # a sub-package missing from [tool.setuptools] packages fails here
    assert {"inferwatch/logger/proxy.py", "inferwatch/detectors/app.py", "inferwatch/explainers/core.py"} <= modules
    assert not [n for n in names if "devstack" in n or n.endswith((".java", ".pyc"))]


def test_installed_into_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = venv / SITE
    before = {p.name for p in site.iterdir()}
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", "--no-deps"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=300)
    assert {p.name for p in site.iterdir()} - before == {"inferwatch", "inferwatch-0.1.0.dist-info"}
    # The dependencies come from this environment's site-packages (a path line is not a site dir: its own
    # .pth files, such as the checkout's editable finder, are not run).
    (site / "zz-deps.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")

    def python(code: str) -> subprocess.CompletedProcess[str]:
        argv = [str(venv / "bin" / "python"), "-c", code]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300)

    ok = python(
        "import inferwatch.logger.proxy, inferwatch.detectors.app, inferwatch.explainers.app, inferwatch.consumers\n"
        "print(inferwatch.logger.proxy.__file__)"
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == str(site / "inferwatch" / "logger" / "proxy.py")
    for name in ("logger", "detectors", "explainers", "consumers", "devstack"):
        gone = python(f"import {name}")
        assert gone.returncode != 0 and f"No module named '{name}'" in gone.stderr
    cli = subprocess.run([str(venv / "bin" / "inferwatch"), "--help"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "logger" in cli.stdout and "only in a source checkout" in cli.stdout
    dev = subprocess.run([str(venv / "bin" / "inferwatch"), "devstack", "up"], capture_output=True, text=True)
    assert dev.returncode == 2 and "is development tooling" in dev.stderr
