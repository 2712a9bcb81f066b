"""The upstream model servers the benchmark proxies to, run as their own process.

``python -m bench.logger.upstream minimal --port P``: a raw ASGI app that reads the body and answers a fixed
Seldon v1 response (the cheapest possible model, so proxy overhead dominates).
``python -m bench.logger.upstream iris --port P``: the project's example iris server
(``inferwatch.demo.model_server``), a real scikit-learn prediction per request.
Both are served by uvicorn with uvloop and httptools, one worker, on 127.0.0.1.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]

RESPONSE = (
    b'{"data":{"names":["t:0","t:1","t:2"],"ndarray":[[0.97,0.02,0.01]]},'
    b'"meta":{"requestPath":{"model":"bench/minimal:1"}}}'
)
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(RESPONSE)).encode())]


async def minimal_app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Read the whole request body, answer ``RESPONSE`` (health checks get it too)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False) and msg["type"] != "http.disconnect"
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": RESPONSE})


def build_app(kind: str) -> Any:
    """The ASGI app for ``kind`` (``minimal`` or ``iris``)."""
    if kind == "minimal":
        return minimal_app
    from inferwatch.demo.model_server import create_model_app, train_iris

    return create_model_app(train_iris())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Serve a benchmark upstream model on 127.0.0.1.")
    p.add_argument("kind", choices=("minimal", "iris"))
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    uvicorn.run(
        build_app(args.kind),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="auto",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
