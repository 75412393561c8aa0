"""Peer side of the table data service workload of `cargo xtask bench --only tds` (issue 10):
pyarrow.dataset reads the same hive-layout folder of Parquet files that tableshare's table data
service scans (`crates/tds/benches/tds.rs`), as its users read one.

Usage:
    tds_peers.py scan DIR

`pyarrow.dataset.dataset(DIR/scan, format="parquet", partitioning="hive").to_table()`: discovery
of the files and partition folders, then every row of every column (the partition column `loc`
included, as the service's table has it) read into one Arrow table. Prints one JSON object: `s`
(from before discovery to the table in memory; module imports are not timed) and `rows`.
"""

import json
import os
import sys
import time


def scan(folder):
    import pyarrow.dataset as ds

    started = time.perf_counter()
    table = ds.dataset(os.path.join(folder, "scan"), format="parquet", partitioning="hive").to_table()
    return {"s": time.perf_counter() - started, "rows": table.num_rows}


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "scan":
        sys.exit(__doc__)
    print(json.dumps(scan(sys.argv[2])))


if __name__ == "__main__":
    main()
