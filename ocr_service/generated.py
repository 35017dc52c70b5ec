"""The code protoc generates from `ocr.proto`, with a clear message when it was never built."""

try:
    from creativelens.ocr_service import ocr_pb2, ocr_pb2_grpc
except ImportError as missing:
    raise ImportError(
        "the OCR service's gRPC code has not been generated: run "
        "`python -m creativelens.ocr_service.build_protos` (scripts/setup.sh does it)"
    ) from missing

__all__ = ["ocr_pb2", "ocr_pb2_grpc"]
