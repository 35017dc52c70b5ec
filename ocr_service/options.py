"""How to recognise: language, page segmentation, thresholding, exclusion mode — with defaults."""

from __future__ import annotations

from dataclasses import dataclass

# Tesseract's `thresholding_method` values.
THRESHOLDING_METHODS = {"otsu": 0, "leptonica_otsu": 1, "sauvola": 2}
EXCLUSION_MODES = ("mask", "drop")
# --psm 0 is orientation detection only and 2 is not implemented by Tesseract: neither reads text.
PAGE_SEGMENTATION_MODES = (1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)


@dataclass(frozen=True)
class RecognitionOptions:
    language: str = "eng"
    page_segmentation_mode: int = 3
    thresholding: str = "sauvola"
    exclusion_mode: str = "mask"

    def check(self, available_languages: set[str]) -> None:
        """Raise ValueError, with a message for the caller, when an option cannot be honoured."""
        wanted = [part for part in self.language.split("+") if part]
        missing = [part for part in wanted if part not in available_languages]
        if not wanted or missing:
            raise ValueError(
                f"language {self.language!r} is not installed; available: "
                f"{', '.join(sorted(available_languages))}"
            )
        if self.page_segmentation_mode not in PAGE_SEGMENTATION_MODES:
            raise ValueError(
                f"page segmentation mode {self.page_segmentation_mode} is not one of "
                f"{PAGE_SEGMENTATION_MODES}"
            )
        if self.thresholding not in THRESHOLDING_METHODS:
            raise ValueError(f"thresholding {self.thresholding!r} is not one of {tuple(THRESHOLDING_METHODS)}")
        if self.exclusion_mode not in EXCLUSION_MODES:
            raise ValueError(f"exclusion mode {self.exclusion_mode!r} is not one of {EXCLUSION_MODES}")
