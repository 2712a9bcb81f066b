"""Compile the dev stack's small Java launchers with a given JDK, cached by content hash."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from devstack.stack import DevstackError


class LauncherBuildError(DevstackError):
    """``javac`` could not compile a dev-stack Java launcher; the message names the log file."""


def compile_java(sources: Path, classpath: Sequence[Path], out_root: Path, java_home: Path) -> Path:
    """Compile every ``*.java`` under ``sources`` into ``out_root/<hash>/classes``; return that directory.

    The hash covers the sources' paths and contents, the classpath and the JDK, so an unchanged launcher
    is never recompiled. The output directory appears atomically: concurrent callers are safe.
    """
    files = sorted(sources.rglob("*.java"))
    if not files:
        raise LauncherBuildError(f"no Java sources under {sources}")
    digest = hashlib.sha256(str(java_home).encode())
    for f in files:
        digest.update(str(f.relative_to(sources)).encode() + b"\0" + f.read_bytes() + b"\0")
    digest.update(":".join(str(p) for p in classpath).encode())
    target = out_root / digest.hexdigest()[:16]
    if (target / "classes").is_dir():
        return target / "classes"
    out_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_root))
    log = work / "javac.log"
    cmd = [
        str(java_home / "bin" / "javac"),
        "-nowarn",
        "-encoding",
        "UTF-8",
        "-d",
        str(work / "classes"),
        "-cp",
        ":".join(str(p) for p in classpath),
        *(str(f) for f in files),
    ]
    with log.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=300)
    if proc.returncode != 0:
        kept = out_root / f"{target.name}.javac.log"
        shutil.copyfile(log, kept)
        shutil.rmtree(work, ignore_errors=True)
        raise LauncherBuildError(f"javac failed to compile {sources}; see {kept}")
    try:
        work.rename(target)
    except OSError:  # another process finished the same build first
        shutil.rmtree(work, ignore_errors=True)
    return target / "classes"
