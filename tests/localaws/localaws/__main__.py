"""python -m localaws [--port N]: serve the local AWS on 127.0.0.1 until interrupted.

Prints `localaws ready http://127.0.0.1:PORT` once it accepts connections (port 0: a free one)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time

# Loopback only, never the instance-metadata address: moto and boto3 inside this process too.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from werkzeug.serving import make_server  # noqa: E402

from .app import LocalAws  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localaws", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one exits (test helpers)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = LocalAws()
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if args.exit_with_parent:
        parent = os.getppid()

        def watch_parent() -> None:
            while os.getppid() == parent:
                time.sleep(0.5)
            stop()

        threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"localaws ready http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        app.runtime.shutdown()
        server.server_close()
    try:
        print("localaws stopped", flush=True)
    except BrokenPipeError:  # the reader (a test helper) has gone already
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
