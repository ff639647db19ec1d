"""llama.cpp reference for `scion-bench inference` (SmolLM2 decode), through llama-cpp-python.

Loads a GGUF file, evaluates the given prompt ids (one batch), then decodes --new tokens greedily one at a
time with llama.cpp's KV cache; times only the decode steps. Prints a JSON object on its last stdout line:
median seconds per decode token over --runs, and this process's max RSS.
Usage: python llamacpp_decode.py --model FILE --ids 1,2,3 [--threads 1] [--runs 5] [--new 48]
"""
import argparse
import json
import resource
import statistics
import time

import numpy as np
from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--new", type=int, default=48)
    args = ap.parse_args()
    prompt = [int(x) for x in args.ids.split(",")]
    llm = Llama(model_path=args.model, n_ctx=len(prompt) + args.new + 8, n_batch=len(prompt),
                n_threads=args.threads, n_threads_batch=args.threads, verbose=False)

    def run():
        llm.reset()
        llm.eval(prompt)
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        generated = [token]
        t0 = time.perf_counter()
        for _ in range(args.new):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            generated.append(token)
        return time.perf_counter() - t0, generated

    run()
    times = []
    for _ in range(args.runs):
        t, generated = run()
        times.append(t / args.new)
    print(json.dumps({
        "threads": args.threads,
        "decode_s_per_token": statistics.median(times),
        "tokens_per_s": 1 / statistics.median(times),
        "generated": generated[:16],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
