"""CreativeLens: ad-creative analysis served through Triton.

The pipeline, by folder: export/ -> model_repository/ -> serve/ -> client/ (sinks, OCR via
ocr_service/) -> benchmarks/. This package holds what they all share: the `Detections` domain
type, its conversions to other formats, the canvas geometry and the command line.
"""

__version__ = "0.1.0"
