"""Peer side of the SQL workload of `cargo xtask bench --only query` (issue 11): DuckDB and
DataFusion's own Parquet reader (the `datafusion` Python bindings) run the same SQL over the same
Parquet files that tableshare's big table is made of, so that tableshare-query's SQL over the
stored table (`crates/query/benches/sql.rs`) can be compared with them in one run.

Usage:
    sql_peers.py ENGINE SQL FILE...

ENGINE is duckdb or datafusion. In SQL the table is named `big`; here it stands for the files:

- duckdb: an in-memory connection, `CREATE VIEW big AS SELECT * FROM read_parquet([FILE, ...])`,
  then `connection.sql(SQL).fetchall()`.
- datafusion: `SessionContext()` (default configuration: as many partitions as cores),
  `register_parquet("big", DIR)` over the folder holding the files (the bindings take one path;
  the folder must hold exactly FILE... as its Parquet files, or this script fails), then
  `ctx.sql(SQL).collect()`.

One call is one query in a process of its own. Prints one JSON object: `s` (from before the
connection or session is made to the last result row; module imports are not timed), `rows`
(result rows) and `result`, every result row as an array (numbers as JSON numbers, anything
else as its text), for the harness to check that every side computed the same answer.
"""

import json
import os
import sys
import time


def cell(value):
    """A result value as the harness compares it: numbers as floats, the rest as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)  # decimal.Decimal and other number types
    except (TypeError, ValueError):
        return str(value)


def run_duckdb(sql, files):
    import duckdb

    started = time.perf_counter()
    connection = duckdb.connect()
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    connection.execute(f"CREATE VIEW big AS SELECT * FROM read_parquet([{listed}])")
    rows = connection.sql(sql).fetchall()
    secs = time.perf_counter() - started
    return secs, [[cell(v) for v in row] for row in rows]


def folder_of(files):
    """The one folder whose Parquet files are exactly `files`."""
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    if len(folders) != 1:
        sys.exit(f"datafusion: the files are in {len(folders)} folders, not one: {sorted(folders)}")
    folder = folders.pop()
    present = {
        os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".parquet")
    }
    wanted = {os.path.abspath(f) for f in files}
    if present != wanted:
        sys.exit(f"datafusion: {folder} holds other Parquet files than the table's: {sorted(present ^ wanted)}")
    return folder


def run_datafusion(sql, files):
    from datafusion import SessionContext

    folder = folder_of(files)
    started = time.perf_counter()
    ctx = SessionContext()
    ctx.register_parquet("big", folder + os.sep)
    batches = ctx.sql(sql).collect()
    secs = time.perf_counter() - started
    rows = []
    for batch in batches:
        columns = [column.to_pylist() for column in batch.columns]
        rows.extend([cell(c[i]) for c in columns] for i in range(batch.num_rows))
    return secs, rows


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[0] not in ("duckdb", "datafusion"):
        sys.exit(__doc__)
    engine, sql, files = args[0], args[1], args[2:]
    run = run_duckdb if engine == "duckdb" else run_datafusion
    secs, rows = run(sql, files)
    print(json.dumps({"s": secs, "rows": len(rows), "result": rows}))


if __name__ == "__main__":
    main()
