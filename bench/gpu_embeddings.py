"""Sentence-embedding throughput on a GPU machine, against the same machine's CPU.

Run where a GPU is present (the offline annotator and the cluster stage pick
``cuda`` when ``torch.cuda.is_available()``). Needs only torch and
sentence-transformers, so it runs on a bare GPU image without the project installed:

    python bench/gpu_embeddings.py --model DIR --texts texts.jsonl --out gpu_embeddings.json

``texts.jsonl`` holds one JSON string per line (real r/ethereum comment bodies);
``DIR`` a saved all-MiniLM-L6-v2 (fp16 weights, to travel light). Writes texts per
second for each device, dtype and maximum sequence length.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time


def _rate(model, texts, batch_size):
    import torch

    model.encode(texts[:256], batch_size=batch_size)  # warm-up: kernels, tokenizer
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    emb = model.encode(texts, batch_size=batch_size, convert_to_numpy=True)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "seconds": round(seconds, 3),
            "texts_per_second": round(len(texts) / seconds, 1), "dim": int(emb.shape[1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cpu-texts", type=int, default=2000, help="CPU is slow: time it on a prefix")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    with open(args.texts, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f]
    result = {"texts": f"{len(texts)} real r/ethereum daily comment bodies (seed 0 shuffle)",
              "mean_chars": round(sum(map(len, texts)) / len(texts), 1),
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "torch": torch.__version__, "runs": []}
    for max_len in (256, 128):
        if torch.cuda.is_available():
            for dtype in ("float16", "float32"):
                m = SentenceTransformer(args.model, device="cuda")
                m = m.half() if dtype == "float16" else m.float()
                m.max_seq_length = max_len
                for bs in (256, 1024):
                    result["runs"].append({"device": "cuda", "dtype": dtype, "max_seq_length": max_len,
                                           "batch_size": bs, **_rate(m, texts, bs)})
        m = SentenceTransformer(args.model, device="cpu").float()
        m.max_seq_length = max_len
        result["runs"].append({"device": "cpu", "dtype": "float32", "max_seq_length": max_len,
                               "batch_size": 64, "torch_threads": torch.get_num_threads(),
                               **_rate(m, texts[: args.cpu_texts], 64)})
        print(json.dumps(result["runs"][-1]), flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
