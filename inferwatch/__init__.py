"""inferwatch: monitoring and explainability for deployed ML models.

The shared core lives here: records, protocol codecs, sinks, delivery, settings, errors, metrics
and the ``inferwatch`` command line. Services (``logger``, ``detectors``, ``explainers``,
``consumers``) import from it and never re-declare what it owns.
"""

__version__ = "0.1.0"
