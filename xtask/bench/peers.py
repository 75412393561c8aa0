"""Peer side of `cargo xtask bench`: the storage workloads of tableshare's benchmark program, run
with one peer (pyarrow writing Parquet files, deltalake, or pylance) on the same disk and the
same data, so that the two sides can be compared as ratios in one run.

Usage:
    peers.py write   ENGINE WORKDIR ROWS
    peers.py appends ENGINE WORKDIR APPENDS APPEND_ROWS TRAVEL

ENGINE is pyarrow, deltalake or lance. One call is one round of one workload for one peer: xtask
runs tableshare and each peer in turn, round after round (the disk's speed drifts over minutes,
and alternating spreads the drift over every side). Prints one JSON object on stdout:
{metric: value}, times in seconds.

- `write`: one table of ROWS rows (`write_big_s`).
- `appends`: an empty table is created (not timed), then APPENDS appends of APPEND_ROWS rows
  each, timed one by one through an open handle, as the library's users append:
  deltalake `write_deltalake(table, data, mode="append")` on a `DeltaTable` kept open; lance
  `LanceDataset.insert(data)` on a dataset kept open (its own append API, which calls
  `write_dataset(data, dataset, mode="append")`); pyarrow one new Parquet file per append,
  fsynced. Then, for deltalake and lance, reads from a fresh handle: the latest version and the
  version that holds TRAVEL appends, each read whole to Arrow; the peer's own compaction
  (`DeltaTable.optimize.compact()`, `LanceDataset.optimize.compact_files()`) on the open handle;
  and the same two reads again. No vacuum or cleanup runs: they only delete files that the latest
  version no longer references (so they cannot speed up reading it) and would remove the files
  the time-travel read needs.

The data is generated exactly as the Rust side generates it (id = i, name = "user_" +
(i % 100000), value = i * 0.5), and generation is never timed. Durability: pyarrow's files are
fsynced here; deltalake and lance are called as their users call them, with no fsync added (see
docs/performance.md for what each one syncs).
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

ENGINES = ("pyarrow", "deltalake", "lance")

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


def percentile(xs, p):
    """Nearest rank on the sorted sample, as the Rust side computes it."""
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def write_parquet_fsynced(path, table):
    pq.write_table(table, path, compression="snappy")
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


# --- the big write ---------------------------------------------------------------------------


def big_write(engine, path, table):
    if engine == "pyarrow":
        os.makedirs(path)
        write_parquet_fsynced(os.path.join(path, "big.parquet"), table)
    elif engine == "deltalake":
        from deltalake import write_deltalake

        write_deltalake(path, table)
    else:
        import lance

        lance.write_dataset(table, path)


def bench_write(engine, work, rows):
    table = make_table(0, rows)
    path = os.path.join(work, "big")
    # Dirty pages left by the data generation or an earlier writer are flushed first, so this
    # write pays for its own IO only.
    os.sync()
    t, _ = timed(lambda: big_write(engine, path, table))
    return {"write_big_s": t}


# --- appends, then reads before and after the peer's own compaction ----------------------------


def append_metrics(latencies):
    return {
        "append_p50_s": statistics.median(latencies),
        "append_p95_s": percentile(latencies, 95),
        "append_p99_s": percentile(latencies, 99),
    }


def appends_pyarrow(work, appends, append_rows):
    # pyarrow has no table format: one new fsynced Parquet file per append.
    folder = os.path.join(work, "pyarrow")
    os.makedirs(folder)
    latencies = []
    for i in range(appends):
        chunk = make_table(i * append_rows, append_rows)
        f = os.path.join(folder, f"part-{i:05}.parquet")
        t, _ = timed(lambda: write_parquet_fsynced(f, chunk))
        latencies.append(t)
    return append_metrics(latencies)


def reads(out, suffix, read_latest, read_version, travel_version):
    """Times opening the latest version and `travel_version` from fresh handles, read to Arrow.
    Dirty pages are flushed before each (as the Rust side does), so no read pays for writeback
    of the appends."""
    os.sync()
    out[f"open_latest_read{suffix}_s"], t = timed(read_latest)
    out[f"open_latest{suffix}_rows"] = t.num_rows
    os.sync()
    out[f"travel_read{suffix}_s"], t = timed(lambda: read_version(travel_version))
    out[f"travel{suffix}_rows"] = t.num_rows


def appends_delta(work, appends, append_rows, travel):
    from deltalake import DeltaTable, write_deltalake

    path = os.path.join(work, "delta")
    table = DeltaTable.create(path, schema=make_table(0, 0).schema)
    latencies = []
    travel_version = None
    for i in range(appends):
        chunk = make_table(i * append_rows, append_rows)
        t, _ = timed(lambda: write_deltalake(table, chunk, mode="append"))
        latencies.append(t)
        if i + 1 == travel:
            travel_version = table.version()
    out = append_metrics(latencies)
    out["travel_version"] = travel_version
    latest = lambda: DeltaTable(path).to_pyarrow_table()  # noqa: E731
    version = lambda v: DeltaTable(path, version=v).to_pyarrow_table()  # noqa: E731
    reads(out, "", latest, version, travel_version)
    os.sync()
    out["compact_s"], _ = timed(lambda: table.optimize.compact())
    reads(out, "_compacted", latest, version, travel_version)
    return out


def appends_lance(work, appends, append_rows, travel):
    import lance

    path = os.path.join(work, "lance")
    dataset = lance.write_dataset(make_table(0, 0), path)
    latencies = []
    travel_version = None
    for i in range(appends):
        chunk = make_table(i * append_rows, append_rows)
        t, _ = timed(lambda: dataset.insert(chunk))
        latencies.append(t)
        if i + 1 == travel:
            travel_version = dataset.version
    out = append_metrics(latencies)
    out["travel_version"] = travel_version
    latest = lambda: lance.dataset(path).to_table()  # noqa: E731
    version = lambda v: lance.dataset(path, version=v).to_table()  # noqa: E731
    reads(out, "", latest, version, travel_version)
    os.sync()
    out["compact_s"], _ = timed(lambda: dataset.optimize.compact_files())
    reads(out, "_compacted", latest, version, travel_version)
    return out


def bench_appends(engine, work, appends, append_rows, travel):
    if engine == "pyarrow":
        return appends_pyarrow(work, appends, append_rows)
    if engine == "deltalake":
        return appends_delta(work, appends, append_rows, travel)
    return appends_lance(work, appends, append_rows, travel)


def main():
    usage = (
        "usage: peers.py write ENGINE WORKDIR ROWS\n"
        "       peers.py appends ENGINE WORKDIR APPENDS APPEND_ROWS TRAVEL"
    )
    args = sys.argv[1:]
    if len(args) < 3 or args[1] not in ENGINES:
        sys.exit(usage)
    mode, engine, work, numbers = args[0], args[1], args[2], [int(a) for a in args[3:]]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if mode == "write" and len(numbers) == 1:
        results = bench_write(engine, work, *numbers)
    elif mode == "appends" and len(numbers) == 3:
        results = bench_appends(engine, work, *numbers)
    else:
        sys.exit(usage)
    shutil.rmtree(work, ignore_errors=True)
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
