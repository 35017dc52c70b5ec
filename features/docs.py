"""The two tables of docs/features.md (columns; thresholds), generated from the definitions in
`table.COLUMNS`, `labels.LABEL_STATS` and `Thresholds`, so the docs cannot drift from the code
(tests/test_features.py compares them)."""

from __future__ import annotations

from creativelens.features.labels import LABEL_STATS
from creativelens.features.table import COLUMNS
from creativelens.features.thresholds import threshold_rows

FORMATS = {"any": "every row", "all": "static, video", "video": "video (null for stills)"}
LABEL_MEANINGS = {
    "present": "a box of the label (score >= `score`)",
    "count": "boxes of the label (video: the most on one frame)",
    "max_share": "the largest box's share of the frame",
    "mean_share": "mean share of the frame over all its boxes",
    "largest_cx": "centre x of the largest box, 0 (left) .. 1 (right)",
    "largest_cy": "centre y of the largest box, 0 (top) .. 1 (bottom)",
    "first_s": "time of the first sampled frame with the label",
    "seconds": "seconds on screen: each sampled frame stands for the time to the next (as `screen_time.parquet`)",
    "share_of_spot": "seconds / the spot's sampled length",
    "first_5s": "on a frame sampled before `opening_s`",
    "appearances": "tracks of the label in `tracks.parquet` (null where the results have no tracks: Spark)",
}


def columns_markdown() -> str:
    lines = ["| column | formats | definition | source |", "|---|---|---|---|"]
    lines += [f"| `{name}` | {FORMATS[formats]} | {meaning} | {source} |" for name, formats, _, meaning, source in COLUMNS]
    lines += [f"| `label_<key>_{stat}` | {FORMATS[formats if formats == 'video' else 'all']} | {LABEL_MEANINGS[stat]} | "
              f"results `detections`{' + tracks' if stat == 'appearances' else ''} |"
              for stat, (_, _, formats) in LABEL_STATS.items()]
    return "\n".join(lines)


def thresholds_markdown() -> str:
    lines = ["| threshold | flag | default | unit | meaning | source |", "|---|---|---|---|---|---|"]
    lines += [f"| `{r['name']}` | `{r['flag']}` | {r['default']} | {r['unit']} | {r['meaning']} | {r['source']} |"
              for r in threshold_rows()]
    return "\n".join(lines)
