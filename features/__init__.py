"""`creativelens features`: from the results of `stream` or `spark` to one row per creative
(ABCD-style features), and with an impressions file to the marketing-mix modelling table.

Everything runs in DuckDB over the results' Parquet: no Python loop over rows.
"""

from creativelens.features.brand import Brand, load_brand
from creativelens.features.run import run_features
from creativelens.features.table import COLUMNS, build_features
from creativelens.features.thresholds import Thresholds

__all__ = ["Brand", "COLUMNS", "Thresholds", "build_features", "load_brand", "run_features"]
