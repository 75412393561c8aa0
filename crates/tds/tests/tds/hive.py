"""Writes seed 002's sample rows as a hive-partitioned Parquet dataset with pyarrow, the way
pyarrow users write one, for the Parquet backend's tests (crates/tds/tests/tds/parquet.rs).

usage: hive.py ROOT BATCH TICKER:EXCHANGE...
Each TICKER:EXCHANGE gets one new file ROOT/Ticker=T/Exchange=E/part-BATCH-0.parquet holding
the seed's two rows (every column type the seed uses; the partition columns live in the folder
names only, as pyarrow writes them).
"""

import sys
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.dataset as ds

root, batch, locations = sys.argv[1], sys.argv[2], sys.argv[3:]
schema = pa.schema(
    [
        ("Ticker", pa.string()),
        ("Exchange", pa.string()),
        ("Boolean", pa.bool_()),
        ("Byte", pa.int8()),
        ("Char", pa.uint16()),
        ("Short", pa.int16()),
        ("Int", pa.int32()),
        ("Long", pa.int64()),
        ("NPLong", pa.int64()),
        ("Float", pa.float32()),
        ("Double", pa.float64()),
        ("String", pa.string()),
        ("Datetime", pa.timestamp("ns", tz="UTC")),
    ]
)
times = [
    datetime(2024, 10, 1, 16, 30, tzinfo=timezone.utc),
    datetime(2024, 10, 1, 16, 45, tzinfo=timezone.utc),
]
rows = {
    "Ticker": [],
    "Exchange": [],
    "Boolean": [],
    "Byte": [],
    "Char": [],
    "Short": [],
    "Int": [],
    "Long": [],
    "NPLong": [],
    "Float": [],
    "Double": [],
    "String": [],
    "Datetime": [],
}
for location in locations:
    ticker, exchange = location.split(":")
    rows["Ticker"] += [ticker, ticker]
    rows["Exchange"] += [exchange, exchange]
    rows["Boolean"] += [True, False]
    rows["Byte"] += [1, -1]
    rows["Char"] += [ord("-"), ord("1")]
    rows["Short"] += [1, -1]
    rows["Int"] += [1, -1]
    rows["Long"] += [1, -1]
    rows["NPLong"] += [1, -1]
    rows["Float"] += [1.01, -1.01]
    rows["Double"] += [1.01, -1.01]
    rows["String"] += ["foo", "bar"]
    rows["Datetime"] += times
table = pa.table(rows, schema=schema)
ds.write_dataset(
    table,
    root,
    format="parquet",
    partitioning=["Ticker", "Exchange"],
    partitioning_flavor="hive",
    basename_template=f"part-{batch}-{{i}}.parquet",
    existing_data_behavior="overwrite_or_ignore",
)
