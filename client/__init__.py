"""The streaming client: inputs → every model of a brand on Triton → rules → resumable sinks.

The run itself is `creativelens.client.stream.stream(inputs, servers, out_dir, RunSettings())`
(not re-exported here: the name is its module's); `RunSettings` says how it runs, for
`stream`, `spark`, `evaluate --server` and the benchmarks alike.

Heavy imports (tritonclient, pyarrow) stay inside the functions, so importing this is cheap.
"""

from creativelens.client.endpoints import Endpoints, parse_endpoints
from creativelens.client.ledger import Ledger, read_detections
from creativelens.client.pipeline import Analysed, Analysis
from creativelens.client.rules import ModelRules, Rules, load_rules
from creativelens.client.served_models import ServedModel, fetch_from_endpoints, fetch_served_models
from creativelens.client.settings import RunSettings, add_run_arguments, settings_from_args
from creativelens.client.sinks import MultiSink, Sink
from creativelens.client.sources import Finished, Item, items_of_file, iter_items
from creativelens.client.summary import Summary

__all__ = [
    "Analysed", "Analysis", "Endpoints", "Finished", "Item", "Ledger", "ModelRules", "MultiSink", "Rules",
    "RunSettings", "ServedModel", "Sink", "Summary", "add_run_arguments", "fetch_from_endpoints",
    "fetch_served_models", "items_of_file", "iter_items", "load_rules", "parse_endpoints", "read_detections",
    "settings_from_args",
]
