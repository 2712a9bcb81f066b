"""``inferwatch.logger.upstream.UpstreamPool`` against scripted HTTP/1.1 servers on loopback sockets.

Each server answers with exact bytes, so framing cases (length, chunked, close-delimited, 1xx) and
connection behaviour (keep-alive reuse, a stale pooled connection, refusal, slowness) are tested as a model
server would produce them on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from inferwatch.logger.upstream import HIGH_WATER, BrokenResponse, UpstreamPool
from tests.servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


class Server:
    """A loopback TCP server running ``handler`` per connection; counts connections, keeps requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request: head plus a content-length body; returns the raw bytes."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        raw = head + (await reader.readexactly(length) if length else b"")
        self.requests.append(raw)
        return raw


def answer(body: bytes, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
    while True:
        raw = await srv.read_request(reader)
        writer.write(answer(b"echo:" + raw.split(b"\r\n\r\n", 1)[1], extra=b"content-type: text/plain\r\n"))
        await writer.drain()


async def test_keep_alive_connection_is_reused_and_request_is_sent_as_given() -> None:
    async with Server(keep_alive) as srv:
        pool = UpstreamPool(srv.url + "/prefix", timeout=5)
        for i in range(3):
            resp = await pool.request("POST", b"/p?q=1", [(b"x-a", b"1")], b'{"i": %d}' % i)
            assert resp.status == 200 and resp.content_type == "text/plain"
            assert await resp.read() == b'echo:{"i": %d}' % i
            resp.release()
        await pool.close()
    assert srv.connections == 1
    head = srv.requests[0].split(b"\r\n\r\n")[0].split(b"\r\n")
    assert head[0] == b"POST /prefix/p?q=1 HTTP/1.1"
    assert f"host: 127.0.0.1:{srv.port}".encode() in head and b"x-a: 1" in head and b"content-length: 8" in head


async def test_stale_pooled_connection_is_retried_once_on_a_fresh_one() -> None:
    async def one_per_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(answer(b"ok"))  # keep-alive advertised, but the server closes right after
        await writer.drain()
        await asyncio.sleep(0.05)

    async with Server(one_per_connection) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        first = await pool.request("POST", b"/", [], b"1")
        assert await first.read() == b"ok"
        first.release()
        await asyncio.sleep(0.2)  # the server has closed the pooled connection by now
        second = await pool.request("POST", b"/", [], b"2")
        assert await second.read() == b"ok"
        second.release()
        await pool.close()
    assert srv.connections == 2 and len(srv.requests) == 2


async def test_connection_closed_before_answer_on_a_fresh_connection_is_not_retried() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)

    async with Server(hang_up) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        with pytest.raises(ConnectionError):
            await pool.request("POST", b"/", [], b"x")
        await pool.close()
    assert srv.connections == 1


async def test_refused_connection_raises_oserror() -> None:
    pool = UpstreamPool(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(OSError):
        await pool.request("GET", b"/", [], b"")


async def test_slow_model_times_out() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        await asyncio.sleep(5)

    async with Server(slow) as srv:
        pool = UpstreamPool(srv.url, timeout=0.3)
        with pytest.raises(TimeoutError):
            await pool.request("POST", b"/", [], b"x")
        await pool.close()


async def test_chunked_answer_is_streamed_in_order() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in (b"alpha", b"beta", b"gamma"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async with Server(chunked) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        resp = await pool.request("POST", b"/", [], b"x")
        assert resp.content_length is None
        got = [c async for c in resp.chunks()]
        resp.release()
        await pool.close()
    assert b"".join(got) == b"alphabetagamma" and len(got) >= 2


async def test_close_delimited_answer_ends_with_the_connection() -> None:
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nall of it")
        await writer.drain()

    async with Server(until_close) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        resp = await pool.request("GET", b"/", [], b"")
        assert await resp.read() == b"all of it"
        resp.release()
        await pool.close()


async def test_answer_cut_mid_body_raises_broken_response() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
        await writer.drain()

    async with Server(cut) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        resp = await pool.request("POST", b"/", [], b"x")
        with pytest.raises(BrokenResponse):
            await resp.read()
        resp.release()
        await pool.close()


async def test_informational_answer_is_skipped() -> None:
    async def cont(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + answer(b"final", b"201 Created"))
        await writer.drain()
        await asyncio.sleep(0.1)

    async with Server(cont) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        resp = await pool.request("POST", b"/", [(b"expect", b"100-continue")], b"x")
        assert resp.status == 201 and await resp.read() == b"final"
        resp.release()
        await pool.close()


async def test_large_answer_pauses_reading_and_arrives_whole() -> None:
    size = 4 * HIGH_WATER
    body = bytes(range(256)) * (size // 256)

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(answer(body))
        await writer.drain()

    async with Server(big) as srv:
        pool = UpstreamPool(srv.url, timeout=10)
        resp = await pool.request("GET", b"/", [], b"")
        await asyncio.sleep(0.3)  # let the body pile up: reading must pause near HIGH_WATER
        assert resp._buffered <= HIGH_WATER + 256 * 1024
        got = bytearray()
        async for chunk in resp.chunks():
            got += chunk
        resp.release()
        await pool.close()
    assert bytes(got) == body


async def test_garbage_from_the_model_is_a_broken_response() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, srv: Server) -> None:
        await srv.read_request(reader)
        writer.write(b"this is not http\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)

    async with Server(garbage) as srv:
        pool = UpstreamPool(srv.url, timeout=5)
        with pytest.raises(ConnectionError):
            await pool.request("GET", b"/", [], b"")
        await pool.close()


def test_only_plain_http_urls() -> None:
    with pytest.raises(ValueError):
        UpstreamPool("https://127.0.0.1:1", timeout=1)
