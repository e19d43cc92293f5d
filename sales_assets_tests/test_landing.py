"""The landing zone (contract section 4): every format, several files a day, bad files and folders.

The reading tests run twice through the `zone` fixture: on a local folder and on an S3 prefix
of a real S3-compatible server, with the same bytes and the same expected rows and messages."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest

from sales_assets.sources.landing import DayNotArrivedError, LandingError, landing_day
from sales_assets.transforms import apply_cleaning_rules

from .helpers import day_dir, rows, write
from .landing_zones import Zone

DAY = date(2024, 3, 1)
V1 = ["order_id", "order_ts", "product", "region", "quantity", "unit_price", "customer_id"]


def test_every_format_several_files_v1_and_v2_mixed_extra_columns_kept(zone: Zone):
    zone.put_frame("2024-03-01/a.csv", rows("csv", 3, store_id=["s1", "s2", ""]))
    zone.put_frame("2024-03-01/b.csv.gz", rows("gz", 2, channel=["app", ""], discount=["0.1", ""]))
    zone.put_frame("2024-03-01/c.parquet", rows("pq", 4, channel=["web"] * 4, discount=["0.2"] * 4))
    zone.put_frame("2024-03-01/d.jsonl", rows("js", 5))

    raw = landing_day(zone.location, DAY)

    assert len(raw) == 14
    assert raw.groupby("source_file")["source_row"].agg(list).to_dict() == {
        "2024-03-01/a.csv": [1, 2, 3],
        "2024-03-01/b.csv.gz": [1, 2],
        "2024-03-01/c.parquet": [1, 2, 3, 4],
        "2024-03-01/d.jsonl": [1, 2, 3, 4, 5],
    }
    assert raw["partition_date"].astype(str).unique().tolist() == ["2024-03-01"]
    # the extra column is kept as received; rows of files without it hold NULL
    assert raw.loc[raw["source_file"].str.endswith("a.csv"), "store_id"].tolist() == [
        "s1",
        "s2",
        "",
    ]
    assert raw.loc[~raw["source_file"].str.endswith("a.csv"), "store_id"].isna().all()
    assert all(
        str(t) == "string"
        for c, t in raw.dtypes.items()
        if c not in ("partition_date", "source_row")
    )

    cleaned, rejected = apply_cleaning_rules(raw, DAY)
    assert rejected.empty
    channels = cleaned.set_index("order_id")["channel"]
    discounts = cleaned.set_index("order_id")["discount"]
    assert channels[["csv-0", "gz-0", "gz-1", "pq-0", "js-0"]].tolist() == [
        "unknown",
        "app",
        "unknown",
        "web",
        "unknown",
    ]
    assert discounts[["csv-0", "gz-0", "gz-1", "pq-0"]].tolist() == [0.0, 0.1, 0.0, 0.2]
    assert cleaned["amount"].sum() == pytest.approx(2 * 10.5 * (3 + 0.9 + 1 + 4 * 0.8 + 5))


def test_typed_parquet_and_json_values_arrive_as_text(zone: Zone):
    """Files written by other tools carry numbers and timestamps; the rules still judge them."""
    typed = pd.DataFrame(
        {
            "order_id": ["p1", "p2"],
            "order_ts": pd.to_datetime(
                ["2024-03-01T10:00:00.0Z", "2024-03-01T23:59:59.5Z"], format="ISO8601"
            ),
            "product": ["phone", "phone"],
            "region": ["south", "south"],
            "quantity": [2, 3],
            "unit_price": [19.99, 5.0],
        }
    )
    zone.put_frame("2024-03-01/typed.parquet", typed)
    # JSON numbers beside a dirty string in the same key: a row problem, not a broken file.
    lines = [
        {
            "order_id": 17,
            "order_ts": "2024-03-01T10:00:00+01:00",
            "product": "mouse",
            "region": "east",
            "quantity": 2.0,
            "unit_price": 5,
        },
        {
            "order_id": "j2",
            "order_ts": "2024-03-01 11:00:00",
            "product": "mouse",
            "region": "east",
            "quantity": "two",
            "unit_price": 5,
        },
        {
            "order_id": "j3",
            "order_ts": "2024-03-01T12:00:00Z",
            "product": "mouse",
            "region": "east",
            "quantity": 1,
            "unit_price": 2.5,
            "discount": None,
        },
    ]
    zone.put("2024-03-01/typed.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())

    raw = landing_day(zone.location, DAY)
    assert raw.loc[raw["order_id"] == "17", "order_ts"].tolist() == [
        "2024-03-01T10:00:00+01:00"
    ]  # as received
    assert raw.loc[raw["order_id"] == "j2", "quantity"].tolist() == ["two"]

    cleaned, rejected = apply_cleaning_rules(raw, DAY)
    assert rejected[["order_id", "reject_reason"]].values.tolist() == [["j2", "invalid_quantity"]]
    got = cleaned.set_index("order_id")
    assert got.loc["17", "order_ts"] == pd.Timestamp("2024-03-01T09:00:00Z")
    assert got.loc["17", "quantity"] == 2
    assert got.loc["p1", "amount"] == 39.98
    assert got.loc["p2", "order_ts"] == pd.Timestamp("2024-03-01T23:59:59.5Z")


def test_csv_values_are_kept_exactly(zone: Zone):
    zone.put(
        "2024-03-01/quoted.csv",
        (
            "\ufefforder_id,order_ts,product,region,quantity,unit_price,customer_id\n"
            '007,2024-03-01T10:00:00Z,"tv, 55""",north,2.0,1e2,\n'
            "008,2024-03-01T10:00:00Z,radio,north,NA,null,N/A\n"
        ).encode(),
    )
    raw = landing_day(zone.location, DAY)
    assert raw[
        ["order_id", "product", "quantity", "unit_price", "customer_id"]
    ].values.tolist() == [
        ["007", 'tv, 55"', "2.0", "1e2", ""],
        ["008", "radio", "NA", "null", "N/A"],
    ]


def test_header_only_files_are_a_zero_sales_day(zone: Zone):
    zone.put_frame("2024-03-01/a.csv", rows("a", 0))
    zone.put_frame("2024-03-01/b.csv.gz", rows("b", 0))
    zone.put_frame("2024-03-01/c.parquet", rows("c", 0))
    raw = landing_day(zone.location, DAY)
    assert len(raw) == 0
    assert set(V1) <= set(raw.columns)


def test_markers_are_ignored(zone: Zone):
    zone.put_frame("2024-03-01/a.csv", rows("a", 2))
    zone.put("2024-03-01/_SUCCESS", b"")
    zone.put("2024-03-01/.DS_Store", b"\x00\x01binary")
    zone.put("2024-03-01/_orders.csv.partial", b"garbage")
    zone.put("2024-03-01/.hidden.csv", b"garbage")
    raw = landing_day(zone.location, DAY)
    assert raw["source_file"].unique().tolist() == ["2024-03-01/a.csv"]


def test_only_markers_is_a_zero_sales_day(zone: Zone):
    zone.put("2024-03-01/_SUCCESS", b"")
    assert len(landing_day(zone.location, DAY)) == 0


def test_an_empty_day_folder_is_a_zero_sales_day(zone: Zone):
    """Locally an empty folder; on S3 the `2024-03-01/` folder object a console creates."""
    zone.folder("2024-03-01")
    assert len(landing_day(zone.location, DAY)) == 0


@pytest.mark.parametrize(
    "name", ["orders.xlsx", "orders.txt", "orders.json", "orders.csv.bz2", "README"]
)
def test_unsupported_file_fails_naming_it(zone: Zone, name):
    zone.put_frame("2024-03-01/a.csv", rows("a", 2))
    zone.put(f"2024-03-01/{name}", b"x")
    message = re.escape(zone.name(f"2024-03-01/{name}")) + ": not a data file of a supported type"
    with pytest.raises(LandingError, match=message):
        landing_day(zone.location, DAY)


def test_a_sub_folder_fails_naming_it(zone: Zone):
    zone.put_frame("2024-03-01/a.csv", rows("a", 2))
    zone.put_frame("2024-03-01/more/b.csv", rows("b", 2))
    with pytest.raises(LandingError, match=re.escape(zone.name("2024-03-01/more")) + ": not a"):
        landing_day(zone.location, DAY)


def test_missing_day_folder_fails_naming_it(zone: Zone):
    zone.put_frame("2024-02-29/a.csv", rows("a", 2, day="2024-02-29"))
    zone.put_frame("2024-03-01.old/a.csv", rows("a", 2))
    with pytest.raises(DayNotArrivedError, match=re.escape(zone.name("2024-03-01")) + " does not"):
        landing_day(zone.location, DAY)


def test_a_link_to_nothing_fails_naming_it(tmp_path):
    zone = Zone.local(tmp_path / "landing")
    zone.put_frame("2024-03-01/a.csv", rows("a", 2))
    (tmp_path / "landing" / "2024-03-01" / "b.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(
        LandingError, match=re.escape(zone.name("2024-03-01/b.csv")) + ": a link to"
    ):
        landing_day(zone.location, DAY)


@pytest.mark.parametrize("name", ["a.csv", "a.csv.gz", "a.parquet", "a.jsonl"])
def test_missing_required_column_fails_naming_file_and_column(zone: Zone, name):
    zone.put_frame("2024-03-01/0.csv", rows("ok", 2))
    zone.put_frame(f"2024-03-01/{name}", rows("x", 2).drop(columns=["unit_price"]))
    message = re.escape(zone.name(f"2024-03-01/{name}")) + ": missing required column.*unit_price"
    with pytest.raises(LandingError, match=message):
        landing_day(zone.location, DAY)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.parquet", b"PAR1 this is not parquet"),
        ("a.csv.gz", b"not gzip at all"),
        ("a.jsonl", b'{"order_id": "1"}\n{broken\n'),
        ("a.csv", b""),
        ("a.csv", b"order_id,order_ts\n\xff\xfe\n"),
    ],
)
def test_unreadable_file_fails_naming_it(zone: Zone, name, content):
    zone.put(f"2024-03-01/{name}", content)
    with pytest.raises(LandingError, match=re.escape(zone.name(f"2024-03-01/{name}")) + ": "):
        landing_day(zone.location, DAY)


# -- through Dagster: the run fails, names the problem, and writes no metrics for the day ---------


def failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run should have failed"
    return "\n".join(e.step_failure_data.error.message for e in failures)


def test_bad_file_fails_the_run_and_keeps_the_day_as_it_was(pipeline, tmp_path):
    landing = tmp_path / "landing"
    folder = day_dir(landing)
    write(rows("a", 3), folder / "a.csv")
    pipeline.configure(landing_dir=landing)
    assert pipeline.run("2024-03-01").success
    before = {
        t: pipeline.count(t, "2024-03-01") for t in ("raw_sales", "cleaned_sales", "sales_metrics")
    }
    assert before == {"raw_sales": 3, "cleaned_sales": 3, "sales_metrics": 1}

    write(rows("b", 2).drop(columns=["region"]), folder / "b.parquet")
    result = pipeline.run("2024-03-01")

    assert not result.success
    message = failure_message(result)
    assert "b.parquet" in message and "region" in message and "2024-03-01" in message
    after = {
        t: pipeline.count(t, "2024-03-01") for t in ("raw_sales", "cleaned_sales", "sales_metrics")
    }
    assert after == before


def test_bad_file_on_a_new_day_writes_no_metrics(pipeline, tmp_path):
    landing = tmp_path / "landing"
    write(rows("a", 3), day_dir(landing, "2024-03-01") / "a.csv")
    write(rows("b", 2).drop(columns=["quantity"]), day_dir(landing, "2024-03-02") / "b.jsonl")
    pipeline.configure(landing_dir=landing)
    assert pipeline.run("2024-03-01").success
    result = pipeline.run("2024-03-02")
    assert not result.success
    assert "b.jsonl" in failure_message(result) and "quantity" in failure_message(result)
    assert pipeline.count("sales_metrics", "2024-03-02") == 0
    assert pipeline.count("raw_sales", "2024-03-02") == 0
    assert pipeline.count("sales_metrics", "2024-03-01") == 1


def test_missing_folder_fails_the_run_naming_it(pipeline, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    result = pipeline.configure(landing_dir=landing).run("2024-03-01")
    assert not result.success
    assert str(landing / "2024-03-01") in failure_message(result)
    assert (
        not pipeline.database.exists()
        or pipeline.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'sales_metrics'"
        ).iloc[0, 0]
        == 0
    )


def test_case_variant_and_lineage_column_names_fail_the_file(tmp_path):
    """`Channel` beside `channel` would collide in the warehouse; lineage names are the loader's."""
    from datetime import date

    from sales_assets.sources.landing import LandingError, landing_day

    folder = tmp_path / "2024-03-01"
    folder.mkdir()
    header = "order_id,order_ts,product,region,quantity,unit_price"
    (folder / "a.csv").write_text(f"{header},channel,Channel\n1,2024-03-01,p,r,1,1,web,app\n")
    with pytest.raises(
        LandingError, match=r"a\.csv: duplicate column names \['Channel', 'channel'\]"
    ):
        landing_day(tmp_path, date(2024, 3, 1))
    (folder / "a.csv").write_text(f"{header},source_file\n1,2024-03-01,p,r,1,1,x\n")
    with pytest.raises(LandingError, match=r"a\.csv: column\(s\) \['source_file'\] are reserved"):
        landing_day(tmp_path, date(2024, 3, 1))


def test_extra_column_differing_only_in_case_lands_in_the_existing_column(pipeline, tmp_path):
    """A later day's `Store_ID` goes into the `store_id` column an earlier day created."""
    landing = tmp_path / "landing"
    header = "order_id,order_ts,product,region,quantity,unit_price"
    for day, extra in (("2024-03-01", "store_id"), ("2024-03-02", "Store_ID")):
        (landing / day).mkdir(parents=True)
        (landing / day / "orders.csv").write_text(
            f"{header},{extra}\n1,{day}T10:00:00Z,p,r,1,1,S{day[-1]}\n"
        )
        assert pipeline.configure(landing_dir=landing).run(day).success
    stores = pipeline.query(
        "SELECT partition_date::VARCHAR AS d, store_id FROM sales.raw_sales ORDER BY 1"
    )
    assert stores.values.tolist() == [["2024-03-01", "S1"], ["2024-03-02", "S2"]]
