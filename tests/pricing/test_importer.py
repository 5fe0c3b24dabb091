"""``sim prices import``: AWS's own price files in, a sourced price book out.

The fixtures are gzipped copies of the real files in ``../shared/pricelist/`` (their origins in
``tests/fixtures/pricelist/README.md``); the packaged book must be exactly what importing them gives.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.pricing.book import (
    DEFAULT_BOOK_ID,
    diff_books,
    load_price_book,
    packaged_book_path,
)
from sim.pricing.importer import (
    PriceFileError,
    build_book,
    make_book,
    read_price_file,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pricelist"
BOOK_FILES = [
    "bulk-api/AWSELB-us-east-1.json.gz",
    "bulk-api/AWSELB-us-east-1.csv.gz",
    "bulk-api/AmazonApiGateway-eu-west-2.csv.gz",
    "bulk-api/AWSLambda-eu-west-2.slice.csv.gz",
    "bulk-api/AWSDataTransfer-eu-west-2.slice.csv.gz",
    "bulk-api/AWSLambda-us-east-1.slice.json.gz",
    "pricing-page/2025-06/elb.json.gz",
    "pricing-page/2025-06/datatransfer.processed.json.gz",
    "pricing-page/2025-06/vpc.processed.json.gz",
    "pricing-page/2025-06/apigateway.json.gz",
    "pricing-page/2025-06/lambda.json.gz",
    "pricing-page/2025-06/cloudfront.json.gz",
    "pricing-page/2025-06/waf.json.gz",
    "pricing-page/2025-10/apigateway.json.gz",
    "pricing-page/2025-10/lambda.json.gz",
    "pricing-page/2025-10/vpc.json.gz",
    "pricing-page/2025-10/cloudfront.json.gz",
    "pricing-page/2025-10/waf.json.gz",
]
REGIONS = [
    "us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2",
    "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "sa-east-1",
]  # fmt: skip


@pytest.fixture(scope="module")
def imported() -> tuple[str, object]:
    return make_book([FIXTURES / f for f in BOOK_FILES], regions=REGIONS, root=FIXTURES)


def test_the_packaged_book_is_what_the_real_files_give(imported: tuple[str, object]) -> None:
    text, draft = imported
    assert draft.missing == {}  # type: ignore[attr-defined]
    assert draft.id == DEFAULT_BOOK_ID  # type: ignore[attr-defined]
    assert packaged_book_path(DEFAULT_BOOK_ID).read_text(encoding="utf-8") == text


def _tiers(region: str, name: str) -> list[float]:
    prices = load_price_book().region(region)
    return [t.price * 1e6 for t in getattr(prices, name).tiers]


def test_the_regional_numbers_are_the_files_not_us_east_1() -> None:
    """The values the price files' README lists, from the files (per million where so quoted)."""
    assert _tiers("ap-northeast-1", "apigw_rest_requests") == pytest.approx(
        [4.25, 3.53, 3.00, 1.91]
    )
    assert _tiers("ap-northeast-1", "apigw_http_requests") == pytest.approx([1.29, 1.18])
    assert _tiers("ap-northeast-1", "apigw_websocket_messages") == pytest.approx([1.26, 1.06])
    tokyo = load_price_book().region("ap-northeast-1")
    assert tokyo.apigw_websocket_connection_minutes.value * 1e6 == pytest.approx(0.315)
    assert min(p.value for p in tokyo.cache_hour_by_gb.values()) == 0.028
    assert tokyo.cache_hour_by_gb[237].value == 4.40
    assert _tiers("eu-west-1", "apigw_rest_requests")[1:] == pytest.approx([3.19, 2.71, 1.72])
    assert _tiers("eu-west-1", "apigw_http_requests") == pytest.approx([1.11, 1.00])
    dto = [t.price for t in tokyo.data_transfer_out.tiers]
    assert dto == [0.114, 0.089, 0.086, 0.084]
    seoul = load_price_book().region("ap-northeast-2")
    assert [t.price for t in seoul.data_transfer_out.tiers] == [0.126, 0.122, 0.117, 0.108]
    east = load_price_book().region("us-east-1")
    assert east.alb_trust_store_hour.value == 0.005
    assert east.alb_lcu_hour.value == 0.008  # not the Outposts $0 nor the reserved LCU


def test_no_region_falls_back_to_another(imported: tuple[str, object]) -> None:
    _, draft = imported
    for region, items in draft.regions.items():  # type: ignore[attr-defined]
        for item, quotes in items.items():
            assert {q.region for q in quotes} == {region}, (region, item)


def test_bulk_json_and_csv_agree_and_decoys_are_kept_apart() -> None:
    as_json = read_price_file(FIXTURES / "bulk-api/AWSELB-us-east-1.json.gz")
    as_csv = read_price_file(FIXTURES / "bulk-api/AWSELB-us-east-1.csv.gz")
    got = {(q.item, q.price) for q in as_json}
    assert got == {("alb_hour", 0.0225), ("alb_lcu_hour", 0.008), ("alb_trust_store_hour", 0.005)}
    assert {(q.item, q.price) for q in as_csv} == got
    assert {q.version for q in as_json} == {"20260911124544"}
    assert {q.published for q in as_json} == {"2026-09-11"}


def test_cache_sizes_are_matched_to_the_sizes_sold() -> None:
    quotes = read_price_file(FIXTURES / "bulk-api/AmazonApiGateway-eu-west-2.csv.gz")
    sizes = sorted(q.size_gb for q in quotes if q.item == "apigw_cache_hour")
    assert sizes == [0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237]  # 1.55GB and 6.05GB usage types
    rest = sorted((q.tier, q.price) for q in quotes if q.item == "apigw_rest_requests")
    assert rest == [(0, 3.5e-6), (1, 3.33e-6), (2, 2.83e-6), (3, 1.8e-6)]


def test_the_newest_file_wins() -> None:
    files = [
        FIXTURES / f
        for f in (
            "pricing-page/2025-06/apigateway.json.gz",
            "bulk-api/AmazonApiGateway-eu-west-2.csv.gz",
        )
    ]
    draft = build_book([q for f in files for q in read_price_file(f)], ["eu-west-2"])
    assert draft.regions["eu-west-2"]["apigw_rest_requests"][0].published == "2026-08-31"


def test_what_the_files_lack_is_listed_and_the_command_says_so(tmp_path: Path) -> None:
    out = tmp_path / "elb.toml"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "prices", "import",
         str(FIXTURES / "bulk-api/AWSELB-us-east-1.json.gz"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1
    assert "missing from the files: us-east-1: public_ipv4_hour, apigw_rest_requests" in r.stderr
    assert out.is_file()  # what the files hold is written; the rest is listed, never guessed


def test_a_file_of_no_known_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="offer index"):
        read_price_file(FIXTURES / "bulk-api/offer-index-2025-06-18.json.gz")
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps([1, 2]))
    r = subprocess.run(
        [sys.executable, "-m", "sim", "prices", "import", str(bad), "--out", str(tmp_path / "b.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "x.json" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "b.toml").exists()


def test_prices_diff_shows_what_changed() -> None:
    old = load_price_book(packaged_book_path("aws-2025-11"))
    new = load_price_book()
    rows = diff_books(old, new, "ap-northeast-1")
    rest = {r["tier"]: r for r in rows if r["name"] == "apigw_rest_requests"}
    assert rest["1"]["a"] == "3.5e-06" and rest["1"]["b"] == "4.25e-06"
    assert rest["1"]["change"] == "+21.4%"
    r = subprocess.run(
        [sys.executable, "-m", "sim", "prices", "diff", "aws-2025-11", DEFAULT_BOOK_ID, "--region",
         "ap-northeast-2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and "data_transfer_out" in r.stdout


def test_an_unverified_price_is_refused_or_warned(tmp_path: Path) -> None:
    text = packaged_book_path(DEFAULT_BOOK_ID).read_text(encoding="utf-8")
    marker = '[regions."eu-west-1".alb_hour]\n'
    assert marker in text
    book = tmp_path / "book.toml"
    book.write_text(text.replace(marker, marker + 'note = "unverified: a stand-in for the test"\n'))
    base = ["--set", "scenario.region='eu-west-1'", "--set", f"pricing.book='{book}'", "--set",
            "scenario.duration_days=0.0416666666666666667", "--no-plots", "-q"]  # fmt: skip
    seed = str(Path(__file__).resolve().parents[2] / "configs" / "seed.toml")
    r = subprocess.run([sys.executable, "-m", "sim", "run", seed, *base, "--out", str(tmp_path / "a")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "unverified" in r.stderr and "alb_hour" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "sim", "run", seed, *base, "--set", "pricing.allow_unverified=true",
         "--out", str(tmp_path / "b")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "warning: alb alb_hours: unverified price" in r.stderr
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert any("alb_hours" in w for w in summary["warnings"])
