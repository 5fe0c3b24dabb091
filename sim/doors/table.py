"""The feature table of every door (PRICING.md, "What each front door can do"), from the registry:
``sim options`` prints it, and the README's copy is checked against it."""

from __future__ import annotations

from typing import Any

from sim.doors.base import Door, Features

#: Row label -> how a door's features fill the cell.
ROWS: dict[str, str] = {
    "waf": "AWS WAF",
    "api_keys": "API keys, usage plans, per-client throttling",
    "cache": "response cache",
    "private": "private (VPC-only) endpoint",
    "mutual_tls": "mutual TLS",
    "custom_domain": "custom domain",
    "jwt_auth": "JWT / OIDC auth",
    "websocket": "WebSocket connections",
    "max_response_bytes": "response limit",
    "timeout_s": "timeout",
}


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n / 2**10:g} KB"


def cell(features: Features, key: str) -> str:
    """One cell: yes/no (or the value) and, in brackets, how."""
    note = features.notes.get(key, "")
    if note.startswith("the origin's"):
        return "origin's" + note.removeprefix("the origin's")
    if key == "max_response_bytes":
        value = _size(features.max_response_bytes)
    elif key == "timeout_s":
        value = f"{features.timeout_s:g} s"
    elif key == "cache":
        value = f"yes ({features.cache})" if features.cache else "no"
    else:
        value = "yes" if getattr(features, key) else "no"
    return f"{value}: {note}" if note else value


def feature_table(doors: dict[str, Door] | None = None) -> list[dict[str, Any]]:
    """Rows ``{"feature": label, <door name>: cell, ...}`` in registry order."""
    if doors is None:
        from sim.doors import DOORS

        doors = DOORS
    return [
        {"feature": label, **{name: cell(d.features, key) for name, d in doors.items()}}
        for key, label in ROWS.items()
    ]


def markdown(doors: dict[str, Door] | None = None) -> str:
    """The table as Markdown (columns: the doors' titles)."""
    if doors is None:
        from sim.doors import DOORS

        doors = DOORS
    head = "| feature | " + " | ".join(d.title for d in doors.values()) + " |"
    rule = "|---" * (len(doors) + 1) + "|"
    rows = [
        "| " + " | ".join(str(r[k]) for k in ("feature", *doors)) + " |"
        for r in feature_table(doors)
    ]
    return "\n".join([head, rule, *rows])
