"""Conversions between the protobuf messages of `ocr.proto` and the Python-side types."""

from __future__ import annotations

from collections.abc import Sequence

from creativelens.ocr_service.failures import OcrFailure
from creativelens.ocr_service.generated import ocr_pb2
from creativelens.ocr_service.options import RecognitionOptions
from creativelens.ocr_service.results import Box, Line, OcrResult, Timings, Word

_THRESHOLDING_TO_PROTO = {
    "otsu": ocr_pb2.THRESHOLDING_OTSU,
    "leptonica_otsu": ocr_pb2.THRESHOLDING_LEPTONICA_OTSU,
    "sauvola": ocr_pb2.THRESHOLDING_SAUVOLA,
}
_THRESHOLDING_FROM_PROTO = {value: name for name, value in _THRESHOLDING_TO_PROTO.items()}
_EXCLUSION_TO_PROTO = {"mask": ocr_pb2.EXCLUSION_MASK, "drop": ocr_pb2.EXCLUSION_DROP_WORDS}
_EXCLUSION_FROM_PROTO = {value: name for name, value in _EXCLUSION_TO_PROTO.items()}


def box_to_proto(box: Box) -> ocr_pb2.Box:
    x1, y1, x2, y2 = (int(v) for v in box)
    return ocr_pb2.Box(x1=x1, y1=y1, x2=x2, y2=y2)


def box_from_proto(box: ocr_pb2.Box) -> Box:
    return (box.x1, box.y1, box.x2, box.y2)


def options_to_proto(
    language: str | None = None,
    page_segmentation_mode: int | None = None,
    thresholding: str | None = None,
    exclusion_mode: str | None = None,
) -> ocr_pb2.Options:
    """Unset (None) fields stay at the proto's zero value, which means 'the server's default';
    a value that cannot be sent (psm 0 would read as 'default', an unknown name) is OcrFailure
    INVALID_ARGUMENT here instead of silently becoming the default."""
    if page_segmentation_mode is not None and page_segmentation_mode <= 0:
        raise OcrFailure("INVALID_ARGUMENT", f"page segmentation mode {page_segmentation_mode} is not "
                                             f"supported (use 1 or 3-13)")
    for what, value, known in (("thresholding", thresholding, _THRESHOLDING_TO_PROTO),
                               ("exclusion mode", exclusion_mode, _EXCLUSION_TO_PROTO)):
        if value is not None and value not in known:
            raise OcrFailure("INVALID_ARGUMENT", f"{what} {value!r} is not one of {tuple(known)}")
    message = ocr_pb2.Options(language=language or "", page_segmentation_mode=page_segmentation_mode or 0)
    if thresholding is not None:
        message.thresholding = _THRESHOLDING_TO_PROTO[thresholding]
    if exclusion_mode is not None:
        message.exclusion_mode = _EXCLUSION_TO_PROTO[exclusion_mode]
    return message


def options_from_proto(message: ocr_pb2.Options, defaults: RecognitionOptions) -> RecognitionOptions:
    return RecognitionOptions(
        language=message.language or defaults.language,
        page_segmentation_mode=message.page_segmentation_mode or defaults.page_segmentation_mode,
        # 0 is 'unset'; any other unknown number stays visible so that check() refuses it
        thresholding=(_THRESHOLDING_FROM_PROTO.get(message.thresholding, f"unknown value {message.thresholding}")
                      if message.thresholding else defaults.thresholding),
        exclusion_mode=(_EXCLUSION_FROM_PROTO.get(message.exclusion_mode, f"unknown value {message.exclusion_mode}")
                        if message.exclusion_mode else defaults.exclusion_mode),
    )


def request_to_proto(
    image: bytes, exclusion_boxes: Sequence[Box], options: ocr_pb2.Options, request_id: str = ""
) -> ocr_pb2.RecognizeRequest:
    return ocr_pb2.RecognizeRequest(
        request_id=request_id,
        image=image,
        exclusion_boxes=[box_to_proto(box) for box in exclusion_boxes],
        options=options,
    )


def result_to_proto(result: OcrResult) -> ocr_pb2.RecognizeResponse:
    t = result.timings
    return ocr_pb2.RecognizeResponse(
        request_id=result.request_id,
        width=result.width,
        height=result.height,
        words=[
            ocr_pb2.Word(text=w.text, box=box_to_proto(w.box), confidence=w.confidence, line_index=w.line_index)
            for w in result.words
        ],
        lines=[
            ocr_pb2.Line(text=line.text, box=box_to_proto(line.box), confidence=line.confidence)
            for line in result.lines
        ],
        text=result.text,
        timings=ocr_pb2.Timings(
            queue_ms=t.queue_ms, decode_ms=t.decode_ms, exclusion_ms=t.exclusion_ms,
            recognize_ms=t.recognize_ms, total_ms=t.total_ms,
        ),
    )


def result_from_proto(message: ocr_pb2.RecognizeResponse) -> OcrResult:
    t = message.timings
    return OcrResult(
        width=message.width,
        height=message.height,
        words=[Word(w.text, box_from_proto(w.box), w.confidence, w.line_index) for w in message.words],
        lines=[Line(line.text, box_from_proto(line.box), line.confidence) for line in message.lines],
        text=message.text,
        timings=Timings(t.queue_ms, t.decode_ms, t.exclusion_ms, t.recognize_ms, t.total_ms),
        request_id=message.request_id,
    )
