#!/usr/bin/env python3
"""Drops the `component-name` custom section from a WebAssembly component, in place.

wasm-component-ld names every instance, import and export of the component in that section
(about 10 KB for these components). It only serves debuggers: the core module's own names are
already stripped (`strip = true` in Cargo.toml), and a custom section never changes what a
component does. Called by scripts/build/link-component after the component is written.

    python3 scripts/build/strip-component-names.py COMPONENT.wasm
"""

from __future__ import annotations

import sys
from pathlib import Path

MAGIC = b"\0asm"
CUSTOM = 0
DROPPED = {b"component-name"}


def leb128(data: bytes, at: int) -> tuple[int, int]:
    """The unsigned LEB128 at `at`, and the offset after it."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def stripped(data: bytes) -> bytes:
    """`data` without its top-level custom sections named in DROPPED."""
    if data[:4] != MAGIC or len(data) < 8:
        raise ValueError("not a WebAssembly binary")
    out = bytearray(data[:8])
    at = 8
    while at < len(data):
        section_id = data[at]
        size, body = leb128(data, at + 1)
        end = body + size
        if end > len(data):
            raise ValueError("a section runs past the end of the file")
        keep = True
        if section_id == CUSTOM:
            name_length, name_at = leb128(data, body)
            keep = data[name_at : name_at + name_length] not in DROPPED
        if keep:
            out += data[at:end]
        at = end
    return bytes(out)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    data = path.read_bytes()
    smaller = stripped(data)
    if smaller != data:
        path.write_bytes(smaller)
    return 0


if __name__ == "__main__":
    sys.exit(main())
