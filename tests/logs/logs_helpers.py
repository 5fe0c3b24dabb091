"""Writers of access log lines in AWS's formats, with exactly known contents, for the reader tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.logs.alb import FIELDS

T0 = 1_709_294_400  # 2024-03-01T12:00:00Z


def iso_us(t_s: float) -> str:
    """``2024-03-01T12:00:00.123456Z`` for seconds since the epoch (rounded to µs)."""
    micros = round(t_s * 1e6)
    d = datetime.fromtimestamp(micros // 1_000_000, UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + f".{micros % 1_000_000:06d}Z"


def alb_fields(
    *,
    t_s: float = T0 + 0.25,
    client: str = "192.168.131.39:2817",
    target: str = "10.0.0.1:80",
    target_time: str = "0.005",
    elb_status: str = "200",
    received: str = "34",
    sent: str = "366",
    request: str = "GET https://www.example.com:443/api/items?id=1 HTTP/1.1",
    user_agent: str = "curl/7.46.0",
    conn: str = "TID_1234abcd",
    type_: str = "https",
) -> list[str]:
    """One ALB line's 33 fields as written (quoted ones with their quotes)."""
    q = '"{}"'.format
    return [
        type_,
        iso_us(t_s + 0.1),
        "app/my-loadbalancer/50dc6c495c0c9188",
        client,
        target,
        "0.000",
        target_time,
        "0.000",
        elb_status,
        elb_status,
        received,
        sent,
        q(request),
        q(user_agent),
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLSv1.2",
        "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067",
        q("Root=1-58337281-1d84f3d73c47ec4e58577259"),
        q("www.example.com"),
        q("arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012"),
        "1",
        iso_us(t_s),
        q("authenticate,forward"),
        q("-"),
        q("-"),
        q(target),
        q(elb_status),
        q("-"),
        q("-"),
        conn,
        q("-"),
        q("-"),
        q("-"),
    ]


def alb_line(n_fields: int = len(FIELDS), extra: Sequence[str] = (), **kw: Any) -> str:
    """An ALB line with its first ``n_fields`` fields and ``extra`` ones after them."""
    return " ".join([*alb_fields(**kw)[:n_fields], *extra])


def write(path: Path, lines: Iterable[str], gz: bool = False) -> Path:
    data = "".join(line + "\n" for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


CF_FIELDS = [
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
]


def cf_record(
    *,
    t_s: int = T0,
    sc_bytes: int = 2390,
    ip: str = "192.0.2.100",
    port: str = "62049",
    method: str = "GET",
    stem: str = "/index.html",
    status: str = "200",
    cs_bytes: str = "316",
    taken: str = "0.082",
) -> dict[str, str]:
    d = datetime.fromtimestamp(t_s, UTC)
    rec = dict.fromkeys(CF_FIELDS, "-")
    rec.update(
        {
            "date": d.strftime("%Y-%m-%d"),
            "time": d.strftime("%H:%M:%S"),
            "x-edge-location": "SEA19-C1",
            "sc-bytes": str(sc_bytes),
            "c-ip": ip,
            "cs-method": method,
            "cs(Host)": "d111111abcdef8.cloudfront.net",
            "cs-uri-stem": stem,
            "sc-status": status,
            "cs(User-Agent)": "Mozilla/5.0%20(Windows%20NT%2010.0)",
            "x-edge-result-type": "Hit",
            "cs-protocol": "https",
            "cs-bytes": cs_bytes,
            "time-taken": taken,
            "c-port": port,
        }
    )
    return rec


def cf_lines(records: Iterable[dict[str, str]], fields: Sequence[str] = CF_FIELDS) -> list[str]:
    out = ["#Version: 1.0", "#Fields: " + " ".join(fields)]
    out += ["\t".join(r[f] for f in fields) for r in records]
    return out


def apigw_line(**values: Any) -> str:
    return json.dumps(values)
