"""The packaged price book: provenance of every entry, loading errors, flat rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from pathlib import Path

import pytest

from sim.pricing import (
    DEFAULT_BOOK_ID,
    Price,
    PriceBook,
    PriceBookError,
    TieredPrice,
    UnknownRegionError,
    cache_hour_price,
    load_price_book,
    price_rows,
)
from sim.pricing.book import _default_book_path, packaged_book_path

CACHE_SIZES_GB = [0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237]


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return load_price_book()


def _entries(book: PriceBook) -> list[tuple[str, Price | TieredPrice]]:
    out: list[tuple[str, Price | TieredPrice]] = [
        (f"free_tier.{k}", Price(a.quantity, a.unit, a.source, a.retrieved, a.note))
        for k, a in book.free_tier.items()
    ]
    for region, prices in book.regions.items():
        for f in fields(prices):
            value = getattr(prices, f.name)
            if isinstance(value, Price | TieredPrice):
                out.append((f"{region}.{f.name}", value))
            elif f.name == "cache_hour_by_gb":
                out.extend((f"{region}.cache.{gb}", p) for gb, p in value.items())
            elif f.name == "cloudfront_plans":
                out.extend((f"{region}.{f.name}.{k}", p.fee) for k, p in value.items())
            elif f.name.startswith("cloudfront_"):
                out.extend((f"{region}.{f.name}.{k}", p) for k, p in value.items())
    return out


#: The book's only unverified entries: streamed-response bytes, whose usage type the pricing-page
#: data does not name (PRICING.md: "confirm the usage type before relying on it").
STREAMING = ("lambda_streaming_gb_x86", "lambda_streaming_gb_arm64")


def test_default_book(book: PriceBook) -> None:
    assert book.id == DEFAULT_BOOK_ID
    assert book.currency == "USD"
    assert dt.date.fromisoformat(book.retrieved)
    assert {"us-east-1", "eu-west-1", "ap-northeast-1"} <= set(book.regions)
    assert load_price_book(Path(str(_default_book_path()))) == book


def test_every_entry_has_a_source_and_a_date(book: PriceBook) -> None:
    entries = _entries(book)
    assert len(entries) > 11 * 14
    for name, entry in entries:
        assert entry.source.startswith("https://"), name
        if entry.retrieved != "undated":
            assert dt.date.fromisoformat(entry.retrieved) <= dt.date(2026, 12, 31), name
        else:  # the reshaped pricing-page data carries no date, and the entry says so
            assert entry.note is not None and "no publication date" in entry.note, name
        assert entry.unit, name
        assert entry.note is None or entry.note.strip(), name
        if not name.startswith("free_tier.") and ".cloudfront_plans." not in name:
            assert entry.file, name  # read from a price file (the plans are in no price file)


def test_us_east_1_is_verified_but_streaming(book: PriceBook) -> None:
    for name, entry in _entries(book):
        if name.startswith("us-east-1.") and name.split(".")[1] not in STREAMING:
            assert entry.verified, name


def test_no_entry_is_unverified_and_the_older_book_says_where_it_was(book: PriceBook) -> None:
    unverified = {name for name, entry in _entries(book) if not entry.verified}
    assert unverified == {f"{r}.{s}" for r in book.regions for s in STREAMING}
    older = load_price_book(packaged_book_path("aws-2025-11"))
    unverified = [name for name, entry in _entries(older) if not entry.verified]
    # the 2025-11 book's stand-in values outside us-east-1 each say so in their note
    assert unverified
    assert not any(name.startswith("us-east-1.") for name in unverified)


def test_every_region_sells_the_same_cache_sizes(book: PriceBook) -> None:
    for prices in book.regions.values():
        assert sorted(prices.cache_hour_by_gb) == CACHE_SIZES_GB
        for size in CACHE_SIZES_GB:
            assert cache_hour_price(prices, size).value > 0


def test_unsold_cache_size_lists_the_sold_ones(book: PriceBook) -> None:
    with pytest.raises(ValueError, match=r"0\.5, 1\.6, 6\.1, 13\.5, 28\.4, 58\.2, 118, 237"):
        cache_hour_price(book.region("us-east-1"), 2.0)


def test_free_tier_quantities(book: PriceBook) -> None:
    for prices in book.regions.values():
        assert prices.free_tier["rest_requests"].quantity == 1_000_000
        assert prices.free_tier["http_requests"].quantity == 1_000_000
        assert prices.free_tier["websocket_messages"].quantity == 1_000_000
        assert prices.free_tier["websocket_connection_minutes"].quantity == 750_000
        assert prices.free_tier["lambda_requests"].quantity == 1_000_000
        assert prices.free_tier["lambda_gb_seconds"].quantity == 400_000
        assert prices.free_tier["data_transfer_gb"].quantity == 100
        assert prices.free_tier["alb_hours"].quantity == 750
        assert prices.free_tier["alb_lcu_hours"].quantity == 15
        always = {k for k, a in prices.free_tier.items() if a.offer == "always_free"}
        assert always == {
            "lambda_requests",
            "lambda_gb_seconds",
            "data_transfer_gb",
            "lambda_streaming_gb",
            "cloudfront_requests",
            "cloudfront_data_transfer_gb",
        }
        assert prices.free_tier["cloudfront_requests"].quantity == 10_000_000
        assert prices.free_tier["cloudfront_data_transfer_gb"].quantity == 1024


def test_unknown_region_lists_the_known_ones(book: PriceBook) -> None:
    with pytest.raises(UnknownRegionError) as info:
        book.region("mars-north-1")
    message = str(info.value)
    assert "mars-north-1" in message
    for region in book.regions:
        assert region in message
    assert isinstance(info.value, ValueError)


def _book_text() -> str:
    return _default_book_path().read_text(encoding="utf-8")


def _drop_line(text: str, table: str, key: str) -> str:
    start = text.index(f"[{table}]")
    line_start = text.index(f"\n{key} = ", start) + 1
    line_end = text.index("\n", line_start) + 1
    return text[:line_start] + text[line_end:]


def test_missing_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(_drop_line(_book_text(), 'regions."eu-west-1".alb_hour', "source"))
    with pytest.raises(PriceBookError) as info:
        load_price_book(path)
    assert str(path) in str(info.value)
    assert 'regions."eu-west-1".alb_hour.source' in str(info.value)


def test_missing_entry_names_the_file_and_the_key(tmp_path: Path) -> None:
    text = _book_text().replace(
        '[regions."ap-northeast-1".lambda_requests]', '[regions."ap-northeast-1".lambda_request]'
    )
    path = tmp_path / "renamed.toml"
    path.write_text(text)
    with pytest.raises(
        PriceBookError,
        match=r'unknown entry.*lambda_requests.*regions\."ap-northeast-1"\.lambda_request$',
    ):
        load_price_book(path)


def test_a_price_the_book_lacks_refuses_the_options_that_need_it(tmp_path: Path) -> None:
    from conftest import scenario_with

    from sim.pricing.book import MissingPriceError, region_prices

    text = _book_text()
    start = text.index('[regions."ap-northeast-1".apigw_http_requests]')
    end = text.index("[regions.", start + 10)
    path = tmp_path / "lacking.toml"
    path.write_text(text[:start] + text[end:])
    book = load_price_book(path)  # a book may lack what its files lack
    assert book.region("ap-northeast-1").apigw_http_requests is None
    tokyo = ["scenario.region='ap-northeast-1'", f"pricing.book='{path}'"]
    with pytest.raises(MissingPriceError, match="apigw_http_requests for ap-northeast-1"):
        region_prices(book, scenario_with(*tokyo))
    # CloudFront in front of an HTTP API needs the HTTP API's price too
    with pytest.raises(MissingPriceError, match="apigw_http_requests"):
        region_prices(book, scenario_with(*tokyo, "apigateway.apis=['rest']"))
    no_http = ["apigateway.apis=['rest']", "cloudfront.origins=['alb', 'lambda_url', 'apigw_rest']"]
    assert region_prices(book, scenario_with(*tokyo, *no_http)).region == "ap-northeast-1"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("value = 0.0252", 'value = "0.0252"', 'regions."eu-west-1".alb_hour.value'),
        ("value = 0.0252", "value = -0.0252", 'regions."eu-west-1".alb_hour.value'),
        (
            "{ up_to = 333000000.0, value = 3.5e-06 },\n  { up_to = 1000000000.0, value = 3.19e-06 }",
            "{ up_to = 1000000000.0, value = 3.5e-06 },\n  { up_to = 333000000.0, value = 3.19e-06 }",
            'regions."eu-west-1".apigw_rest_requests.tiers',
        ),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    text = _book_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(PriceBookError) as info:
        load_price_book(path)
    assert str(path) in str(info.value)
    assert key in str(info.value)


def test_http_source_is_rejected(tmp_path: Path) -> None:
    text = _book_text().replace(
        'source = "https://aws.amazon.com/vpc/pricing/"', 'source = "http://aws.amazon.com/vpc/"', 1
    )
    path = tmp_path / "http.toml"
    path.write_text(text)
    with pytest.raises(PriceBookError, match="https"):
        load_price_book(path)


def test_unreadable_or_invalid_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PriceBookError, match=r"nope\.toml"):
        load_price_book(missing)
    invalid = tmp_path / "invalid.toml"
    invalid.write_text("id = [unclosed\n")
    with pytest.raises(PriceBookError, match=r"invalid\.toml"):
        load_price_book(str(invalid))


def test_price_rows(book: PriceBook) -> None:
    rows = price_rows(book)
    keys = {
        "region",
        "name",
        "tier",
        "up_to",
        "value",
        "unit",
        "source",
        "retrieved",
        "file",
        "note",
    }
    assert all(set(row) == keys for row in rows)
    assert all(str(row["source"]).startswith("https://") for row in rows)
    east = price_rows(book, "us-east-1")
    rest = [r for r in east if r["name"] == "apigw_rest_requests"]
    assert [(r["tier"], r["up_to"], r["value"]) for r in rest] == [
        ("1", 333e6, 3.5e-6),
        ("2", 1e9, 2.8e-6),
        ("3", 20e9, 2.38e-6),
        ("4", "", 1.51e-6),
    ]
    assert {r["region"] for r in east} == {"us-east-1", "(all)"}
    assert (
        len([r for r in east if r["name"] == "apigw_cache_hour" or r["name"] == "cache_hour_by_gb"])
        == 8
    )
    with pytest.raises(UnknownRegionError):
        price_rows(book, "nowhere-1")
