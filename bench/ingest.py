"""Ingest throughput: stage ingest_reddit against a naive reader, on a >= 300 MB dump.

The dump is built from the real lines in ../shared/data/reddit (RC_2005-12.zst and the
2024-era lines of test_comments.json), re-numbered so every id is unique, and compressed with
zstandard. Each side runs in a fresh subprocess so its peak memory (max RSS, including worker
processes) is its own.

- naive: zstandard stream reader + ``json.loads`` per line + the same filter rules, one process.
- pipeline: ``alignx run ingest_reddit`` on the same file (parse, normalize, filter, dedupe,
  join, write parquet), with the configured workers.

Writes bench/results/ingest.json: MB/s of decompressed input, seconds, peak RSS, ratio.
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import zstandard

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data")) / "reddit"
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
TARGET_BYTES = int(os.environ.get("ALIGNX_BENCH_INGEST_MB", "320")) << 20


def build_dump(path: Path) -> int:
    """Write a zstd NDJSON dump of about TARGET_BYTES decompressed; returns its size."""
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    lines = dctx.decompressobj().decompress((SHARED / "RC_2005-12.zst").read_bytes()).splitlines()
    lines += [l for l in (SHARED / "test_comments.json").read_bytes().splitlines() if l.strip()]
    records = [json.loads(l) for l in lines]
    written = 0
    copy = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh, zstandard.ZstdCompressor(level=3, threads=2).stream_writer(fh) as w:
        while written < TARGET_BYTES:
            suffix = f"x{copy:x}"
            buf = io.BytesIO()
            for r in records:
                r2 = dict(r, id=r["id"] + suffix, link_id=r["link_id"] + suffix, parent_id=r["parent_id"] + suffix)
                if "name" in r2:
                    r2["name"] = f"t1_{r2['id']}"
                buf.write(json.dumps(r2).encode() + b"\n")
            data = buf.getvalue()
            w.write(data)
            written += len(data)
            copy += 1
    return written


ENGLISH = re.compile(r"\b(?:the|and|is|are|was|to|of|a|an|i|you|it|that|this|in|on|for|with|be|not|have|has|but|"
                     r"my|your|just|so|if|or|what|they|we|he|she|do|don't|can|at|as|me|no|yes|all|like)\b")
BOT = re.compile(r"(?:[Bb]ot|BOT)$")


def naive(path: Path) -> dict:
    """The baseline: one process, json.loads per line, the same rules in plain Python."""
    kept = dropped = 0
    seen = set()
    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with open(path, "rb") as fh, dctx.stream_reader(fh) as reader:
        for line in io.TextIOWrapper(reader, encoding="utf-8"):
            r = json.loads(line)
            body = r.get("body") or ""
            author = r.get("author") or "[deleted]"
            letters = sum(c.isalpha() for c in body)
            ascii_letters = sum(c.isascii() and c.isalpha() for c in body)
            english = (not letters or ascii_letters >= 0.9 * letters) and (
                len(body.split()) < 8 or ENGLISH.search(body.lower()) is not None)
            ok = (
                body.strip() not in ("[deleted]", "[removed]") and author != "[deleted]"
                and author != "AutoModerator" and not BOT.search(author)
                and r.get("distinguished") not in ("moderator", "admin") and not r.get("stickied")
                and 10 <= len(body) <= 5000 and english and r["id"] not in seen
            )
            seen.add(r["id"])
            kept += ok
            dropped += not ok
    return {"kept": kept, "dropped": dropped}


def pipeline(path: Path) -> dict:
    data_dir = WORK / "data"
    import shutil

    shutil.rmtree(data_dir / "work", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "alignx", "run", "ingest_reddit", "--data-dir", str(data_dir),
         "--set", f"ingest_reddit.inputs={path}", "--set", "execution.progress=false"],
        check=True, cwd=ROOT,
    )
    m = json.loads((data_dir / "work/ingest_reddit/_manifest.json").read_text())
    return {"kept": m["records_out"], "dropped": sum(m["dropped"].values())}


def _child(mode: str, path: str) -> None:
    t0 = time.perf_counter()
    out = naive(Path(path)) if mode == "naive" else pipeline(Path(path))
    out["seconds"] = time.perf_counter() - t0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["peak_rss_mb"] = round(max(self_rss, child_rss) / 1024, 1)
    print(json.dumps(out))


def measure(mode: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", "--child", mode, str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit(f"bench ingest needs the real dumps in {SHARED}")
    path = WORK / "RC_bench.zst"
    size_file = path.with_suffix(".size")
    if not path.exists() or not size_file.exists():
        print(f"building a {TARGET_BYTES >> 20} MB dump at {path} ...", file=sys.stderr)
        size_file.write_text(str(build_dump(path)))
    mb = int(size_file.read_text()) / 2**20
    results = {}
    for mode in ("naive", "pipeline"):
        r = measure(mode, path)
        r["mb_per_s"] = round(mb / r["seconds"], 1)
        r["seconds"] = round(r["seconds"], 2)
        results[mode] = r
        print(f"{mode:>8}: {r['mb_per_s']} MB/s, {r['seconds']} s, peak {r['peak_rss_mb']} MB", file=sys.stderr)
    report = {
        "decompressed_mb": round(mb, 1),
        "compressed_mb": round(path.stat().st_size / 2**20, 1),
        "cpus": os.cpu_count(),
        "naive": results["naive"],
        "pipeline": results["pipeline"],
        "speedup": round(results["naive"]["seconds"] / results["pipeline"]["seconds"], 2),
        "targets": {"speedup_min": 4.0, "peak_rss_mb_max": 1024},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
