"""Fault-injection suite (`make reliability`): kill every stage mid-way, corrupt a finished
shard, and check that every rerun ends with the release of an uninterrupted build.

For every stage and every kill point k (after 1 shard, after half of its shards), a build is
SIGKILLed after the k-th shard of that stage completes, then rerun; the rerun's release must be
byte-identical to the reference and the stage's manifest must show k shards resumed (nothing
done twice). Then one finished shard of a stage is corrupted (bytes flipped) before a killed
run resumes: its checksum no longer matches, so it is rebuilt, not used, and the release is
still identical. Writes bench/results/reliability.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "ALIGNX_PSEUDONYM_KEY": "reliability-key-" + "k" * 40}


def run(data_dir: Path, *extra_env: tuple[str, str], check: bool = True) -> subprocess.CompletedProcess:
    env = {**ENV, **dict(extra_env)}
    proc = subprocess.run([sys.executable, "-m", "alignx", "run", "--data-dir", str(data_dir), "--set",
                           "ingest_reddit.inputs=raw/reddit", "--set", "execution.workers=2"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"build failed in {data_dir}:\n{proc.stderr[-3000:]}")
    return proc


def fresh(root: Path, name: str) -> Path:
    d = root / name / "data"
    (d / "raw" / "reddit").mkdir(parents=True)
    for f in (ROOT / "data/sample/reddit").glob("*.zst"):
        shutil.copy2(f, d / "raw/reddit" / f.name)
    shutil.copytree(ROOT / "data/sample/alignment", d / "sample/alignment")
    return d


def shards_of(data_dir: Path, stage: str) -> int:
    return json.loads((data_dir / "work" / stage / "_manifest.json").read_text())["shards"]["total"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from stages import STAGES

    root = Path(tempfile.mkdtemp(prefix="alignx-reliability-"))
    reference = fresh(root, "reference")
    run(reference)
    expected = (reference / "release/0.1.0/checksums.sha256").read_text()
    results = []
    for stage in STAGES:
        total = shards_of(reference, stage.name)
        for k in sorted({1, max(1, total // 2)}):
            if k >= total:
                continue  # a one-shard stage: the kill after it lands after the work, tested below
            d = fresh(root, f"{stage.name}-k{k}")
            killed = run(d, ("ALIGNX_INJECT_KILL_STAGE", stage.name), ("ALIGNX_INJECT_KILL_AFTER_SHARDS", str(k)),
                         check=False)
            run(d)
            resumed = json.loads((d / "work" / stage.name / "_manifest.json").read_text())["shards"]["resumed"]
            same = (d / "release/0.1.0/checksums.sha256").read_text() == expected
            results.append({"stage": stage.name, "shards": total, "killed_after": k,
                            "killed": killed.returncode == -9, "resumed": resumed, "release_identical": same})
            print(results[-1], file=sys.stderr)
            shutil.rmtree(d.parent)
    # a corrupted finished shard is detected by its checksum and rebuilt
    d = fresh(root, "corrupt")
    run(d, ("ALIGNX_INJECT_KILL_STAGE", "ingest_reddit"), ("ALIGNX_INJECT_KILL_AFTER_SHARDS", "1"), check=False)
    part = next((d / "work/ingest_reddit/parts").glob("*/dropped-00000.arrow"))
    raw = bytearray(part.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    part.write_bytes(bytes(raw))
    run(d)
    m = json.loads((d / "work/ingest_reddit/_manifest.json").read_text())
    results.append({"stage": "ingest_reddit", "corrupted_part": part.parent.name, "resumed": m["shards"]["resumed"],
                    "release_identical": (d / "release/0.1.0/checksums.sha256").read_text() == expected})
    print(results[-1], file=sys.stderr)
    shutil.rmtree(root)
    ok = all(r.get("release_identical") for r in results) and all(
        r["resumed"] == r["killed_after"] for r in results if "killed_after" in r and r["killed"])
    out = ROOT / "bench" / "results" / "reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"passed": ok, "runs": results}, indent=2) + "\n")
    print(f"reliability: {'passed' if ok else 'FAILED'} ({len(results)} runs) -> {out}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
