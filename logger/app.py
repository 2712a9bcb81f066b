"""``create_app(settings, service)``: the logger's ASGI app for its mode, and its admin app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from inferwatch.guard import Guarded
from inferwatch.logger.proxy import ProxyApp
from inferwatch.logger.receiver import create_receiver_app
from inferwatch.logger.service import LoggerService
from inferwatch.web import create_admin_app


def create_app(service: LoggerService) -> Any:
    """Proxy mode when an upstream is configured, else the CloudEvents receiver; either behind the transport
    limits of ``service.guard``."""
    if service.settings.mode == "proxy":
        return Guarded(ProxyApp(service), service.guard)
    return Guarded(create_receiver_app(service), service.guard)


def create_logger_admin_app(service: LoggerService) -> FastAPI:
    return create_admin_app("inferwatch logger", service.registry, service.probes)
