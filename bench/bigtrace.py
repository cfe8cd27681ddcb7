#!/usr/bin/env python3
"""Make a large trace.dat (format v6, uncompressed) from a real one by
repeating its ring-buffer pages: every CPU's pages are written again and
again, each repetition's page timestamps shifted past the previous one, so
the result is a valid, time-ordered trace of the same real events.

    bench/bigtrace.py IN.dat OUT.dat SIZE_MB

IN must be a v6 trace.dat without compression (e.g. `zstdcat trace-v6.dat.zst`).
The headers (formats, kallsyms, cmdlines, options) are copied unchanged."""

import struct
import sys


def main() -> None:
    src, dst, size_mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(src, "rb").read()
    if data[:10] != b"\x17\x08\x44tracing" or data[10:12] != b"6\x00":
        sys.exit(f"{src}: not a trace.dat v6")
    if data[12] != 0:
        sys.exit(f"{src}: big-endian input is not supported here")
    page_size = struct.unpack_from("<I", data, 14)[0]
    fly = data.find(b"flyrecord\x00")
    if fly < 0:
        sys.exit(f"{src}: no flyrecord section")
    # The CPU count precedes the options: count the (offset, size) pairs
    # whose offsets are page aligned and inside the file.
    table = fly + len(b"flyrecord\x00")
    cpus = []
    at = table
    while at + 16 <= len(data):
        off, size = struct.unpack_from("<QQ", data, at)
        if off == 0 or off % page_size or off + size > len(data):
            break
        cpus.append((off, size))
        at += 16
        if cpus and at >= cpus[0][0]:
            break
    if not cpus:
        sys.exit(f"{src}: no CPU data")
    first = min(struct.unpack_from("<Q", data, off)[0] for off, size in cpus if size)
    last = 0
    for off, size in cpus:
        for p in range(off, off + size, page_size):
            last = max(last, struct.unpack_from("<Q", data, p)[0])
    # Each repetition starts 1 ms after the previous one's last page start
    # (records add deltas past a page's stamp; 1 ms is far more than any).
    span = last - first + 1_000_000 + 50_000_000
    reps = max(1, (size_mb << 20) // max(1, sum(s for _, s in cpus)))
    head = bytearray(data[:cpus[0][0]])
    out_cpus = []
    pos = len(head)
    for off, size in cpus:
        pos = (pos + page_size - 1) // page_size * page_size
        padded = (size + page_size - 1) // page_size * page_size
        total = padded * (reps - 1) + size if size else 0
        out_cpus.append((pos, total))
        pos += total
    for i, (off, size) in enumerate(out_cpus):
        struct.pack_into("<QQ", head, table + 16 * i, off, size)
    with open(dst, "wb") as f:
        f.write(head)
        for (off, size), (src_off, src_size) in zip(out_cpus, cpus):
            if not src_size:
                continue
            f.seek(off)
            pages = data[src_off:src_off + src_size]
            pages += b"\0" * ((-len(pages)) % page_size)
            for r in range(reps):
                chunk = bytearray(pages)
                for p in range(0, len(chunk), page_size):
                    ts = struct.unpack_from("<Q", chunk, p)[0]
                    struct.pack_into("<Q", chunk, p, ts + r * span)
                if r == reps - 1:
                    chunk = chunk[:src_size]
                f.write(chunk)
    print(f"{dst}: {reps} repetitions of {len(cpus)} CPUs' pages")


if __name__ == "__main__":
    main()
