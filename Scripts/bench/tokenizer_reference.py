#!/usr/bin/env python3
"""Times HF tokenizers encode on a text file, single-threaded, for side-by-side comparison with Scion.

    python Scripts/bench/tokenizer_reference.py TOKENIZER_JSON TEXT_FILE [--repeat N] [--json]

Encodes the file line by line exactly as `scion-bench tokenizers` does (the file's bytes split on
"\\n", no newline translation; no special tokens; padding and truncation off), once to warm up and
then N times, and prints MB/s (UTF-8 bytes of input per second, from the median pass) and tokens/s.
With --json it prints one JSON object instead: {"mb_per_s", "tokens_per_s", "bytes", "tokens",
"times"} (times: seconds of every timed pass), which is what scion-bench reads.
RAYON_NUM_THREADS=1 and TOKENIZERS_PARALLELISM=false are set before `tokenizers` is imported, and
`encode` (never `encode_batch`) is used, so HF runs on one thread.
Pinned versions: Scripts/fixtures/requirements-tokenizers.txt.
"""
import argparse
import json
import os
import statistics
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from tokenizers import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tokenizer_json")
    ap.add_argument("text_file")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="print one machine-readable JSON object")
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer_json)
    tok.no_padding()
    tok.no_truncation()
    with open(args.text_file, "rb") as f:
        raw = f.read()
    lines = raw.decode("utf-8", errors="replace").split("\n")
    nbytes = sum(len(line.encode("utf-8")) for line in lines)
    for line in lines:
        tok.encode(line, add_special_tokens=False)
    times = []
    ntokens = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ntokens = 0
        for line in lines:
            ntokens += len(tok.encode(line, add_special_tokens=False).ids)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    if args.json:
        print(json.dumps({"mb_per_s": nbytes / med / 1e6, "tokens_per_s": ntokens / med,
                          "bytes": nbytes, "tokens": ntokens, "times": times}))
    else:
        print(f"{nbytes / med / 1e6:.2f} MB/s  {ntokens / med / 1e6:.2f} Mtokens/s  "
              f"({nbytes} bytes, {ntokens} tokens, median of {args.repeat}: {med:.3f} s)")


if __name__ == "__main__":
    main()
