"""The whole pipeline at scale: per-stage seconds, peak memory and output counts.

Corpora (``ALIGNX_BENCH_SCALE`` picks a comma-separated subset; default both):

- ``ethereum``: the real r/ethereum daily threads in ../shared/data/reddit/ethereum_daily
  (128,889 comments, 605 threads), dumps to release with the default offline annotator;
- ``synthetic``: ``ALIGNX_BENCH_SCALE_N`` comments (default 1,000,000) written by
  scripts/make_scale_corpus.py from real sentences, shaped like those threads.

Each stage runs in its own subprocess (``alignx run STAGE``), so its peak RSS (the process and
its pool workers) is its own. The data dir is bench/.work/scale-<corpus>, rebuilt from scratch.
Writes bench/results/scale.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
STAGES = ("ingest_reddit", "ingest_alignment", "anonymize", "annotate", "cluster", "assemble", "emit", "evaluate")
#: Runs one CLI command and prints the peak RSS (KiB) of it and of its children.
MEASURED = ("import resource, sys\n"
            "from alignx.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "print('PEAK_KIB', peak, file=sys.stderr)\n"
            "sys.exit(rc)\n")


def run_stage(stage: str, data_dir: Path, sets: list[str]) -> dict:
    env = {**os.environ, "ALIGNX_PSEUDONYM_KEY": "bench-scale-key-" + "s" * 40}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURED, "run", stage, "--data-dir", str(data_dir), *sets],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    peak = next(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB"))
    m = json.loads((data_dir / "work" / stage / "_manifest.json").read_text())
    return {"stage": stage, "seconds": round(seconds, 1), "peak_rss_mb": round(peak / 1024),
            "records_in": m["records_in"], "records_out": m["records_out"],
            "dropped": sum(m["dropped"].values()),
            "per_second_in": round(m["records_in"] / seconds, 1) if seconds else None}


def build(name: str, inputs: Path, extra: list[str]) -> dict:
    data_dir = WORK / f"scale-{name}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    sample = ROOT / "data" / "sample" / "alignment"
    sets = ["--set", f'ingest_reddit.inputs=["{inputs}"]', *extra]
    for key, f in (("pku", "pku_saferlhf"), ("ultrafeedback", "ultrafeedback"), ("helpsteer2", "helpsteer2")):
        sets += ["--set", f'ingest_alignment.{key}_inputs=["{sample / (f + ".jsonl")}"]']
    rows = [run_stage(s, data_dir, sets) for s in STAGES]
    emit = json.loads((data_dir / "work/emit/_manifest.json").read_text())["counts"]
    total = sum(r["seconds"] for r in rows)
    return {"corpus": name, "inputs": str(inputs), "stages": rows, "total_seconds": round(total, 1),
            "total_minutes": round(total / 60, 1), "peak_rss_mb": max(r["peak_rss_mb"] for r in rows),
            "release": {"train": emit.get("train"), "test": emit.get("test")}}


def main() -> None:
    chosen = os.environ.get("ALIGNX_BENCH_SCALE", "ethereum,synthetic").split(",")
    out = {"machine": {"cpus": os.cpu_count()}, "corpora": []}
    if "ethereum" in chosen:
        out["corpora"].append(build("ethereum", SHARED / "reddit" / "ethereum_daily", []))
    if "synthetic" in chosen:
        n = int(os.environ.get("ALIGNX_BENCH_SCALE_N", "1000000"))
        corpus = WORK / f"scale-corpus-{n}"
        if not corpus.exists():
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_scale_corpus.py"), "--comments", str(n),
                            "--out", str(corpus)], check=True)
        out["corpora"].append(build(f"synthetic-{n}", corpus, []))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    for c in out["corpora"]:
        print(f"{c['corpus']}: {c['total_minutes']} min, peak {c['peak_rss_mb']} MB, release {c['release']}")
        for r in c["stages"]:
            print(f"  {r['stage']:<16} {r['seconds']:>8.1f} s  {r['peak_rss_mb']:>6} MB  {r['records_in']:>9} in")


if __name__ == "__main__":
    main()
