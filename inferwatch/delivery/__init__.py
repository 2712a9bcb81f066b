"""Background delivery of records to sinks (see ``pipeline``)."""

from inferwatch.delivery.metrics import DeliveryMetrics
from inferwatch.delivery.pipeline import DeliveryOptions, Pipeline

__all__ = ["DeliveryMetrics", "DeliveryOptions", "Pipeline"]
