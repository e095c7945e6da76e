"""Write a synthetic Reddit corpus of N comments in dump format, shaped like real threads.

For scale benchmarks (`bench/scale.py`), not for any figure about label quality: the texts are
real sentences from ../shared/data recombined at random, so they carry no persona.

Shape (each a documented constant below, checked against the r/ethereum daily threads in
../shared/data/reddit/ethereum_daily: 605 threads, 3,455 authors, 128,889 comments, most of
them replies):

- thread sizes are log-normal (heavy-tailed: a few threads hold most comments);
- authors are drawn from a Zipf law over ranks (the most active writes about 2%, as in
  ethereum_daily; its long tail of one-comment authors is not reproduced);
- REPLY_SHARE of comments reply to an earlier comment of their thread (preferring recent
  ones), the rest answer the post;
- bodies are 1 to 6 real sentences; times increase within a thread; threads spread over
  ``--months`` months.

Output: ``<out>/<subreddit>_submissions.zst`` and ``<out>/<subreddit>_comments.zst`` (zstandard
NDJSON with content checksums, Pushshift field names), streamed, so memory stays flat in N.

    .venv/bin/python scripts/make_scale_corpus.py --comments 1000000 --out data/raw/scale
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson
import zstandard

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
SUBREDDIT = "scalesynth"
#: Mean comments per thread; log-normal sigma of thread sizes (ethereum_daily: mean 213, median
#: 158, largest 1,200).
MEAN_THREAD = 200
THREAD_SIGMA = 0.8
#: Authors per comment, and the Zipf exponent of author activity over ranks, P(rank r) ~ r^-s
#: (ethereum_daily: 3,455 authors for 128,889 comments; the most active writes 2%).
AUTHORS_PER_COMMENT = 0.027
ZIPF_S = 0.7
#: Share of comments that reply to another comment (ethereum_daily and the 1.2M-comment corpus: ~0.78).
REPLY_SHARE = 0.78
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def real_sentences(shared: Path, limit: int = 300_000) -> list[str]:
    """Sentences of 20-300 characters from the real comments in ``shared``/reddit."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    files = [shared / "reddit/ethereum_daily/ethereum_comments.zst", shared / "reddit/cmv/changemyview_comments.zst",
             shared / "reddit/RC_2005-12.zst"]
    out: list[str] = []
    for f in files:
        if not f.exists():
            continue
        with open(f, "rb") as fh, dctx.stream_reader(fh) as r:
            for line in r.read().splitlines():
                body = orjson.loads(line).get("body") or ""
                if body in ("[deleted]", "[removed]"):
                    continue
                out += [s for s in SENTENCE.split(body.replace("\n", " ")) if 20 <= len(s) <= 300]
                if len(out) >= limit:
                    return out
    if not out:
        raise SystemExit(f"no real comments found under {shared}/reddit: set ALIGNX_SHARED_DATA or --shared")
    return out


def thread_sizes(n_comments: int, rng: np.random.Generator) -> np.ndarray:
    """Log-normal sizes (>= 1) summing exactly to ``n_comments``."""
    n_threads = max(1, n_comments // MEAN_THREAD)
    raw = rng.lognormal(mean=0.0, sigma=THREAD_SIGMA, size=n_threads)
    sizes = np.maximum(1, np.floor(raw / raw.sum() * n_comments)).astype(np.int64)
    sizes[np.argmax(sizes)] += n_comments - sizes.sum()
    return sizes


def write_corpus(n_comments: int, out: Path, seed: int, months: int, shared: Path) -> dict:
    rng = np.random.default_rng(seed)
    sentences = real_sentences(shared)
    sentences_arr = np.array(sentences, dtype=object)
    sizes = thread_sizes(n_comments, rng)
    n_authors = max(10, int(n_comments * AUTHORS_PER_COMMENT))
    author_p = 1.0 / np.arange(1, n_authors + 1) ** ZIPF_S
    author_p /= author_p.sum()
    start = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp())
    span = months * 30 * 86400
    out.mkdir(parents=True, exist_ok=True)
    def compressor():  # one per stream: a compression context cannot serve two writers
        return zstandard.ZstdCompressor(level=3, write_checksum=True, threads=-1)

    replies = 0
    with open(out / f"{SUBREDDIT}_submissions.zst", "wb") as fs, compressor().stream_writer(fs) as ws, \
            open(out / f"{SUBREDDIT}_comments.zst", "wb") as fc, compressor().stream_writer(fc) as wc:
        cid = 0
        post_times = np.sort(rng.integers(start, start + span, size=len(sizes)))
        for t, (size, t0) in enumerate(zip(sizes, post_times)):
            pid = f"p{t:x}"
            title = " ".join(sentences_arr[rng.integers(0, len(sentences), size=1)])[:200]
            body = " ".join(sentences_arr[rng.integers(0, len(sentences), size=rng.integers(0, 4))])
            ws.write(orjson.dumps({
                "id": pid, "name": f"t3_{pid}", "subreddit": SUBREDDIT, "author": f"op{t % n_authors:x}",
                "title": title, "selftext": body, "created_utc": int(t0), "score": int(rng.integers(1, 500)),
                "num_comments": int(size), "over_18": False, "stickied": False,
            }) + b"\n")
            authors = rng.choice(n_authors, size=size, p=author_p)
            # a reply picks an earlier comment, preferring recent ones (geometric look-back)
            is_reply = rng.random(size) < REPLY_SHARE
            back = rng.geometric(0.2, size=size)
            n_sent = rng.integers(1, 7, size=size)
            times = t0 + np.cumsum(rng.integers(5, 600, size=size))
            buf = bytearray()
            for i in range(size):
                parent = f"t3_{pid}"
                if is_reply[i] and i > 0:
                    parent = f"t1_c{cid - min(back[i], i):x}"
                    replies += 1
                text = " ".join(sentences_arr[rng.integers(0, len(sentences), size=n_sent[i])])
                buf += orjson.dumps({
                    "id": f"c{cid:x}", "name": f"t1_c{cid:x}", "link_id": f"t3_{pid}", "parent_id": parent,
                    "subreddit": SUBREDDIT, "author": f"u{authors[i]:x}", "body": text,
                    "created_utc": int(times[i]), "score": int(rng.integers(-5, 200)), "stickied": False,
                }) + b"\n"
                cid += 1
            wc.write(bytes(buf))
    return {"comments": int(sizes.sum()), "threads": len(sizes), "authors_drawn_from": n_authors,
            "reply_share": round(replies / max(1, int(sizes.sum())), 3), "largest_thread": int(sizes.max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--comments", type=int, required=True, help="number of comments to write")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=20250319)
    ap.add_argument("--months", type=int, default=12, help="months the threads spread over (default 12)")
    ap.add_argument("--shared", default=str(SHARED), help="the shared real data folder (default ../shared/data)")
    args = ap.parse_args(argv)
    info = write_corpus(args.comments, Path(args.out), args.seed, args.months, Path(args.shared))
    print(orjson.dumps(info).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
