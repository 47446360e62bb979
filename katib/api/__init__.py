"""Katib v1beta1 gRPC API (package ``api.v1.beta1``): our proto and its generated stubs.

Import ``katib.api.api_pb2`` / ``katib.api.api_pb2_grpc`` directly; this package does not
import them eagerly so ``python -m katib.api.generate`` works before they exist.
"""
