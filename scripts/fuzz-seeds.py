#!/usr/bin/env python3
"""Writes fuzz seeds for the `classify` target from tests/fixtures/*.json.

    python3 scripts/fuzz-seeds.py OUT_DIR

Each fixture (a real provider response) becomes one input in the layout that
fuzz/fuzz_targets/classify.rs reads: status (u16 LE), SSE chunk size - 1 (u8),
now (u64 LE), then `name: value` header lines, a blank line and the body. Fixtures
of in-stream errors also get an SSE-framed variant (`event: error` / `data: …`).
"""

import glob
import hashlib
import json
import os
import struct
import sys

NOW = 1_750_000_000_000


def text(v):
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    n = 0
    for path in sorted(glob.glob(os.path.join(root, "tests", "fixtures", "*.json"))):
        try:
            with open(path) as f:
                fixtures = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(fixtures, list):
            continue
        for i, fx in enumerate(fixtures):
            if not isinstance(fx, dict):
                continue
            status = fx.get("status") or 200
            headers = fx.get("headers") or {}
            body = text(fx.get("body", ""))
            head = "".join(f"{k}: {text(v)}\n" for k, v in headers.items())
            bodies = [body]
            if fx.get("in_stream"):
                bodies.append(f"event: error\ndata: {body}\n\n")
                bodies.append(f"data: {body}\n\ndata: [DONE]\n\n")
            for j, b in enumerate(bodies):
                chunk = (i * 7 + j * 13) % 256
                data = struct.pack("<HBQ", int(status) & 0xFFFF, chunk, NOW)
                # A blank line always ends the headers (even none), so a body with
                # blank lines of its own (SSE) is not read as headers.
                data += (head + ("\n" if head else "\n\n") + b).encode("utf-8")
                name = hashlib.sha1(data).hexdigest()
                with open(os.path.join(out, name), "wb") as f:
                    f.write(data)
                n += 1
    print(f"{n} classify seeds from tests/fixtures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
