"""Resolve Maven Central artifacts into a classpath, cached outside the work tree.

``resolve_classpath(["org.apache.kafka:kafka_2.13:4.1.0", ...], cache)`` writes a throwaway pom under
``cache/maven/<hash>/``, lets Maven fetch the artifacts and their dependencies into ``cache/m2`` and
returns the jar paths. A second call with the same coordinates reads the cached classpath file and
does not start Maven at all.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.inferwatch</groupId>
  <artifactId>devstack-{key}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""

_DEP = """    <dependency>
      <groupId>{g}</groupId>
      <artifactId>{a}</artifactId>
      <version>{v}</version>
    </dependency>"""


class MavenError(RuntimeError):
    """Maven could not resolve the artifacts; the message names the log file."""


def _pom(coords: Sequence[str], key: str) -> str:
    deps = []
    for c in coords:
        parts = c.split(":")
        if len(parts) != 3:
            raise ValueError(f"expected group:artifact:version, got {c!r}")
        deps.append(_DEP.format(g=parts[0], a=parts[1], v=parts[2]))
    return _POM.format(key=key, deps="\n".join(deps))


def resolve_classpath(coords: Sequence[str], cache: Path, *, timeout: float = 900.0) -> list[Path]:
    """Jar paths for ``coords`` and their runtime dependencies, downloading on first use."""
    key = hashlib.sha256("\n".join(sorted(coords)).encode()).hexdigest()[:16]
    work = cache / "maven" / key
    cp_file = work / "classpath.txt"
    if cp_file.exists():
        jars = [Path(p) for p in cp_file.read_text().strip().split(":") if p]
        if jars and all(j.exists() for j in jars):
            return jars
    work.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        from devstack.stack import ensure_commands  # the stack's apt helper; imported late, it imports us

        ensure_commands({"mvn": "maven"}, work / "apt.log")
        mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenError("Maven ('mvn') is not installed and apt-get could not install it: apt-get install -y maven")
    (work / "pom.xml").write_text(_pom(coords, key))
    log = work / "maven.log"
    tmp = work / "classpath.tmp"
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(work / "pom.xml"),
        f"-Dmaven.repo.local={cache / 'm2'}",
        f"{DEPENDENCY_PLUGIN}:build-classpath",
        f"-Dmdep.outputFile={tmp}",
        "-Dmdep.includeScope=runtime",
    ]
    with log.open("w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    if proc.returncode != 0 or not tmp.exists():
        raise MavenError(f"Maven failed to resolve {', '.join(coords)}; see {log}")
    tmp.replace(cp_file)
    return [Path(p) for p in cp_file.read_text().strip().split(":") if p]
