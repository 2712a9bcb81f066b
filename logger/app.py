"""``create_app(settings, service)``: the logger's ASGI app for its mode, and its admin app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from inferwatch.logger.proxy import ProxyApp
from inferwatch.logger.receiver import create_receiver_app
from inferwatch.logger.service import LoggerService
from inferwatch.web import create_admin_app


def create_app(service: LoggerService) -> Any:
    """Proxy mode when an upstream is configured, else the CloudEvents receiver."""
    if service.settings.mode == "proxy":
        return ProxyApp(service)
    return create_receiver_app(service)


def create_logger_admin_app(service: LoggerService) -> FastAPI:
    return create_admin_app("inferwatch logger", service.registry, service.probes)
