"""Ingest throughput: stage ingest_reddit against the plain reader a competent user writes, on
real dumps replicated to a few hundred MB.

The corpus is the real lines of ../shared/data/reddit: the r/ethereum daily threads (128,889
comments), r/changemyview (8,924 comments) and RC_2005-12 (1,075 comments), with their
submissions. Each copy appends a suffix to every id (``id``, ``name``, ``link_id``,
``parent_id``) by a byte substitution, so lines stay byte-for-byte what Reddit served apart
from the ids, every id is unique, and threads still join. Comments go to ``RC_bench.zst`` (one
file, one zstandard frame: the shape of a monthly dump, which cannot be split before it is
decompressed), submissions to ``RS_bench.zst``.

Two corpora, each measured in the same invocation: ``real`` is the three real dumps exactly as
they are in ../shared/data (72 MB of NDJSON), ``replicated`` the same lines copied to a few
hundred MB (its comments are 80% exact copies of each other, which near-duplicate removal
sees: a conservative load for the filters, a light one for MinHash, which hashes a text once).

Each side runs in a fresh subprocess, one after the other; its peak memory is the largest sum
of the resident memory of its whole process tree (the stage's worker processes included),
sampled every 20 ms from /proc, so memory a parent held before starting it is not counted.

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
Per corpus, ``cpu_breakdown`` says where the stage's CPU goes (bench/ingest_breakdown.py:
read+parse, normalize+filters, language ID, near-duplicates; the rest by difference), and
``read_parse_vs_json_loads`` compares the stage's read+parse step alone to the plain loop.

``near_duplicate_agreement``: the stage's vectorized MinHash (a shingle hashed from its words'
hashes) against datasketch's MinHash + MinHashLSH with its default sha1 shingle hash, one text
at a time, on every r/ethereum comment body: the share of the texts either removes that both
remove with the same kept text, and the Jaccard index of the two removed sets.
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
    if folder == SHARED:  # the real dumps as they are
        return [SHARED / rel for rel in COMMENTS + SUBMISSIONS]
    return [folder / "RC_bench.zst", folder / "RS_bench.zst"]


def _decompressed_bytes(files: list[Path]) -> int:
    total = 0
    for path in files:
        with open(path, "rb") as fh, zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(fh) as r:
            while chunk := r.read(1 << 24):
                total += len(chunk)
    return total


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
        [sys.executable, "-m", "cli", "run", "ingest_reddit", "--data-dir", str(data_dir),
         "--set", "ingest_reddit.inputs=" + json.dumps([str(f) for f in _files(folder)]),
         "--set", "execution.progress=false"],
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
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    out["cpu_seconds"] = round(sum(u.ru_utime + u.ru_stime for u in usage), 2)
    print(json.dumps(out))


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total


def measure(mode: str, folder: Path) -> dict:
    proc = subprocess.Popen([sys.executable, "-m", "bench.ingest", "--child", mode, str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = round(peak / 2**20, 1)
    return result


def breakdown(folder: Path, pipeline_cpu: float, naive_seconds: float, naive_cpu: float) -> dict:
    """bench/ingest_breakdown.py on the corpus's files, in a fresh process; the rest of the
    stage's CPU seconds by difference."""
    proc = subprocess.run([sys.executable, "-m", "bench.ingest_breakdown", *map(str, _files(folder))],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    b = json.loads(proc.stdout.strip().splitlines()[-1])
    cpu = {k: v for k, v in b["cpu_seconds"].items() if k != "language_id_model_load"}
    cpu["rest_by_difference"] = round(pipeline_cpu - sum(cpu.values()), 2)
    return {"cpu_seconds": cpu, "language_id_model_load_cpu_seconds": b["cpu_seconds"].get("language_id_model_load"),
            "phase_wall_seconds": b["wall_seconds"],
            "read_parse_vs_json_loads": round(naive_seconds / max(b["wall_seconds"]["read_parse"], 0.01), 2),
            # CPU seconds: the same comparison, unmoved by the machine's load
            "read_parse_vs_json_loads_cpu": round(naive_cpu / max(b["cpu_seconds"]["read_parse"], 0.01), 2)}


def near_duplicate_agreement() -> dict:
    """The stage's near-duplicates against datasketch's (default sha1 shingle hash, one text at a
    time, oldest first: query, then insert when nothing hits) on every r/ethereum comment."""
    import orjson
    import polars as pl

    from stages.ingest_reddit.quality import datasketch_near_duplicates, near_duplicates

    rows = [orjson.loads(line) for line in _lines(COMMENTS[0]).splitlines() if line.strip()]
    items = pl.DataFrame({"id": [r["id"] for r in rows], "text": [r.get("body") or "" for r in rows],
                          "created_utc": [int(float(r["created_utc"])) for r in rows]})
    t0 = time.process_time()
    ours = near_duplicates(items, 0.8, 128, 5)
    ours_cpu = time.process_time() - t0
    t0 = time.process_time()
    theirs = datasketch_near_duplicates(items, 0.8, 128, 5)
    theirs_cpu = time.process_time() - t0
    a, b = set(ours["id"]), set(theirs["id"])
    return {"comments": items.height, "removed_by_stage": len(a), "removed_by_datasketch": len(b),
            "removed_by_both": len(a & b), "removed_sets_jaccard": round(len(a & b) / len(a | b), 4),
            "same_decision_and_kept_text": round(ours.join(theirs, on=["id", "kept_id"]).height / len(a | b), 4),
            "stage_cpu_seconds": round(ours_cpu, 2), "datasketch_cpu_seconds": round(theirs_cpu, 2),
            "threshold": 0.8, "num_perm": 128, "ngram": 5}


def run_corpus(folder: Path, mb: float) -> dict:
    """The three sides on one corpus, one after the other."""
    results = {}
    for mode in ("json_loads", "orjson", "pipeline"):
        r = measure(mode, folder)
        r["mb_per_s"] = round(mb / r["seconds"], 1)
        r["seconds"] = round(r["seconds"], 2)
        results[mode] = r
        print(f"{folder.name:>12} {mode:>10}: {r['mb_per_s']} MB/s, {r['seconds']} s, "
              f"{r['cpu_seconds']} cpu s, peak {r['peak_rss_mb']} MB", file=sys.stderr)
    return {
        "decompressed_mb": round(mb, 1),
        "compressed_mb": round(sum(f.stat().st_size for f in _files(folder)) / 2**20, 1),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        **results,
        "speedup_vs_json_loads": round(results["json_loads"]["seconds"] / results["pipeline"]["seconds"], 2),
        "speedup_vs_orjson": round(results["orjson"]["seconds"] / results["pipeline"]["seconds"], 2),
        # CPU seconds (user + sys, all processes): the work done, whatever else the machine runs
        "cpu_ratio_json_loads_to_pipeline": round(results["json_loads"]["cpu_seconds"]
                                                  / results["pipeline"]["cpu_seconds"], 2),
        "cpu_breakdown": breakdown(folder, results["pipeline"]["cpu_seconds"], results["json_loads"]["seconds"],
                                   results["json_loads"]["cpu_seconds"]),
    }


def main() -> None:
    if not SHARED.is_dir():
        raise SystemExit(f"bench ingest needs the real dumps in {SHARED}")
    folder = WORK / f"real-{TARGET_BYTES >> 20}mb"
    size_file = folder / "size.txt"
    if not size_file.exists():
        print(f"building {folder} (about {TARGET_BYTES >> 20} MB of real lines) ...", file=sys.stderr)
        # in a child: this process stays small, so the measured processes start small
        subprocess.run([sys.executable, "-c", f"from bench.ingest import build_dumps; from pathlib import Path; "
                        f"Path({str(size_file)!r}).write_text(str(build_dumps(Path({str(folder)!r}))))"],
                       check=True, cwd=ROOT)
    report = {
        "corpus": {
            "real": "ethereum_daily, cmv and RC_2005-12 dumps as they are in ../shared/data (comments and "
                    "submissions)",
            "replicated": "the same real lines copied to ~320 MB, ids suffixed per copy",
        },
        "cpus": os.cpu_count(),
        "real": run_corpus(SHARED, _decompressed_bytes(_files(SHARED)) / 2**20),
        "replicated": run_corpus(folder, int(size_file.read_text()) / 2**20),
        "near_duplicate_agreement": near_duplicate_agreement(),
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
