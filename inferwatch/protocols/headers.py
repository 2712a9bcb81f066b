"""HTTP / Kafka header names and CloudEvents attribute names, declared once for the whole project.

HTTP names are lower-case (compare them against lower-cased or case-insensitive header maps). Sources:
Seldon Core v1 executor (``executor/api/payload/metadata.go``, ``executor/logger/worker.go``) and KServe's
logger (``pkg/logger/worker.go``).
"""

from __future__ import annotations

# request ids: declared with the rules that use them in ``inferwatch.ids``
from inferwatch.ids import CE_ID as CE_ID
from inferwatch.ids import CE_REQUEST_ID as CE_REQUEST_ID
from inferwatch.ids import REQUEST_ID_HEADERS as REQUEST_ID_HEADERS
from inferwatch.ids import SELDON_PUID as SELDON_PUID
from inferwatch.ids import X_REQUEST_ID as X_REQUEST_ID

#: ``Seldon-Skip-Logging: true`` on a request: do not log it (the explainer sets it on its own calls).
SKIP_LOGGING = "seldon-skip-logging"

CONTENT_TYPE = "content-type"
CONTENT_ENCODING = "content-encoding"
JSON_CONTENT_TYPE = "application/json"

# CloudEvents HTTP binding
CE_PREFIX = "ce-"
CE_SOURCE = "ce-source"
CE_TYPE = "ce-type"
CE_SPECVERSION = "ce-specversion"
CE_SUBJECT = "ce-subject"
CE_TIME = "ce-time"
CLOUDEVENTS_JSON = "application/cloudevents+json"
CLOUDEVENTS_BATCH_JSON = "application/cloudevents-batch+json"

# CloudEvents extension attributes (lower-case, no prefix) set by Seldon's executor and KServe's logger
EXT_REQUEST_ID = "requestid"  # Seldon: the pairing key of request and response events
EXT_MODEL_ID = "modelid"  # Seldon
EXT_INFERENCE_SERVICE_NAME = "inferenceservicename"  # Seldon: the SeldonDeployment; KServe: the isvc
EXT_NAMESPACE = "namespace"
EXT_ENDPOINT = "endpoint"  # Seldon: the predictor name; KServe: default/canary
EXT_PROTOCOL = "protocol"  # Seldon: seldon | tensorflow | v2 | kfserving
EXT_COMPONENT = "component"  # KServe: predictor / transformer / explainer
EXT_METADATA = "metadata"  # KServe: JSON object of logged request headers (name -> list of values)
EXT_ANNOTATIONS = "annotations"  # KServe: JSON object
EXT_RECORDED_TIME = "recordedtime"  # KServe

CE_MODEL_ID = CE_PREFIX + EXT_MODEL_ID
CE_INFERENCE_SERVICE_NAME = CE_PREFIX + EXT_INFERENCE_SERVICE_NAME
CE_NAMESPACE = CE_PREFIX + EXT_NAMESPACE
CE_ENDPOINT = CE_PREFIX + EXT_ENDPOINT
CE_PROTOCOL = CE_PREFIX + EXT_PROTOCOL
CE_COMPONENT = CE_PREFIX + EXT_COMPONENT
CE_METADATA = CE_PREFIX + EXT_METADATA

# Seldon executor's Kafka logger: raw payload as the value, these as Kafka headers (plus the EXT_* names)
KAFKA_TYPE = "type"
KAFKA_CONTENT_TYPE = "content-type"

#: Kafka ``type`` header of an inferwatch record (request and response paired in one JSON message). Not
#: Seldon's ``io.seldon.serving.inference.request|response``: those promise the raw half-payload as the value,
#: and a consumer written for them would misread a paired record.
KAFKA_RECORD_TYPE = "io.inferwatch.inference.record"
