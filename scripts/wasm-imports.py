#!/usr/bin/env python3
"""Lists a .wasm module's imports and fails if any comes from a forbidden module.

    python3 scripts/wasm-imports.py FILE.wasm [--forbid env] [--forbid MODULE ...]

Prints one `module.name (kind)` line per import. Exits 1 if an import's module is
forbidden (default: `env`, which is what an unresolved extern symbol becomes on
wasm32-unknown-unknown: a C dependency or a std function that has no wasm
implementation, and no JS host can satisfy it), 2 if the file is not a wasm module.
Standard library only: reads the import section (id 2) of the binary format.
"""

import sys

KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


class Reader:
    def __init__(self, data, pos=0, end=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def byte(self):
        if self.pos >= self.end:
            raise ValueError("unexpected end of section")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uleb(self):
        result = shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def name(self):
        n = self.uleb()
        if self.pos + n > self.end:
            raise ValueError("name runs past the section")
        s = self.data[self.pos : self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def limits(self):
        flags = self.byte()
        self.uleb()  # min
        if flags & 1:
            self.uleb()  # max

    def reftype(self):
        b = self.byte()
        if b in (0x63, 0x64):  # (ref null? heaptype), GC proposal
            self.heaptype()

    def heaptype(self):
        # An abstract heap type is one byte (0x6A..0x74); a concrete one is an s33 index.
        b = self.byte()
        while b & 0x80:
            b = self.byte()

    def valtype(self):
        b = self.byte()
        if b in (0x63, 0x64):
            self.heaptype()


def imports(data):
    if data[:4] != b"\0asm":
        raise ValueError("not a wasm module (bad magic)")
    r = Reader(data, 8)
    out = []
    while r.pos < len(data):
        section_id = r.byte()
        size = r.uleb()
        start = r.pos
        if section_id == 2:
            s = Reader(data, start, start + size)
            for _ in range(s.uleb()):
                module, field, kind = s.name(), s.name(), s.byte()
                if kind == 0:
                    s.uleb()  # type index
                elif kind == 1:
                    s.reftype()
                    s.limits()
                elif kind == 2:
                    s.limits()
                elif kind == 3:
                    s.valtype()
                    s.byte()  # mutability
                elif kind == 4:
                    s.byte()  # attribute
                    s.uleb()  # type index
                else:
                    raise ValueError(f"unknown import kind {kind:#x}")
                out.append((module, field, KINDS.get(kind, str(kind))))
            return out
        r.pos = start + size
    return out


def main(argv):
    args = argv[1:]
    forbid = []
    files = []
    while args:
        a = args.pop(0)
        if a == "--forbid" and args:
            forbid.append(args.pop(0))
        else:
            files.append(a)
    if len(files) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    forbid = forbid or ["env"]
    path = files[0]
    try:
        with open(path, "rb") as f:
            found = imports(f.read())
    except (OSError, ValueError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    bad = [i for i in found if i[0] in forbid]
    for module, field, kind in found:
        mark = "  <-- forbidden" if module in forbid else ""
        print(f"  {module}.{field} ({kind}){mark}")
    print(f"{path}: {len(found)} import(s), {len(bad)} from {', '.join(forbid)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
