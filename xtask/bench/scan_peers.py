"""Peer side of the scan workload of `cargo xtask bench` (issue 7, "a table model that scales"):
pyarrow and DuckDB stream the same Parquet files that tableshare's big table is made of, so that
tableshare's streaming scan (`crates/storage/benches/scan.rs`) can be compared with them on time
and peak memory in one run.

Usage:
    scan_peers.py scan ENGINE COLUMNS FILE...

ENGINE is pyarrow or duckdb; COLUMNS is `value` (one column) or `all` (id, name, value; the
files' own `_row_key` column is tableshare's and is not read). One call is one scan in a process
of its own, so the process's peak resident memory is the scan's:

- pyarrow: `pyarrow.parquet.ParquetFile(file).iter_batches(batch_size=8192, columns=...)`, file
  after file, each batch consumed and dropped.
- duckdb: `connection.sql("SELECT ... FROM read_parquet([...])")` on an in-memory connection,
  consumed through `to_arrow_reader(8192)` batch by batch.

Prints one JSON object: `scan_s` (from before opening the first file to the last batch; module
imports are not timed), `rows`, `peak_rss_bytes` (`getrusage(RUSAGE_SELF).ru_maxrss` at the end)
and `baseline_rss_bytes` (the same before the scan: the interpreter and the imported library,
which the peak includes).
"""

import json
import resource
import sys
import time

BATCH = 8192
COLUMNS = {"value": ["value"], "all": ["id", "name", "value"]}


def max_rss_bytes():
    """The process's high-water resident memory so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def scan_pyarrow(files, columns):
    import pyarrow.parquet as pq

    baseline = max_rss_bytes()
    started = time.perf_counter()
    rows = 0
    for path in files:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH, columns=columns):
            rows += batch.num_rows
    return time.perf_counter() - started, rows, baseline


def scan_duckdb(files, columns):
    import duckdb

    connection = duckdb.connect()
    baseline = max_rss_bytes()
    started = time.perf_counter()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    query = f"SELECT {', '.join(columns)} FROM read_parquet([{listed}])"
    reader = connection.sql(query).to_arrow_reader(BATCH)
    rows = 0
    for batch in reader:
        rows += batch.num_rows
    return time.perf_counter() - started, rows, baseline


def main():
    args = sys.argv[1:]
    if len(args) < 4 or args[0] != "scan" or args[1] not in ("pyarrow", "duckdb"):
        sys.exit(__doc__)
    engine, columns, files = args[1], COLUMNS[args[2]], args[3:]
    scan = scan_pyarrow if engine == "pyarrow" else scan_duckdb
    secs, rows, baseline = scan(files, columns)
    print(
        json.dumps(
            {
                "scan_s": secs,
                "rows": rows,
                "peak_rss_bytes": max_rss_bytes(),
                "baseline_rss_bytes": baseline,
            }
        )
    )


if __name__ == "__main__":
    main()
