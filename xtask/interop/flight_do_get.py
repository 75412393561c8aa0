"""Reads a table from a running `tableshare serve` with pyarrow.flight, as any Flight user would.

Usage: flight_do_get.py HOST:PORT TABLE. Lists the worker's flights, reads TABLE with DoGet
(through the listed endpoint's ticket and through a bare table-name ticket, which must agree),
and prints {"names": [...], "schema": [...], "total_records": N, "rows": [...]} as JSON.
"""

import json
import sys

import pyarrow.flight as flight


def main() -> None:
    address, table = sys.argv[1], sys.argv[2]
    client = flight.FlightClient(f"grpc://{address}")
    infos = list(client.list_flights())
    names = [info.descriptor.path[0].decode() for info in infos]
    info = next(i for i in infos if i.descriptor.path[0].decode() == table)
    listed = client.do_get(info.endpoints[0].ticket).read_all()
    bare = client.do_get(flight.Ticket(table.encode())).read_all()
    if not listed.equals(bare):
        raise SystemExit("the listed ticket and the bare ticket read different tables")
    if info.schema != listed.schema:
        raise SystemExit(f"listed schema {info.schema} differs from the data's {listed.schema}")
    print(json.dumps({
        "names": names,
        "schema": [field.name for field in listed.schema],
        "total_records": info.total_records,
        "rows": listed.to_pylist(),
    }))


if __name__ == "__main__":
    main()
