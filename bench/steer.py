"""Yield a user can steer: release rows per million real comments under assemble's settings.

    python -m bench steer        # after `python -m bench scale --corpus ethereum` (make bench runs both)

Starts from the data dir the scale run left (bench/.work/scale-ethereum: the whole r/ethereum
corpus rated and clustered), copied to bench/.work/steer-ethereum, and reruns assemble and emit
once per setting below, everything upstream unchanged. For each: the release's train and test
rows, the Reddit targets and users, and rows per million comments read by ingest. The settings
are assemble's documented keys (docs/stages/assemble.md); what each trades is in the table of
docs/figures.md#steering-the-yield. Writes bench/results/steer.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench.scale import KEY, build_sets

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results"
#: (label, overrides): one setting changed from the defaults at a time.
VARIANTS = (
    ("defaults", ()),
    ("targets_per_user = 4", ("assemble.targets_per_user=4",)),
    ("targets_per_user = 8", ("assemble.targets_per_user=8",)),
    ("min_comments = 3", ("assemble.min_comments=3",)),
    ("min_comments = 8", ("assemble.min_comments=8",)),
    ("ugc_items = pair_items = 2", ("assemble.ugc_items=2", "assemble.pair_items=2")),
    ("test_share = test_thread_share = 0.1", ("assemble.test_share=0.1", "assemble.test_thread_share=0.1")),
)


def main(argv: list[str] | None = None) -> None:
    source = WORK / "scale-ethereum"
    scale = json.loads((RESULTS / "scale.json").read_text())["corpora"].get("ethereum")
    if not (source / "work" / "cluster" / "_manifest.json").exists() or scale is None:
        raise SystemExit(f"bench steer: no r/ethereum build in {source}; run `python -m bench scale --corpus "
                         f"ethereum` first")
    data_dir = WORK / "steer-ethereum"
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(source, data_dir, symlinks=True)
    sets = build_sets(scale["inputs"], scale.get("overrides") or [])
    env = {**os.environ, "ALIGNX_PSEUDONYM_KEY": KEY, "PYTHONPATH": str(ROOT)}
    comments = json.loads((data_dir / "work/ingest_reddit/_manifest.json").read_text())["records_in"]
    rows = []
    for label, overrides in VARIANTS:
        extra = [a for s in overrides for a in ("--set", s)]
        proc = subprocess.run([sys.executable, "-m", "cli", "run", "assemble", "emit", "--data-dir", str(data_dir),
                               *sets, *extra], cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"bench steer: {label} failed:\n{proc.stderr[-3000:]}")
        a = json.loads((data_dir / "work/assemble/_manifest.json").read_text())["counts"]
        e = json.loads((data_dir / "work/emit/_manifest.json").read_text())["counts"]
        released = e.get("train", 0) + e.get("test", 0)
        rows.append({"setting": label, "overrides": list(overrides), "release_rows": released,
                     "train_rows": e.get("train", 0), "test_rows": e.get("test", 0),
                     "test_targets": a.get("test_targets", 0), "users_with_targets": a.get("users.with_targets", 0),
                     "rows_per_million_comments": round(1e6 * released / comments, 1)})
        print(f"  {label:<40} {released:>6} rows  {rows[-1]['rows_per_million_comments']:>8} per M comments",
              file=sys.stderr, flush=True)
    out = {"corpus": "ethereum", "inputs": scale["inputs"], "comments_read": comments, "variants": rows,
           "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "comments_for_1_3_million_rows": {r["setting"]: round(1.3e6 / r["rows_per_million_comments"] * 1e6)
                                              for r in rows if r["rows_per_million_comments"]}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "steer.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
