"""ALB access logs: every field as ALB writes it, old and newer lines, escapes, gzip, malformed lines
(counted with their line numbers; too many: a TraceError naming file and line)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from logs_helpers import T0, alb_line, write

from sim.errors import TraceError
from sim.logs import REQUEST_SCHEMA, read_access_logs
from sim.logs.alb import FIELDS, MIN_FIELDS


def read(path: Path, **kw: object) -> tuple[list[dict[str, object]], object]:
    table, report = read_access_logs(str(path), "alb", **kw)  # type: ignore[arg-type]
    assert table.schema == REQUEST_SCHEMA
    return table.to_pylist(), report


def test_a_full_line_maps_every_column(tmp_path: Path) -> None:
    rows, report = read(write(tmp_path / "a.log", [alb_line()]))
    assert rows == [
        {
            "time_s": pytest.approx(T0 + 0.25, abs=1e-6),
            "request_bytes": 34,
            "response_bytes": 366,
            "client": "TID_1234abcd",
            "route": "/api/items",
            "method": "GET",
            "duration_ms": pytest.approx(5.0),
            "status": 200,
            "event_type": None,
            "whole_second": False,
        }
    ]
    assert (report.lines, report.rows, report.malformed, report.format) == (1, 1, 0, "alb")
    assert report.first_malformed is None


def test_time_is_request_creation_time_to_the_microsecond(tmp_path: Path) -> None:
    rows, _ = read(write(tmp_path / "a.log", [alb_line(t_s=T0 + 0.123456)]))
    assert rows[0]["time_s"] == pytest.approx(T0 + 0.123456, abs=1e-6)


def test_dashes_and_minus_one_are_null_and_lambda_targets(tmp_path: Path) -> None:
    lines = [
        alb_line(target="-", target_time="-1", elb_status="-", conn="-"),
        alb_line(request="- http://www.example.com:80- -", target_time="0.000"),
    ]
    rows, report = read(write(tmp_path / "a.log", lines))
    assert report.malformed == 0
    assert rows[0]["duration_ms"] is None
    assert rows[0]["status"] is None
    assert rows[0]["client"] == "192.168.131.39:2817"  # conn_trace_id "-": client:port
    assert rows[1]["method"] is None and rows[1]["route"] is None
    assert rows[1]["duration_ms"] == 0.0


def test_quoted_fields_with_spaces_and_escaped_quotes(tmp_path: Path) -> None:
    lines = [
        alb_line(user_agent="Mozilla/5.0 (X11; Linux x86_64) \\x22quoted\\x22", sent="1"),
        alb_line(user_agent='a \\"b\\" c', sent="2"),
        alb_line(request='GET https://h:443/a\\"b?x=\\" HTTP/1.1', sent="3"),
        alb_line(request="POST https://h:443/p\\x22q HTTP/2.0", sent="4"),
    ]
    rows, report = read(write(tmp_path / "a.log", lines))
    assert report.malformed == 0
    assert [r["response_bytes"] for r in rows] == [1, 2, 3, 4]
    assert [r["route"] for r in rows] == ["/api/items", "/api/items", "/a\\x22b", "/p\\x22q"]
    assert rows[3]["method"] == "POST"


def test_old_lines_and_extra_trailing_fields(tmp_path: Path) -> None:
    lines = [
        alb_line(sent="1"),
        alb_line(MIN_FIELDS, sent="2"),  # ends at request_creation_time
        alb_line(29, sent="3"),  # ends before conn_trace_id
        alb_line(extra=["future", '"x y"'], sent="4"),
        alb_line(30, sent="5"),  # ends at conn_trace_id
    ]
    rows, report = read(write(tmp_path / "a.log", lines))
    assert (report.lines, report.rows, report.malformed) == (5, 5, 0)
    assert [r["response_bytes"] for r in rows] == [1, 2, 3, 4, 5]  # file order
    assert [r["client"] for r in rows] == [
        "TID_1234abcd",
        "192.168.131.39:2817",
        "192.168.131.39:2817",
        "TID_1234abcd",
        "TID_1234abcd",
    ]


def test_a_file_of_old_lines_only(tmp_path: Path) -> None:
    lines = [alb_line(29, sent=str(i)) for i in range(50)] + [alb_line(sent="99")]
    rows, report = read(write(tmp_path / "a.log", lines, gz=True))
    assert report.rows == 51
    assert sum(r["response_bytes"] for r in rows) == sum(range(50)) + 99
    assert rows[-1]["client"] == "TID_1234abcd"


def test_gzip_is_told_by_its_bytes_not_its_name(tmp_path: Path) -> None:
    lines = [alb_line(sent=str(i)) for i in range(10)]
    a = write(tmp_path / "plain.gz", lines)
    b = write(tmp_path / "packed.log", lines, gz=True)
    assert read(a)[0] == read(b)[0]


def test_blank_lines_are_not_counted(tmp_path: Path) -> None:
    p = tmp_path / "a.log"
    p.write_text("\n" + alb_line(sent="1") + "\n\n   \n" + alb_line(sent="2") + "\n\n")
    rows, report = read(p)
    assert (report.lines, report.rows) == (2, 2)
    assert [r["response_bytes"] for r in rows] == [1, 2]


def _lines_with_bad(n: int, bad: dict[int, str]) -> list[str]:
    return [bad.get(i, alb_line(sent=str(i))) for i in range(1, n + 1)]


def test_malformed_lines_are_counted_with_their_line_numbers(tmp_path: Path) -> None:
    bad = {
        700: "https 2024-03-01T12:00:00Z too few fields",
        1500: alb_line(sent="lots"),
        2500: alb_line(t_s=T0).replace(
            "2024-03-01T12:00:00.000000Z", "2024-02-30T12:00:00.000000Z"
        ),
    }
    p = write(tmp_path / "a.log", _lines_with_bad(3000, bad), gz=True)
    rows, report = read(p, max_malformed_share=0.01)
    assert (report.lines, report.rows, report.malformed) == (3000, 2997, 3)
    first = report.first_malformed
    assert (first.file, first.line) == (str(p), 700)
    assert first.text == bad[700]
    assert first.reason == "5 fields, an ALB access log line has at least 22"
    kept = [r["response_bytes"] for r in rows]
    assert sum(kept) == sum(range(1, 3001)) - 700 - 1500 - 2500


def test_a_bad_number_is_reported_with_its_line_and_text(tmp_path: Path) -> None:
    bad = {1234: alb_line(sent="12x")}
    p = write(tmp_path / "a.log", _lines_with_bad(2000, bad))
    _, report = read(p)
    first = report.first_malformed
    assert (first.line, first.text, report.malformed) == (1234, bad[1234][:200], 1)
    assert first.reason == "sent_bytes is not a whole number ≥ 0: '12x'"


def test_bad_dates_are_malformed(tmp_path: Path) -> None:
    line = alb_line(t_s=T0)
    bad = {5: line.replace("2024-03-01T12:00:00.000000Z", "2024-02-30T12:00:00.000000Z")}
    p = write(tmp_path / "a.log", _lines_with_bad(10, bad))
    with pytest.raises(TraceError) as info:
        read(p)
    msg = str(info.value)
    assert f"{p}:5:" in msg and "request_creation_time" in msg and "2024-02-30" in msg
    assert "1 of 10 lines (10.000%)" in msg
    _, report = read(p, max_malformed_share=0.5)
    assert report.malformed == 1 and report.first_malformed.line == 5


def test_too_many_malformed_lines_name_file_line_and_text(tmp_path: Path) -> None:
    bad = {3: "https garbage", 8: "https more garbage"}
    p = write(tmp_path / "a.log", _lines_with_bad(1000, bad), gz=True)
    with pytest.raises(TraceError) as info:
        read(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}:3: malformed alb access log line")
    assert "'https garbage'" in msg and "2 of 1,000 lines (0.200%)" in msg
    _, report = read(p, max_malformed_share=0.002)
    assert report.malformed == 2


def test_the_report_counts_a_tolerated_malformed_line(tmp_path: Path) -> None:
    bad = {1999: "https 1 2 3"}
    p = write(tmp_path / "a.log", _lines_with_bad(2000, bad))
    rows, report = read(p)
    assert (report.lines, report.rows, report.malformed) == (2000, 1999, 1)
    assert len(rows) == 1999


_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**9),  # µs after T0
            st.integers(0, 10**12),
            st.integers(0, 10**12),
            st.one_of(st.just("-1"), st.integers(0, 10**6).map(lambda ms: f"{ms / 1000:.3f}")),
            st.one_of(st.just("-"), st.integers(100, 599).map(str)),
            st.lists(st.text("abcxyz019-_.~%", min_size=1), min_size=1, max_size=4),
            st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
            st.sampled_from([MIN_FIELDS, 29, 30, len(FIELDS), len(FIELDS) + 2]),
            st.text(" ()/;.abc", max_size=20),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_generated_rows_round_trip(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    lines = []
    for us, rx, tx, tt, status, segments, method, n, ua in rows:
        path = "/" + "/".join(segments)
        lines.append(
            alb_line(
                n if n <= len(FIELDS) else len(FIELDS),
                extra=["x"] * (n - len(FIELDS)),
                t_s=T0 + us / 1e6,
                received=str(rx),
                sent=str(tx),
                target_time=tt,
                elb_status=status,
                request=f"{method} https://h.example.com:443{path}?q=1 HTTP/1.1",
                user_agent=ua,
            )
        )
    p = write(tmp_path_factory.mktemp("alb") / "a.log.gz", lines, gz=True)
    table, report = read_access_logs(str(p))
    assert report.format == "alb" and report.malformed == 0 and table.num_rows == len(rows)
    got = table.to_pylist()
    for g, (us, rx, tx, tt, status, segments, method, n, _) in zip(got, rows, strict=True):
        assert g["time_s"] == pytest.approx(T0 + us / 1e6, abs=1e-6)
        assert (g["request_bytes"], g["response_bytes"]) == (rx, tx)
        assert g["duration_ms"] == (None if tt == "-1" else pytest.approx(float(tt) * 1000))
        assert g["status"] == (None if status == "-" else int(status))
        assert (g["route"], g["method"]) == ("/" + "/".join(segments), method)
        assert g["client"] == ("TID_1234abcd" if n >= 30 else "192.168.131.39:2817")
    assert pc.sum(table["response_bytes"]).as_py() == sum(r[2] for r in rows)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "-0.5"])
def test_a_processing_time_that_is_not_a_duration_is_malformed(tmp_path: Path, value: str) -> None:
    """pyarrow parses 'nan', 'inf' and negatives as numbers: they are still no processing time
    (ALB's own marker -1 is, and becomes unknown)."""
    lines = [alb_line(t_s=T0 + i) for i in range(999)] + [alb_line(target_time=value)]
    lines.append(alb_line(target_time="-1"))
    path = write(tmp_path / "a.log", lines)
    table, report = read_access_logs(str(path), "alb", max_malformed_share=0.01)
    assert report.malformed == 1 and report.first_malformed is not None
    assert report.first_malformed.line == 1000
    assert "target_processing_time" in report.first_malformed.reason
    assert table.num_rows == 1000 and table.column("duration_ms").null_count == 1
