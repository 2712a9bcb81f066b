"""Background delivery of records to sinks (see ``pipeline``), with on-disk spools (``spool``)."""

from inferwatch.delivery.exchange_codec import decode_exchange, encode_exchange
from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.pipeline import DeliveryOptions, Pipeline
from inferwatch.delivery.spool import Spool, SpoolError, SpoolFull

__all__ = [
    "DeliveryMetrics",
    "DeliveryOptions",
    "Pipeline",
    "Spool",
    "SpoolError",
    "SpoolFull",
    "decode_exchange",
    "encode_exchange",
]
