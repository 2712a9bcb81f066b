"""The Open Inference Protocol (V2) gRPC messages, generated from the official ``.proto``.

``open_inference_grpc.proto`` is kserve/open-inference-protocol's
``specification/protocol/open_inference_grpc.proto`` (commit ``d49cc23``, Apache-2.0, its licence header kept),
package ``inference``. ``open_inference_grpc_pb2.py``/``.pyi`` are generated from it (message classes only, no
gRPC stubs) by ``python -m devstack.protos`` and committed: importing them needs only the ``protobuf`` runtime
(>= 5.29, the ``kafka`` extra). Do not edit them; ``tests/devstack/test_protos.py`` fails when they drift.

The messages register as ``inference.*`` in protobuf's process-wide descriptor pool, as MLServer's and Triton's
own copies of the same protocol do: a process importing one of those as well fails with a duplicate-symbol error.
"""
