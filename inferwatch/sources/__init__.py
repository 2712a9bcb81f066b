"""Reading what was written: consumer-group sources (the read side of ``inferwatch.sinks``).

I/O layer: services (the detector's Kafka mode, the consumers) build on these; they know nothing of detectors.
"""
