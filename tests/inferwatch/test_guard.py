"""The transport limits of ``inferwatch.guard`` on a real uvicorn server, driven over raw sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI, Request

from inferwatch.guard import Guarded, HttpGuard
from inferwatch.limits import HttpLimits
from inferwatch.metrics import new_registry, rejected_counter
from inferwatch.web import install_error_handler
from tests.servers import serving

LIMITS = HttpLimits(body_bytes=1000, header_bytes=4096, header_count=20, header_timeout=0.5, body_timeout=0.5)


class Served:
    def __init__(self, url: str, registry: object) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.registry = registry

    def rejected(self, limit: str) -> float:
        return self.registry.get_sample_value("inferwatch_http_rejected_total", {"limit": limit}) or 0.0  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    app = FastAPI()
    install_error_handler(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    registry = new_registry()
    with serving(Guarded(app, HttpGuard(LIMITS, rejected_counter(registry)))) as url:
        yield Served(url, registry)


def exchange(port: int, *parts: bytes, pause: float = 0.0, wait: float = 3.0) -> bytes:
    """Send ``parts`` (``pause`` seconds apart), then read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        for part in parts:
            s.sendall(part)
            time.sleep(pause)
        s.settimeout(wait)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def status_and_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), orjson.loads(body)["error"]


def test_a_good_request_passes(served: Served) -> None:
    assert httpx.post(f"{served.url}/echo", content=b"x" * 1000).json() == {"size": 1000}


def test_headers_sent_too_slowly_are_answered_408_and_the_connection_closed(served: Served) -> None:
    before = served.rejected("read_timeout")
    started = time.monotonic()
    answer = exchange(served.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n", b"X-A: 1\r\n", pause=0.3)
    assert time.monotonic() - started < 2.5  # closed by the server, not by our read timeout
    status, error = status_and_error(answer)
    assert status == 408 and "--header-timeout" in str(error["message"])
    assert served.rejected("read_timeout") == before + 1


def test_a_connection_that_sends_nothing_is_closed(served: Served) -> None:
    started = time.monotonic()
    assert exchange(served.port) == b""
    assert time.monotonic() - started < 2.5


def test_a_body_sent_too_slowly_is_answered_408_and_the_connection_closed(served: Served) -> None:
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    started = time.monotonic()
    answer = exchange(served.port, head, b"x" * 10, b"x" * 10, pause=0.4)
    assert time.monotonic() - started < 2.5
    status, error = status_and_error(answer)
    assert status == 408 and "--body-timeout" in str(error["message"])
    assert error["details"] == {"limit": "read_timeout"}


def test_too_many_headers_are_answered_431(served: Served) -> None:
    before = served.rejected("header_count")
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    status, error = status_and_error(exchange(served.port, b"GET /echo HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"))
    assert status == 431 and "--max-header-count" in str(error["message"])
    assert served.rejected("header_count") == before + 1


@pytest.mark.parametrize("pieces", [1, 64])
def test_a_header_too_large_is_answered_431_even_when_it_arrives_in_pieces(served: Served, pieces: int) -> None:
    value = b"v" * (1 << 20)
    step = len(value) // pieces
    parts = [b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: "] + [value[i : i + step] for i in range(0, len(value), step)]
    with socket.create_connection(("127.0.0.1", served.port)) as s:
        s.settimeout(3)
        try:
            for part in parts:
                s.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while we were still sending
        answer = s.recv(65536)
    status, error = status_and_error(answer)
    assert status == 431 and "--max-header-bytes" in str(error["message"])


def test_a_body_over_the_limit_is_answered_413_before_it_is_read(served: Served) -> None:
    before = served.rejected("body_bytes")
    r = httpx.post(f"{served.url}/echo", content=b"x" * 1001)
    assert r.status_code == 413 and r.headers["connection"] == "close"
    assert r.json()["error"] == {
        "type": "LimitExceeded",
        "message": "request body is larger than 1000 bytes (--max-body-bytes)",
        "details": {"limit": "body_bytes"},
    }

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 100

    r = httpx.post(f"{served.url}/echo", content=chunks())
    assert r.status_code == 413 and r.json()["error"]["details"] == {"limit": "body_bytes"}
    assert served.rejected("body_bytes") == before + 2
