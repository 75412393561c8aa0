"""Peer side of `cargo xtask bench`: the same storage workloads as tableshare's benchmark program,
run with pyarrow (one Parquet file), deltalake and pylance on the same disk, so the two sides can
be compared as ratios in one run.

Usage: peers.py write|rest WORKDIR ROWS APPENDS APPEND_ROWS TRAVEL_VERSIONS
Prints one JSON object on stdout: {peer: {metric: value}} with times in seconds. `write` runs only
the big write (xtask alternates it with tableshare's several times and takes medians, because
the disk is noisy); `rest` runs the other workloads.

The data is generated exactly as the Rust side generates it (id = i, name = "user_" + (i % 100000),
value = i * 0.5) and generation is not timed. Every write is made durable where the library allows
it: pyarrow's file is fsynced, deltalake and lance are used as their users use them.
"""

import json
import os
import shutil
import statistics
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


_NAMES = None


def make_table(start, rows):
    """id = i, name = "user_" + str(i % 100000), value = i * 0.5: the Rust side's data."""
    global _NAMES
    if _NAMES is None:
        _NAMES = pa.array([f"user_{k}" for k in range(100000)], type=pa.string())
    ids = np.arange(start, start + rows, dtype=np.int64)
    names = _NAMES.take(pa.array(ids % 100000))
    return pa.table({"id": pa.array(ids), "name": names, "value": pa.array(ids * 0.5)})


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def fsync_tree(path):
    for root, _dirs, files in os.walk(path):
        for f in files:
            fd = os.open(os.path.join(root, f), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def percentile(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def one_write(work, name, write):
    """One timed write into a fresh folder, removed afterwards. Dirty pages left by the previous
    write are flushed first, so no writer pays for another's IO."""
    path = os.path.join(work, f"{name}_big")
    os.sync()
    t, _ = timed(lambda: write(path))
    shutil.rmtree(path, ignore_errors=True)
    return t


def write_pyarrow(folder, table):
    os.makedirs(folder)
    f = os.path.join(folder, "big.parquet")
    pq.write_table(table, f, compression="snappy")
    fd = os.open(f, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def bench_writes(work, table):
    from deltalake import write_deltalake
    import lance

    return {
        "pyarrow": {"write_big_s": one_write(work, "pyarrow", lambda p: write_pyarrow(p, table))},
        "deltalake": {"write_big_s": one_write(work, "delta", lambda p: write_deltalake(p, table))},
        "lance": {"write_big_s": one_write(work, "lance", lambda p: lance.write_dataset(table, p))},
    }


def bench_pyarrow(work, appends, append_rows):
    out = {}
    path = os.path.join(work, "pyarrow")
    os.makedirs(path, exist_ok=True)
    # Appends: one new fsynced file per append (pyarrow has no table format of its own).
    lat = []
    adir = os.path.join(path, "appends")
    os.makedirs(adir)
    for i in range(appends):
        chunk = make_table(i * append_rows, append_rows)

        def one():
            f = os.path.join(adir, f"part-{i:05}.parquet")
            pq.write_table(chunk, f, compression="snappy")
            fd = os.open(f, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)

        t, _ = timed(one)
        lat.append(t)
    out["append_median_s"] = statistics.median(lat)
    out["append_p95_s"] = percentile(lat, 95)
    out["append_p99_s"] = percentile(lat, 99)
    return out


def bench_delta(work, appends, append_rows, travel_versions):
    from deltalake import DeltaTable, write_deltalake

    out = {}
    apath = os.path.join(work, "delta_appends")
    write_deltalake(apath, make_table(0, append_rows))
    lat = []
    for i in range(1, appends):
        chunk = make_table(i * append_rows, append_rows)
        t, _ = timed(lambda: write_deltalake(apath, chunk, mode="append"))
        lat.append(t)
    out["append_median_s"] = statistics.median(lat)
    out["append_p95_s"] = percentile(lat, 95)
    out["append_p99_s"] = percentile(lat, 99)
    # Delta's version k holds k+1 appends; travel to the version holding `travel_versions`
    # appends, as tableshare's version `travel_versions` does (its version 0 is the empty table).
    out["open_latest_read_s"], t = timed(lambda: DeltaTable(apath).to_pyarrow_table())
    out["open_latest_rows"] = t.num_rows
    out["travel_read_s"], t = timed(
        lambda: DeltaTable(apath, version=travel_versions - 1).to_pyarrow_table()
    )
    out["travel_rows"] = t.num_rows
    return out


def bench_lance(work, appends, append_rows, travel_versions):
    import lance

    out = {}
    apath = os.path.join(work, "lance_appends")
    lance.write_dataset(make_table(0, append_rows), apath)
    lat = []
    for i in range(1, appends):
        chunk = make_table(i * append_rows, append_rows)
        t, _ = timed(lambda: lance.write_dataset(chunk, apath, mode="append"))
        lat.append(t)
    out["append_median_s"] = statistics.median(lat)
    out["append_p95_s"] = percentile(lat, 95)
    out["append_p99_s"] = percentile(lat, 99)
    # Lance's version k holds k appends, as tableshare's version k does.
    out["open_latest_read_s"], t = timed(lambda: lance.dataset(apath).to_table())
    out["open_latest_rows"] = t.num_rows
    out["travel_read_s"], t = timed(
        lambda: lance.dataset(apath, version=travel_versions).to_table()
    )
    out["travel_rows"] = t.num_rows
    return out


def main():
    mode, work, rows, appends, append_rows, travel = sys.argv[1:7]
    rows, appends, append_rows, travel = int(rows), int(appends), int(append_rows), int(travel)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if mode == "write":
        results = bench_writes(work, make_table(0, rows))
    elif mode == "rest":
        results = {
            "pyarrow": bench_pyarrow(work, appends, append_rows),
            "deltalake": bench_delta(work, appends, append_rows, travel),
            "lance": bench_lance(work, appends, append_rows, travel),
        }
    else:
        sys.exit(f"mode must be write or rest, not {mode}")
    shutil.rmtree(work, ignore_errors=True)
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
