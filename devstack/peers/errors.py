"""Errors raised while building peer venvs or running peer model servers."""

from __future__ import annotations

from inferwatch.errors import InferwatchError


class PeerError(InferwatchError):
    """A peer venv could not be built or a peer server did not start; the message names the log file."""

    status_code = 503
