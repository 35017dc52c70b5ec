"""`creativelens report`: a results folder (stream's or Spark's, + features, + an evaluation) as a
static HTML report that works offline: every creative with its boxes, text, tracks and features.

Modules: `inputs` reads a results folder without changing it · `images` thumbnails and view
images · `drawing` model colours and pre-drawn boxes (supervision) · `features_table` the
features folder, read generically · `evaluation_view` TP / FP / misses on the labelled images ·
`build` writes the report · `templates/` the page, its script and style.
"""

from creativelens.report.build import ReportSummary, build_report
from creativelens.report.inputs import ResultsFolder, read_results

__all__ = ["ReportSummary", "ResultsFolder", "build_report", "read_results"]
