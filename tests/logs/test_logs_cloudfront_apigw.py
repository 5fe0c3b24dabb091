"""CloudFront standard logs (fields by the '#Fields:' header) and API Gateway JSON access logs
(numbers as strings, CloudWatch export lines, custom mappings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from logs_helpers import CF_FIELDS, T0, apigw_line, cf_lines, cf_record, write

from sim.errors import TraceError
from sim.logs import REQUEST_SCHEMA, read_access_logs


def test_cloudfront_full_fields(tmp_path: Path) -> None:
    recs = [cf_record(t_s=T0 + i, sc_bytes=100 + i, stem=f"/p{i}") for i in range(3)]
    recs[1]["cs-bytes"] = "-"
    recs[2]["sc-status"] = "000"
    table, report = read_access_logs(str(write(tmp_path / "cf.gz", cf_lines(recs), gz=True)))
    assert table.schema == REQUEST_SCHEMA and report.format == "cloudfront"
    rows = table.to_pylist()
    assert rows[0] == {
        "time_s": float(T0),
        "request_bytes": 316,
        "response_bytes": 100,
        "client": "192.0.2.100:62049",
        "route": "/p0",
        "method": "GET",
        "duration_ms": pytest.approx(82.0),
        "status": 200,
        "event_type": None,
        "whole_second": True,  # CloudFront logs the second only
    }
    assert [r["time_s"] for r in rows] == [T0, T0 + 1, T0 + 2]
    assert rows[1]["request_bytes"] is None and rows[2]["status"] == 0
    assert (report.lines, report.rows, report.malformed) == (3, 3, 0)


def test_cloudfront_other_order_without_c_port(tmp_path: Path) -> None:
    fields = ["sc-status", "time", "cs-uri-stem", "date", "sc-bytes", "c-ip", "time-taken"]
    recs = [cf_record(t_s=T0 + 60 * i, sc_bytes=10 * i, status="304") for i in range(1, 5)]
    table, _ = read_access_logs(str(write(tmp_path / "cf.log", cf_lines(recs, fields))))
    assert table["response_bytes"].to_pylist() == [10, 20, 30, 40]
    assert table["time_s"].to_pylist() == [T0 + 60.0 * i for i in range(1, 5)]
    assert table["client"].to_pylist() == [None] * 4
    assert table["request_bytes"].to_pylist() == [None] * 4
    assert set(table["status"].to_pylist()) == {304}


def test_cloudfront_missing_required_field(tmp_path: Path) -> None:
    fields = [f for f in CF_FIELDS if f != "sc-bytes"]
    p = write(tmp_path / "cf.log", cf_lines([cf_record()], fields))
    with pytest.raises(TraceError, match=r"lacks the field.*sc-bytes"):
        read_access_logs(str(p), "cloudfront")


def test_cloudfront_malformed_line_number_counts_header_lines(tmp_path: Path) -> None:
    lines = cf_lines(cf_record(sc_bytes=i) for i in range(10))
    lines[5] = lines[5].replace("\t2024-", "\t")  # not on line 6 anyway: cut a field
    lines[7] = "2024-03-01\tjunk"
    p = write(tmp_path / "cf.log", lines)
    with pytest.raises(TraceError) as info:
        read_access_logs(str(p))
    assert f"{p}:8:" in str(info.value) and "2 fields" in str(info.value)
    lines[7] = lines[8].replace("\t2390\t", "\tmany\t").replace(lines[8].split("\t")[3], "x", 1)
    p2 = write(tmp_path / "cf2.log", [*lines[:3], "#a comment", *lines[3:]])
    _, report = read_access_logs(str(p2), max_malformed_share=0.5)
    assert report.lines == 10 and report.malformed == 1
    assert report.first_malformed.line == 9
    assert report.first_malformed.reason.startswith("sc-bytes is not a whole number")


def _gw(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "requestId": "abc",
        "requestTimeEpoch": T0 * 1000 + 250,
        "httpMethod": "GET",
        "resourcePath": "/items/{id}",
        "status": 200,
        "responseLength": 1234,
        "integrationLatency": 12,
    }
    base.update(kw)
    return base


def test_apigw_numbers_strings_and_export_prefix(tmp_path: Path) -> None:
    lines = [
        apigw_line(**_gw()),
        apigw_line(**_gw(status="404", responseLength="-", integrationLatency="7.5")),
        "2024-03-01T12:00:01.000Z " + apigw_line(**_gw(requestTimeEpoch=str(T0 * 1000 + 1000))),
        apigw_line(**_gw(requestTimeEpoch=None, requestTime="01/Mar/2024:12:00:02 +0000")),
        json.dumps({"nested": {"status": 1, "x": [1, {"status": 2}]}, **_gw(status=201)}),
    ]
    table, report = read_access_logs(str(write(tmp_path / "gw.log", lines)))
    assert report.format == "apigw" and report.malformed == 0
    rows = table.to_pylist()
    assert rows[0] == {
        "time_s": pytest.approx(T0 + 0.25),
        "request_bytes": None,
        "response_bytes": 1234,
        "client": None,
        "route": "/items/{id}",
        "method": "GET",
        "duration_ms": 12.0,
        "status": 200,
        "event_type": None,
        "whole_second": False,  # requestTimeEpoch: milliseconds
    }
    assert (rows[1]["status"], rows[1]["response_bytes"], rows[1]["duration_ms"]) == (
        404,
        None,
        7.5,
    )
    assert [r["time_s"] for r in rows[2:4]] == [T0 + 1.0, T0 + 2.0]
    assert rows[4]["status"] == 201


def test_apigw_websocket_and_custom_mapping(tmp_path: Path) -> None:
    lines = [
        apigw_line(rt=str(T0 * 1000), eventType=e, connectionId="c1", routeKey=r, len=n, bytes=b)
        for e, r, n, b in [("CONNECT", "$connect", 0, 5), ("MESSAGE", "send", 40, "6")]
    ]
    fields = {"time_s": "rt", "request_bytes": "len", "response_bytes": "bytes", "status": ""}
    table, _ = read_access_logs(str(write(tmp_path / "ws.log", lines)), apigw_fields=fields)
    rows = table.to_pylist()
    assert [r["event_type"] for r in rows] == ["CONNECT", "MESSAGE"]
    assert [r["route"] for r in rows] == ["$connect", "send"]
    assert [r["client"] for r in rows] == ["c1", "c1"]
    assert [r["request_bytes"] for r in rows] == [0, 40]
    assert [r["response_bytes"] for r in rows] == [5, 6]
    with pytest.raises(TraceError, match="unknown column 'nope'"):
        read_access_logs(str(tmp_path / "ws.log"), apigw_fields={"nope": "x"})


def test_apigw_malformed_lines(tmp_path: Path) -> None:
    good = [apigw_line(**_gw(responseLength=i)) for i in range(1000)]
    good[99] = '{"requestTimeEpoch": 1, "status": }'
    good[899] = apigw_line(**_gw(requestTimeEpoch="soon"))
    p = write(tmp_path / "gw.log", good, gz=True)
    with pytest.raises(TraceError) as info:
        read_access_logs(str(p))
    assert f"{p}:100: malformed apigw access log line (not valid JSON: Invalid value.)" in str(
        info.value
    )
    table, report = read_access_logs(str(p), max_malformed_share=0.01)
    assert (report.lines, report.rows, report.malformed) == (1000, 998, 2)
    assert sum(table["response_bytes"].to_pylist()) == sum(range(1000)) - 99 - 899
