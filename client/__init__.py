"""The streaming client: inputs → every model of a brand on Triton → rules → resumable sinks.

The run itself is `creativelens.client.stream.stream(inputs, servers, out_dir, StreamOptions())`
(not re-exported here: the name is its module's).

Heavy imports (tritonclient, pyarrow) stay inside the functions, so importing this is cheap.
"""

from creativelens.client.endpoints import Endpoints, parse_endpoints
from creativelens.client.ledger import Ledger, read_detections
from creativelens.client.pipeline import Analysed, Analysis, AnalysisOptions
from creativelens.client.rules import ModelRules, Rules, load_rules
from creativelens.client.served_models import ServedModel, fetch_from_endpoints, fetch_served_models
from creativelens.client.sources import Item, items_of_file, iter_items
from creativelens.client.stream import StreamOptions, Summary

__all__ = [
    "Analysed", "Analysis", "AnalysisOptions", "Endpoints", "Item", "Ledger", "ModelRules", "Rules", "ServedModel",
    "StreamOptions", "Summary", "fetch_from_endpoints", "fetch_served_models", "items_of_file", "iter_items",
    "load_rules", "parse_endpoints", "read_detections",
]
