"""nginx (Debian package) as the reference reverse proxy: a config written under the benchmark's work dir.

One worker, no daemon, no master process, loopback only, HTTP/1.1 keep-alive to the upstream, access log
off (a pure proxy: the strictest baseline for the logger), every temp path and the pid file in the dir.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATE = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000;
    upstream model {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://model;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    """Path of the nginx binary (``/usr/sbin`` is not always on PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FileNotFoundError("nginx is not installed (apt-get install -y --no-install-recommends nginx)")
    return found


def write_config(directory: Path, port: int, upstream_port: int) -> Path:
    """Write ``nginx.conf`` for a proxy on ``port`` in front of ``127.0.0.1:upstream_port``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(TEMPLATE.format(dir=directory, port=port, upstream_port=upstream_port))
    return conf


def command(directory: Path, conf: Path) -> list[str]:
    """The argv that runs nginx in the foreground with ``conf``."""
    return [nginx_binary(), "-p", str(directory), "-e", str(directory / "error.log"), "-c", str(conf)]
