"""Starts TensorZero's Rust gateway as a local HTTP server, for bench/run.

    python serve.py CONFIG.toml

The PyPI wheel `tensorzero` embeds the gateway (the same Rust code as the
standalone `gateway` binary, which this machine cannot download). Its internal
helper `_start_http_gateway` runs that gateway's HTTP server on its own tokio
runtime inside this process, on a free loopback port, and returns its base URL;
this script prints {"base_url": ...} on one line and then only waits, so the
Python interpreter is idle while the gateway serves. SIGTERM/SIGINT stop it.
"""

import json
import signal
import sys
import threading

import tensorzero


def main() -> None:
    config = sys.argv[1]
    gateway = tensorzero._start_http_gateway(
        config_file=config,
        clickhouse_url=None,
        postgres_url=None,
        valkey_url=None,
        async_setup=False,
    )
    print(json.dumps({"base_url": gateway.base_url, "version": getattr(tensorzero, "__version__", None)}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    gateway.close()


if __name__ == "__main__":
    main()
