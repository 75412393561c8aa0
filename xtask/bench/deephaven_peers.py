"""Deephaven Community, the peer of `cargo xtask bench --only remote` (issue 9), run in the venv of
`xtask/bench/deephaven-requirements.txt` (deephaven-server 42.7 and pydeephaven 42.7, apart from
the other peers so their pinned pyarrow stays as it is). Every server is Deephaven's embedded
server (`deephaven_server.Server`) on 127.0.0.1, anonymous auth, in a process of its own.

Usage:
    deephaven_peers.py latency UPDATES CYCLE_MS   # publisher; starts the subscriber itself
    deephaven_peers.py subscribe PORT UPDATES CYCLE_MS
    deephaven_peers.py serve ROWS                 # prints `ADDR 127.0.0.1:port`, serves until stdin closes
    deephaven_peers.py get ADDR TABLE

- latency: as `crates/remote/benches/latency.rs` on our side. This process (the publisher) starts
  a Deephaven server whose query scope holds `latency`, the append-only table of a
  `DynamicTableWriter` (seq int64, committed_ns int64); it starts the subscriber (this script,
  `subscribe`) in a child process and, once that says READY, writes 2,000 warm-up rows (negative
  seq, not counted: both JVMs compile their paths on them), then UPDATES one-row appends, each
  followed by a 0.5 ms sleep as latency.rs sleeps after each append, each carrying its commit
  time (`time.time_ns()`, taken just before `write_row`: the row becomes visible to the
  publisher's own engine at its next update cycle, and that wait is part of what is measured,
  as it is what a Deephaven writer sees). It prints the subscriber's JSON with `cycle_ms` and
  `interval_ms` (the mean time between two measured writes) added.
- subscribe: starts a Deephaven server of its own (the engine the URI resolver runs in), resolves
  `dh+plain://127.0.0.1:PORT/scope/latency` with `deephaven.uri.resolve` (a Barrage subscription),
  listens with `deephaven.table_listener.listen`, and notes for each update, at the start of the
  listener call, how long ago each added row was committed (`time.time_ns()`, the same
  CLOCK_REALTIME our Rust side reads with `SystemTime::now`). Prints one JSON object: p50_ms,
  p99_ms, max_ms (the same rank rule as latency.rs), updates (measured rows seen), steps
  (listener calls that carried measured rows).
- CYCLE_MS 0 leaves Deephaven's defaults (a 1 s update cycle, `PeriodicUpdateGraph
  .targetCycleDurationMillis` = 1000, and Barrage's 1 s minimum interval between subscription
  updates, `barrage.minUpdateInterval` = 1000); any other value sets both properties to it in
  both processes' JVMs.
- serve: a Deephaven server whose scope holds `big`, ROWS rows (id int64 = i, name string
  "user_" + (i % 100000), value double = i * 0.5), as `tableshare_testkit::bench_batch` makes
  them, built by the engine (`empty_table(ROWS).update(...)`) before the address is printed.
- get: Deephaven's own Python client: `pydeephaven.Session(host, port, auth_type="Anonymous")`,
  `open_table(TABLE).to_arrow()` (a Flight DoGet of the whole table into a pyarrow Table).
  Prints one JSON object: `s` (connect to the table in memory; imports are not timed) and `rows`.
"""

import json
import os
import subprocess
import sys
import threading
import time

# Bounds on every wait, so that no run hangs: a JVM start on a busy 2-core machine takes seconds.
READY_TIMEOUT_S = 180.0
# After the publisher's last write, how long the subscriber may still take to see every row.
DRAIN_TIMEOUT_S = 60.0
PACE_S = 0.0005
# Rows written before the measured ones and not counted (about 1 s of them).
WARMUP = 2_000

# The JVM and Deephaven's logging write to file descriptor 1; this script's own lines (READY,
# ADDR, the JSON) go to the original stdout, saved here, and everything else to stderr.
OUT = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)


def say(text):
    OUT.write(text + "\n")
    OUT.flush()


def jvm_args(cycle_ms):
    args = [
        "-Xms1g",
        "-Xmx6g",
        "-DAuthHandlers=io.deephaven.auth.AnonymousAuthenticationHandler",
    ]
    if cycle_ms > 0:
        args += [
            f"-DPeriodicUpdateGraph.targetCycleDurationMillis={cycle_ms}",
            f"-Dbarrage.minUpdateInterval={cycle_ms}",
        ]
    return args


def start_server(cycle_ms=0):
    """Starts Deephaven's embedded server on 127.0.0.1 and a free port; returns it."""
    from deephaven_server import Server

    server = Server(host="127.0.0.1", port=0, jvm_args=jvm_args(cycle_ms))
    server.start()
    return server


def in_scope(name, value):
    """Puts `value` in the query scope that `dh://host/scope/NAME` resolves in (the globals of
    the `__main__` module, the embedded server's Python session)."""
    import __main__

    setattr(__main__, name, value)


def latency(updates, cycle_ms):
    server = start_server(cycle_ms)
    from deephaven import dtypes
    from deephaven.table_factory import DynamicTableWriter

    writer = DynamicTableWriter({"seq": dtypes.int64, "committed_ns": dtypes.int64})
    in_scope("latency", writer.table)
    child = subprocess.Popen(
        [sys.executable, __file__, "subscribe", str(server.port), str(updates), str(cycle_ms)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready = wait_for_line(child.stdout, "READY", READY_TIMEOUT_S)
    if not ready:
        child.kill()
        sys.exit("the Deephaven subscriber did not become ready")
    # The warm-up rows (negative seq, not counted) let both JVMs compile the write, Barrage and
    # listener paths before the measured rows; then the measured rows, paced as latency.rs paces
    # its appends (each followed by a 0.5 ms sleep).
    for seq in range(-WARMUP, 0):
        writer.write_row(seq, time.time_ns())
        time.sleep(PACE_S)
    started = time.perf_counter()
    for seq in range(updates):
        writer.write_row(seq, time.time_ns())
        time.sleep(PACE_S)
    written_s = time.perf_counter() - started
    try:
        out, _ = child.communicate(timeout=DRAIN_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        child.kill()
        sys.exit("the Deephaven subscriber did not finish")
    if child.returncode != 0:
        sys.exit(f"the Deephaven subscriber failed ({child.returncode})")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit("the Deephaven subscriber printed no JSON")
    measured = json.loads(lines[-1])
    measured["cycle_ms"] = cycle_ms
    measured["interval_ms"] = written_s * 1000.0 / updates
    say(json.dumps(measured))
    writer.close()


def wait_for_line(stream, wanted, timeout):
    """Reads `stream` until a line equal to `wanted` (True) or its end or `timeout` (False)."""
    found = threading.Event()

    def read():
        for line in stream:
            if line.strip() == wanted:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    return found.wait(timeout)


def subscribe(port, updates, cycle_ms):
    start_server(cycle_ms)
    from deephaven.table_listener import listen
    from deephaven.uri import resolve

    table = resolve(f"dh+plain://127.0.0.1:{port}/scope/latency")
    latencies = []
    steps = [0]
    done = threading.Event()

    def on_update(update, is_replay):
        seen = time.time_ns()
        added = update.added(["seq", "committed_ns"])
        if not added:
            return
        measured = added["committed_ns"][added["seq"] >= 0]
        if len(measured) == 0:
            return
        steps[0] += 1
        latencies.extend(int(seen - c) for c in measured)
        if len(latencies) >= updates:
            done.set()

    handle = listen(table, on_update)
    say("READY")
    # The publisher writes for about (WARMUP + updates) * PACE_S (twice that on a busy machine),
    # then the last rows may still be on their way.
    done.wait((WARMUP + updates) * PACE_S * 4 + DRAIN_TIMEOUT_S)
    handle.stop()
    if len(latencies) < updates:
        sys.exit(f"the Deephaven subscriber saw {len(latencies)} of {updates} rows")
    latencies.sort()

    def at(q):
        return latencies[int((len(latencies) - 1) * q)] / 1e6

    say(
        json.dumps(
            {
                "p50_ms": at(0.5),
                "p99_ms": at(0.99),
                "max_ms": at(1.0),
                "updates": len(latencies),
                "steps": steps[0],
            }
        )
    )


def serve(rows):
    server = start_server()
    from deephaven import empty_table

    big = empty_table(rows).update(
        ["id = ii", "name = `user_` + (ii % 100000)", "value = ii * 0.5"]
    )
    in_scope("big", big)
    say(f"ADDR 127.0.0.1:{server.port}")
    for _ in sys.stdin:
        pass
    say(json.dumps({"rows": big.size}))


def get(address, table):
    from pydeephaven import Session

    host, port = address.rsplit(":", 1)
    started = time.perf_counter()
    session = Session(host=host, port=int(port), auth_type="Anonymous")
    arrow = session.open_table(table).to_arrow()
    elapsed = time.perf_counter() - started
    session.close()
    say(json.dumps({"s": elapsed, "rows": arrow.num_rows}))


def main():
    args = sys.argv[1:]
    try:
        run(args)
    except SystemExit as e:
        # The embedded server cannot be stopped and its JVM threads would keep a normal exit
        # waiting: leave at once, with the code (or the message) of the exit.
        code = e.code
        if isinstance(code, str):
            print(code, file=sys.stderr, flush=True)
            code = 1
        OUT.flush()
        os._exit(code or 0)
    OUT.flush()
    os._exit(0)


def run(args):
    if len(args) == 3 and args[0] == "latency":
        latency(int(args[1]), int(args[2]))
    elif len(args) == 4 and args[0] == "subscribe":
        subscribe(int(args[1]), int(args[2]), int(args[3]))
    elif len(args) == 2 and args[0] == "serve":
        serve(int(args[1]))
    elif len(args) == 3 and args[0] == "get":
        get(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
