"""Peer side of the snapshot workload of `cargo xtask bench --only remote` (issue 9): a pyarrow
Flight server holding the same table that tableshare's worker serves
(`crates/remote/benches/flow.rs serve`), and pyarrow.flight's client reading a table with
`do_get`, as pyarrow users serve and read one.

Usage:
    flight_peers.py serve ROWS     # prints `ADDR host:port`, serves until stdin closes
    flight_peers.py get ADDR TICKET

- serve: a `pyarrow.flight.FlightServerBase` on 127.0.0.1 (plain gRPC) whose `do_get` streams
  the table (`RecordBatchStream`, batches of 65,536 rows) for any ticket. The table is the
  benchmark data (id int64, name utf8 "user_" + (id % 100000), value float64 = id * 0.5), as
  `tableshare_testkit::bench_batch` makes it.
- get: `pyarrow.flight.connect(grpc://ADDR).do_get(Ticket(TICKET)).read_all()`. Prints one JSON
  object: `s` (connect to the table in memory; module imports are not timed) and `rows`.
"""

import json
import sys
import threading
import time

BATCH = 65_536


def bench_table(rows):
    import numpy as np
    import pyarrow as pa

    ids = np.arange(rows, dtype=np.int64)
    names = pa.array([f"user_{i}" for i in range(100_000)], pa.string()).take(pa.array(ids % 100_000))
    table = pa.table({"id": ids, "name": names, "value": ids * 0.5})
    return pa.Table.from_batches(table.to_batches(max_chunksize=BATCH))


def serve(rows):
    import pyarrow.flight as flight

    table = bench_table(rows)

    class Server(flight.FlightServerBase):
        def do_get(self, context, ticket):
            return flight.RecordBatchStream(table)

    server = Server("grpc://127.0.0.1:0")
    print(f"ADDR 127.0.0.1:{server.port}", flush=True)
    threading.Thread(target=server.serve, daemon=True).start()
    for _ in sys.stdin:
        pass
    server.shutdown()
    print(json.dumps({"rows": table.num_rows}))


def get(address, ticket):
    import pyarrow.flight as flight

    started = time.perf_counter()
    client = flight.connect(f"grpc://{address}")
    table = client.do_get(flight.Ticket(ticket.encode())).read_all()
    elapsed = time.perf_counter() - started
    client.close()
    print(json.dumps({"s": elapsed, "rows": table.num_rows}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "get":
        get(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
