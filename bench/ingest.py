"""Ingest throughput: stage ingest_reddit against the plain reader a competent user writes, on
real dumps replicated to a few hundred MB.

The corpus is the real lines of ../shared/data/reddit: the r/ethereum daily threads (128,889
comments), r/changemyview (8,924 comments) and RC_2005-12 (1,075 comments), with their
submissions. Each copy appends a suffix to every id (``id``, ``name``, ``link_id``,
``parent_id``) by a byte substitution, so lines stay byte-for-byte what Reddit served apart
from the ids, every id is unique, and threads still join. Comments go to ``RC_bench.zst`` (one
file, one zstandard frame: the shape of a monthly dump, which cannot be split before it is
decompressed), submissions to ``RS_bench.zst``.

Each side runs in a fresh subprocess, so its peak memory (max RSS, including the stage's
worker processes) is its own; the sides run one after the other in the same invocation.

- ``json_loads``: the baseline the target is set against. ``zstandard`` stream reader, a
  buffered line iterator and ``json.loads`` per line; nothing else (no filters, no output).
- ``orjson``: the same loop with ``orjson.loads`` (a faster parser, for reference).
- ``pipeline``: ``alignx run ingest_reddit`` on the same files: parse, normalize, filter,
  deduplicate, join to submissions, partition by author, write parquet. Process start-up and
  imports are included.

Writes bench/results/ingest.json: MB/s of decompressed input, wall and CPU seconds, peak RSS,
the wall-time ratio of the pipeline to each plain loop (>= 3 against ``json_loads`` is the
target) and the ratio of CPU seconds (on a shared machine the wall ratio moves with the
load; the CPU ratio does not, and bounds what an idle machine gives: at most 2x it on 2 cores).
"""

from __future__ import annotations

import io
import json
import os
import re
import resource
import shutil
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
COMMENTS = ("ethereum_daily/ethereum_comments.zst", "cmv/changemyview_comments.zst", "RC_2005-12.zst")
SUBMISSIONS = ("ethereum_daily/ethereum_submissions.zst", "cmv/changemyview_submissions.zst")
ID_FIELD = re.compile(rb'("(?:id|name|link_id|parent_id)": ?"[^"]*)"')


def _lines(rel: str) -> bytes:
    with open(SHARED / rel, "rb") as fh:
        data = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh).read()
    return data if data.endswith(b"\n") else data + b"\n"


def build_dumps(folder: Path) -> int:
    """Write ``RC_bench.zst`` (about TARGET_BYTES decompressed) and ``RS_bench.zst``; returns
    the decompressed bytes of both together."""
    comments = b"".join(_lines(rel) for rel in COMMENTS)
    posts = b"".join(_lines(rel) for rel in SUBMISSIONS)
    copies = max(1, round(TARGET_BYTES / len(comments)))
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, data in (("RC_bench.zst", comments), ("RS_bench.zst", posts)):
        tmp = folder / f".{name}.tmp"
        with open(tmp, "wb") as fh, zstandard.ZstdCompressor(level=3, threads=2).stream_writer(fh) as w:
            for copy in range(copies):
                suffix = f"x{copy:x}".encode()
                copy_data = data if copy == 0 else ID_FIELD.sub(rb'\1' + suffix + rb'"', data)
                w.write(copy_data)
                total += len(copy_data)
        os.replace(tmp, folder / name)
    return total


def _files(folder: Path) -> list[Path]:
    return [folder / "RC_bench.zst", folder / "RS_bench.zst"]


def plain_loop(folder: Path, loads) -> dict:
    """The baseline: stream-decompress each file and parse every line; nothing else."""
    records = 0
    for path in _files(folder):
        dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
        with open(path, "rb") as fh, dctx.stream_reader(fh) as reader:
            for line in io.BufferedReader(reader, 1 << 20):
                loads(line)
                records += 1
    return {"records": records}


def pipeline(folder: Path) -> dict:
    data_dir = WORK / "data"
    shutil.rmtree(data_dir / "work", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "alignx", "run", "ingest_reddit", "--data-dir", str(data_dir),
         "--set", f'ingest_reddit.inputs=["{folder}"]', "--set", "execution.progress=false"],
        check=True, cwd=ROOT,
    )
    m = json.loads((data_dir / "work/ingest_reddit/_manifest.json").read_text())
    return {"records": m["records_in"], "kept": m["records_out"],
            "dropped": sum(m["dropped"].values()), "counts": m.get("counts", {})}


def _child(mode: str, folder: str) -> None:
    t0 = time.perf_counter()
    if mode == "json_loads":
        out = plain_loop(Path(folder), json.loads)
    elif mode == "orjson":
        import orjson

        out = plain_loop(Path(folder), orjson.loads)
    else:
        out = pipeline(Path(folder))
    out["seconds"] = time.perf_counter() - t0
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out["peak_rss_mb"] = round(max(self_rss, child_rss) / 1024, 1)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    out["cpu_seconds"] = round(sum(u.ru_utime + u.ru_stime for u in usage), 2)
    print(json.dumps(out))


def measure(mode: str, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "bench.ingest", "--child", mode, str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit(f"bench ingest needs the real dumps in {SHARED}")
    folder = WORK / f"real-{TARGET_BYTES >> 20}mb"
    size_file = folder / "size.txt"
    if not size_file.exists():
        print(f"building {folder} (about {TARGET_BYTES >> 20} MB of real lines) ...", file=sys.stderr)
        size_file.write_text(str(build_dumps(folder)))
    mb = int(size_file.read_text()) / 2**20
    results = {}
    for mode in ("json_loads", "orjson", "pipeline"):
        r = measure(mode, folder)
        r["mb_per_s"] = round(mb / r["seconds"], 1)
        r["seconds"] = round(r["seconds"], 2)
        results[mode] = r
        print(f"{mode:>10}: {r['mb_per_s']} MB/s, {r['seconds']} s, peak {r['peak_rss_mb']} MB", file=sys.stderr)
    report = {
        "corpus": "real lines of " + ", ".join(COMMENTS + SUBMISSIONS) + ", ids suffixed per copy",
        "decompressed_mb": round(mb, 1),
        "compressed_mb": round(sum(f.stat().st_size for f in _files(folder)) / 2**20, 1),
        "cpus": os.cpu_count(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        **results,
        "speedup_vs_json_loads": round(results["json_loads"]["seconds"] / results["pipeline"]["seconds"], 2),
        "speedup_vs_orjson": round(results["orjson"]["seconds"] / results["pipeline"]["seconds"], 2),
        # CPU seconds (user + sys, all processes): the work done, whatever else the machine runs
        "cpu_ratio_json_loads_to_pipeline": round(results["json_loads"]["cpu_seconds"]
                                                  / results["pipeline"]["cpu_seconds"], 2),
        "targets": {"speedup_vs_json_loads_min": 3.0, "peak_rss_mb_max": 1024},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main()
