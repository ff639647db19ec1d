"""PyTorch/transformers reference for `scion-bench inference`.

A GPT-2-124M-shaped GPT2LMHeadModel (transformers' default GPT2Config, random init, fp32, eval mode):
  prefill  one forward pass over B=1 x T=prompt tokens (full logits, no cache) -> tokens/s
  decode   greedy with the KV cache: prefill the prompt, then `new` steps of one token each
           (context prompt .. prompt+new) -> ms/token over the decode steps
Prints a JSON object on its last stdout line: medians over --runs, and this process's max RSS.
Usage: python inference_torch.py --threads N [--runs 5] [--prompt 128] [--new 48]
"""
import argparse
import json
import resource
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--new", type=int, default=48)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    ids = torch.randint(0, model.config.vocab_size, (1, args.prompt))

    def prefill():
        model(ids, use_cache=False)

    def decode():
        out = model(ids, use_cache=True)
        past = out.past_key_values
        token = out.logits[:, -1, :].argmax(-1, keepdim=True)
        t0 = time.perf_counter()
        for _ in range(args.new):
            out = model(token, past_key_values=past, use_cache=True)
            past = out.past_key_values
            token = out.logits[:, -1, :].argmax(-1, keepdim=True)
        return time.perf_counter() - t0

    prefill_times, decode_times = [], []
    with torch.inference_mode():
        prefill()
        decode()
        # Alternate the two so machine noise hits both alike.
        for _ in range(args.runs):
            t0 = time.perf_counter()
            prefill()
            prefill_times.append(time.perf_counter() - t0)
            decode_times.append(decode())
    p = statistics.median(prefill_times)
    d = statistics.median(decode_times)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": args.threads,
        "prefill_s": p,
        "prefill_tok_s": args.prompt / p,
        "decode_ms_per_token": d / args.new * 1000,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
