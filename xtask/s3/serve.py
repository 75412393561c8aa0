"""Runs moto's S3 server for `cargo xtask ci`, handling one request at a time.

Usage: serve.py HOST PORT

Why not plain `moto_server`: moto 5.1 implements a conditional create (`If-None-Match: *`) as
"does the object exist? if not, store it", two steps without a lock, and `moto_server` serves
requests on many threads. Nothing then stops two racing creates of one object from both
succeeding, which is exactly what tableshare's commit protocol must never see. (In practice the
window is small: 200 rounds of 8 threads creating one key at once against the threaded server saw
no double winner. A lock makes it a guarantee rather than a likelihood.) This launcher serves
moto's own WSGI application (the one `moto_server` serves) behind one lock, so every request,
and with it every conditional create, is atomic. The storage race tests
(crates/storage/tests/races.rs) check the result with racing processes.
"""

import logging
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        # The whole request, body included, is handled under the lock.
        with lock:
            return list(app(environ, start_response))

    # One line per request would make the log as large as the test run; keep warnings only.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_simple(host, port, serialized, threaded=True)


if __name__ == "__main__":
    main()
