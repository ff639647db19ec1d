#!/usr/bin/env python3
"""Times safetensors (numpy) loading of a file, for side-by-side comparison with `scion-bench safetensors`.

    python Scripts/bench/safetensors_reference.py FILE [--repeat N] [--cold]

Times `safetensors.numpy.load_file(FILE)` (every tensor read into a numpy array) and
`safe_open(FILE, "numpy")` + `keys()` (open + header parse), once to warm up and then N times each,
and prints one JSON object: {"load_file": [seconds...], "open": [seconds...], "bytes": N}.
With --cold, posix_fadvise(DONTNEED) drops the file from the page cache before each load_file.
"""
import argparse
import json
import os
import time

from safetensors import safe_open
from safetensors.numpy import load_file


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cold", action="store_true")
    args = ap.parse_args()
    nbytes = 0
    for v in load_file(args.file).values():
        nbytes += v.nbytes
    loads, opens = [], []
    for _ in range(args.repeat):
        if args.cold:
            drop_cache(args.file)
        t0 = time.perf_counter()
        tensors = load_file(args.file)
        loads.append(time.perf_counter() - t0)
        del tensors
        t0 = time.perf_counter()
        with safe_open(args.file, framework="numpy") as f:
            _ = list(f.keys())
        opens.append(time.perf_counter() - t0)
    print(json.dumps({"load_file": loads, "open": opens, "bytes": nbytes}))


if __name__ == "__main__":
    main()
