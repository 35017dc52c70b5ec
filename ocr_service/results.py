"""What OCR returns for one image: words with boxes and confidences, lines, text, timings.

Engines produce words tagged with the line they belong to; `assemble` builds the lines and the
full text from the words that survive exclusion, so dropped words never leak into either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 pixels, Tesseract's order


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    confidence: float  # 0-100
    line_index: int


@dataclass(frozen=True)
class Line:
    text: str
    box: Box
    confidence: float


@dataclass
class Timings:
    queue_ms: float = 0.0
    decode_ms: float = 0.0
    exclusion_ms: float = 0.0
    recognize_ms: float = 0.0
    total_ms: float = 0.0


@dataclass
class OcrResult:
    width: int
    height: int
    words: list[Word]
    lines: list[Line]
    text: str
    timings: Timings = field(default_factory=Timings)
    request_id: str = ""


def union_box(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def assemble(width: int, height: int, words: list[Word]) -> OcrResult:
    """Group words (in reading order, tagged with any line key) into lines and full text.

    Line indices are renumbered densely, so a line whose words were all dropped disappears.
    """
    grouped: dict[int, list[Word]] = {}
    for word in words:
        grouped.setdefault(word.line_index, []).append(word)
    final_words, lines = [], []
    for new_index, line_words in enumerate(grouped.values()):
        lines.append(Line(
            text=" ".join(w.text for w in line_words),
            box=union_box([w.box for w in line_words]),
            confidence=sum(w.confidence for w in line_words) / len(line_words),
        ))
        final_words.extend(
            Word(w.text, w.box, w.confidence, new_index) for w in line_words
        )
    return OcrResult(width, height, final_words, lines, "\n".join(line.text for line in lines))
