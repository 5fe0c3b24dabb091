"""Which files a path names (file, directory, glob; plain or gzip; hidden ones skipped), the order
they are read in, and format auto-detection."""

from __future__ import annotations

from pathlib import Path

import pytest
from logs_helpers import alb_line, apigw_line, cf_lines, cf_record, write

from sim.errors import TraceError
from sim.logs import read_access_logs


def _tree(root: Path) -> None:
    # written in shuffled order; read sorted by path
    write(root / "b" / "2.log.gz", [alb_line(sent=str(i)) for i in (5, 6)], gz=True)
    write(root / "a.log", [alb_line(sent="1")])
    write(root / "b" / "1.log", [alb_line(sent=str(i)) for i in (3, 4)])
    write(root / "a2.log.gz", [alb_line(sent="2")], gz=True)
    write(root / ".hidden.log", [alb_line(sent="100")])
    write(root / ".git" / "x.log", [alb_line(sent="200")])


def test_directory_recursive_sorted_hidden_skipped(tmp_path: Path) -> None:
    _tree(tmp_path)
    table, report = read_access_logs(str(tmp_path))
    assert table["response_bytes"].to_pylist() == [1, 2, 3, 4, 5, 6]
    assert report.files == tuple(
        str(tmp_path / f) for f in ("a.log", "a2.log.gz", "b/1.log", "b/2.log.gz")
    )
    assert (report.lines, report.rows) == (6, 6)


def test_globs(tmp_path: Path) -> None:
    _tree(tmp_path)
    table, _ = read_access_logs(str(tmp_path / "**" / "*.gz"))
    assert table["response_bytes"].to_pylist() == [2, 5, 6]
    table, _ = read_access_logs(str(tmp_path / "a?.log*"))
    assert table["response_bytes"].to_pylist() == [2]


def test_no_match_names_the_path(tmp_path: Path) -> None:
    for path in (tmp_path / "none.log", tmp_path / "*.nothing"):
        with pytest.raises(TraceError, match=str(path).replace("*", r"\*")):
            read_access_logs(str(path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TraceError, match="no log files"):
        read_access_logs(str(tmp_path / "empty"))


def test_auto_detection(tmp_path: Path) -> None:
    assert read_access_logs(str(write(tmp_path / "a", ["", alb_line()])))[1].format == "alb"
    cf = write(tmp_path / "c", cf_lines([cf_record()]), gz=True)
    assert read_access_logs(str(cf))[1].format == "cloudfront"
    gw = write(tmp_path / "g", [apigw_line(requestTimeEpoch=1, status=200)])
    assert read_access_logs(str(gw))[1].format == "apigw"
    bad = write(tmp_path / "x.log", ["GET /index.html 200"])
    with pytest.raises(
        TraceError, match=r"x\.log: cannot tell the access log format.*expected an ALB"
    ):
        read_access_logs(str(bad))
    with pytest.raises(TraceError, match="unknown access log format 'elb'"):
        read_access_logs(str(bad), "elb")


def test_empty_and_wrong_format_files(tmp_path: Path) -> None:
    empty = write(tmp_path / "e.log", [""])
    with pytest.raises(TraceError, match=r"e\.log: is empty"):
        read_access_logs(str(empty))
    with pytest.raises(TraceError, match="no alb access log lines"):
        read_access_logs(str(empty), "alb")
    cf = write(tmp_path / "c.log", cf_lines([cf_record()]))
    with pytest.raises(TraceError, match=r"c\.log:1: malformed alb"):
        read_access_logs(str(cf), "alb")
    corrupt = tmp_path / "z.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(TraceError, match=r"z\.gz: cannot read"):
        read_access_logs(str(corrupt), "alb")
