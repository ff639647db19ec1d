#!/usr/bin/env python3
"""Times HF tokenizers encode on a text file, single-threaded, for side-by-side comparison with Scion.

    python Scripts/bench/tokenizer_reference.py TOKENIZER_JSON TEXT_FILE [--repeat N]

Encodes the file line by line (no special tokens, padding and truncation off), once to warm up and
then N times, and prints MB/s (UTF-8 bytes of input per second) and tokens/s. RAYON_NUM_THREADS=1
and TOKENIZERS_PARALLELISM=false keep HF on one thread; `encode` (not `encode_batch`) is used.
Pinned versions: Scripts/fixtures/requirements-tokenizers.txt.
"""
import argparse
import os
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_json")
    ap.add_argument("text_file")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer_json)
    tok.no_padding()
    tok.no_truncation()
    with open(args.text_file, encoding="utf-8") as f:
        lines = f.read().split("\n")
    nbytes = sum(len(line.encode("utf-8")) for line in lines)
    for line in lines:
        tok.encode(line, add_special_tokens=False)
    best = float("inf")
    ntokens = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ntokens = 0
        for line in lines:
            ntokens += len(tok.encode(line, add_special_tokens=False).ids)
        best = min(best, time.perf_counter() - t0)
    print(f"{nbytes / best / 1e6:.2f} MB/s  {ntokens / best / 1e6:.2f} Mtokens/s  "
          f"({nbytes} bytes, {ntokens} tokens, best of {args.repeat}: {best:.3f} s)")


if __name__ == "__main__":
    main()
