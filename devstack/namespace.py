"""The source tree seen as it installs, for tools that cannot follow setuptools' ``package-dir`` mapping.

The repository keeps its service folders at the top level (``logger/``, ``detectors/`` …) and installs them
as ``inferwatch.logger``, ``inferwatch.detectors`` … (``[tool.setuptools.package-dir]`` in ``pyproject.toml``).
Python finds them through the editable install's import hook, but static tools (mypy, import-linter's
graph builder) walk directories. ``build_view`` mirrors the installed layout into a directory of symbolic
links to the real files, so those tools see ``inferwatch/logger/proxy.py``; ``real_path`` maps a path in the
view back to the file a developer edits. The mapping is read from ``pyproject.toml``: it is declared once.
"""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Development tooling: never installed, mirrored into the view as they are so it can be checked too.
DEV_PACKAGES = ("devstack", "bench", "dashboards", "tests")


def package_dirs(root: Path = ROOT) -> dict[str, str]:
    """``{import name: folder}`` from ``[tool.setuptools.package-dir]``, e.g. ``inferwatch.logger: logger``."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return dict(mapping)


def installed_packages(root: Path = ROOT) -> list[str]:
    """The package list ``[tool.setuptools] packages`` installs (what the wheel holds)."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    return list(config["tool"]["setuptools"]["packages"])


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Every shipped module as ``{path inside site-packages: source file}``, following the mapping.

    Sub-folders of a mapped folder belong to the mapped package unless another mapping claims them.
    """
    mapping = package_dirs(root)
    claimed = {(root / folder).resolve() for folder in mapping.values()}
    out: dict[str, Path] = {}
    for name, folder in mapping.items():
        base = (root / folder).resolve()
        for dirpath, dirnames, filenames in os.walk(base):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and (here / d).resolve() not in claimed)
            rel = here.relative_to(base)
            for filename in sorted(filenames):
                if filename.endswith(".py"):
                    out[str(Path(name.replace(".", "/"), rel, filename))] = here / filename
    return out


def build_view(dest: Path, root: Path = ROOT) -> Path:
    """(Re)build ``dest`` as the installed layout plus ``DEV_PACKAGES``, made of links to the real files (a module's
    ``.pyi`` stub beside it, as the generated protobuf classes have, is linked too: mypy reads the stub)."""
    if dest.exists():
        shutil.rmtree(dest)
    files = module_files(root)
    for package in DEV_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                files[str(path.relative_to(root))] = path
    for rel, source in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(source)
        stub = source.with_suffix(".pyi")
        if stub.exists():
            target.with_suffix(".pyi").symlink_to(stub)
    return dest


_PATH_IN_OUTPUT = re.compile(r"^([\w./-]+\.py)(?=:)", re.M)


def real_paths(output: str, view: Path, root: Path = ROOT) -> str:
    """Rewrite ``inferwatch/logger/x.py:3: …`` lines of a tool's output to the real ``logger/x.py``."""

    def fix(m: re.Match[str]) -> str:
        link = view / m.group(1)
        if not link.is_symlink():
            return m.group(1)
        try:
            return str(link.resolve().relative_to(root))
        except ValueError:
            return m.group(1)

    return _PATH_IN_OUTPUT.sub(fix, output)
