"""What a price rule defines from the engine's facts: LCU dimensions, rule evaluations, GB-seconds,
WebSocket message units with the server's messages.

The engine records facts only (:mod:`sim.meters`); these columns follow from the facts and the
pricing settings (``alb.target_type``, ``alb.rules_processed``, ``alb.mutual_tls``,
``backend.memory_mb``, ``apigateway.websocket.server_messages_per_request``), so re-pricing a stored
run under other settings recomputes them exactly as a fresh run would. ``meters.parquet`` carries
them next to the facts; :func:`facts_only` drops them again.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from sim.pricing import alb
from sim.pricing.lambda_ import gb_seconds

if TYPE_CHECKING:
    from sim.config import Scenario

LCU_DIMENSIONS = alb.LCU_DIMENSIONS

#: Derived columns independent of the paths: name -> (unit, description).
DERIVED_COLUMNS: dict[str, tuple[str, str]] = {
    "processed_bytes": ("bytes", "bytes the ALB processes: requests + responses sent to clients"),
    "rule_evaluations": ("evaluations", "requests × max(0, alb.rules_processed − 10)"),
    "lcu_new_connections": ("LCU", "new connections per second / 25"),
    "lcu_active_connections": ("LCU", "active connections / 3000 (1500 with mutual TLS)"),
    "lcu_processed_bytes": ("LCU", "processed GB (10^9 bytes) / 1 (0.4 for Lambda targets)"),
    "lcu_rule_evaluations": ("LCU", "rule evaluations per second / 1000"),
    "lcu": ("LCU", "max of the four dimensions: the LCU-hours billed"),
    "lcu_dominant": ("name", "dimension that sets lcu"),
    "websocket_message_units": (
        "units",
        "WebSocket 32 KB units: client messages + server_messages_per_request × server units",
    ),
}
#: Derived when an ALB is compared behind CloudFront: its LCUs on what reaches it.
EDGE_DERIVED: dict[str, tuple[str, str]] = {
    "edge_processed_bytes": (
        "bytes",
        "bytes an ALB behind CloudFront processes: forwarded requests + the function's responses",
    ),
    **{
        f"edge_lcu_{d}": ("LCU", f"{d.replace('_', ' ')} LCUs of an ALB behind CloudFront")
        for d in alb.LCU_DIMENSIONS
    },
    "edge_lcu": ("LCU", "LCU-hours billed to an ALB behind CloudFront (max of its four)"),
}

#: Derived per path: ``<path>_gb_seconds``.
PATH_DERIVED: dict[str, tuple[str, str]] = {
    "gb_seconds": ("GB-s", "billed ms / 1000 × backend.memory_mb / 1024"),
}


def path_names(facts: pa.Table) -> list[str]:
    """The paths a meter table holds facts for (from its ``<path>_invocations`` columns)."""
    return [
        c.removesuffix("_invocations") for c in facts.column_names if c.endswith("_invocations")
    ]


def derived_names(facts: pa.Table) -> list[str]:
    """Every derived column for the paths of ``facts``, in file order (WebSocket units only where
    the run metered a WebSocket API)."""
    websocket = "gateway_ws_client_units" in facts.column_names
    static = [c for c in DERIVED_COLUMNS if websocket or c != "websocket_message_units"]
    edge = list(EDGE_DERIVED) if "edge_new_connections" in facts.column_names else []
    return [*static, *edge, *(f"{p}_{n}" for p in path_names(facts) for n in PATH_DERIVED)]


def facts_only(meters: pa.Table) -> pa.Table:
    """``meters`` without its derived columns (what the engine recorded)."""
    derived = set(derived_names(meters))
    return meters.select([c for c in meters.column_names if c not in derived])


def _col(table: pa.Table, name: str) -> Any:
    return np.asarray(table.column(name).to_numpy(), dtype=np.float64)


def _lcu(
    scenario: Scenario,
    new_connections: Any,
    active_connections: Any,
    processed_bytes: Any,
    requests: Any,
) -> Any:
    """The four LCU dimensions per hour, stacked in :data:`LCU_DIMENSIONS` order."""
    settings = scenario.alb
    dims = {
        "new_connections": alb.lcu_new_connections(new_connections),
        "active_connections": alb.lcu_active_connections(
            active_connections, mutual_tls=settings.mutual_tls
        ),
        "processed_bytes": alb.lcu_processed_bytes(
            processed_bytes, lambda_target=settings.target_type == "lambda"
        ),
        "rule_evaluations": alb.lcu_rule_evaluations(requests, settings.rules_processed),
    }
    return np.vstack([np.asarray(dims[d], dtype=float) for d in LCU_DIMENSIONS])


def derive_columns(meters: pa.Table, scenario: Scenario) -> pa.Table:
    """The facts of ``meters`` with every derived column (re)computed under ``scenario``'s pricing
    settings, appended after the facts."""
    facts = facts_only(meters)
    settings = scenario.alb
    requests = _col(facts, "requests")
    processed = _col(facts, "request_bytes") + _col(facts, "direct_response_bytes")
    stacked = _lcu(
        scenario, _col(facts, "new_connections"), _col(facts, "active_connections"), processed,
        requests,
    )  # fmt: skip
    extra_rules = max(0, settings.rules_processed - alb.FREE_RULES)
    server = scenario.apigateway.websocket.server_messages_per_request
    columns: dict[str, Any] = {
        "processed_bytes": processed.astype(np.int64),
        "rule_evaluations": (requests * extra_rules).astype(np.int64),
        **{f"lcu_{d}": stacked[i] for i, d in enumerate(LCU_DIMENSIONS)},
        "lcu": stacked.max(axis=0),
        "lcu_dominant": np.array(LCU_DIMENSIONS)[stacked.argmax(axis=0)]
        if facts.num_rows
        else np.array([], dtype=str),
    }
    if "gateway_ws_client_units" in facts.column_names:
        columns["websocket_message_units"] = _col(facts, "gateway_ws_client_units") + server * _col(
            facts, "gateway_ws_server_units"
        )
    if "edge_new_connections" in facts.column_names:
        # the function's responses on the ALB's path behind CloudFront (its hits never reach it)
        path = "edge_direct" if "edge_direct_invocations" in facts.column_names else "direct"
        origin_responses = _col(facts, f"{path}_response_bytes")
        if path == "edge_direct":
            origin_responses = origin_responses - _col(facts, "edge_hit_bytes")
        edge_processed = _col(facts, "edge_request_bytes") + origin_responses
        edge = _lcu(
            scenario, _col(facts, "edge_new_connections"), _col(facts, "edge_active_connections"),
            edge_processed, _col(facts, "edge_requests"),
        )  # fmt: skip
        columns["edge_processed_bytes"] = edge_processed.astype(np.int64)
        for i, d in enumerate(LCU_DIMENSIONS):
            columns[f"edge_lcu_{d}"] = edge[i]
        columns["edge_lcu"] = edge.max(axis=0)
    for p in path_names(facts):
        columns[f"{p}_gb_seconds"] = gb_seconds(
            scenario.backend.memory_mb, _col(facts, f"{p}_billed_ms")
        )
    arrays = [pa.array(v) for v in columns.values()]
    schema = pa.schema(
        [*facts.schema, *(pa.field(n, a.type) for n, a in zip(columns, arrays, strict=True))],
        metadata=facts.schema.metadata,
    )
    return pa.Table.from_arrays([*facts.columns, *arrays], schema=schema)


def documented_columns(paths: Iterable[str]) -> list[str]:
    """Derived column names for ``paths`` (for schema documentation)."""
    return [*DERIVED_COLUMNS, *(f"{p}_{n}" for p in paths for n in PATH_DERIVED)]
