"""What an LLM annotator would cost on a month of real threads: ``alignx annotate --estimate``.

    python -m bench annotate_estimate     # r/ethereum daily threads, March 2025

Builds ``ingest_reddit`` and ``anonymize`` (default config) on the r/ethereum daily threads in
../shared/data/reddit/ethereum_daily restricted to [2025-03-01, 2025-04-01), into
bench/.work/annotate-estimate (rebuilt each run), then runs ``alignx annotate --estimate`` with the
``openai`` backend and the default model (gpt-4o-mini: its o200k_base tokenizer, bundled by
bpe-openai) for the default settings, and for one comment a request (what every request cost
before requests carried several comments behind the shared prefix). Nothing is sent to any
endpoint: input tokens are the planned requests counted with the model's tokenizer, output tokens
the sparse answers the hand-labelled reference set's labels give (annotators/estimate.py).

Writes bench/results/annotate_estimate.json (docs/figures.md renders it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = ROOT / "bench" / ".work" / "annotate-estimate"
RESULTS = ROOT / "bench" / "results"
WINDOW = ("2025-03-01", "2025-04-01")
#: The issue's target (issue 29, item 5): per rated comment.
TARGETS = {"tokens_in_per_comment_max": 600, "tokens_out_per_comment_max": 100}
ENV = {**os.environ, "ALIGNX_PSEUDONYM_KEY": "bench-estimate-key-" + "e" * 40, "OPENAI_API_KEY": "sk-bench-estimate",
       "PYTHONPATH": str(ROOT)}


def alignx(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "cli", *args, "--data-dir", str(WORK)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"alignx {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def estimate(*sets: str) -> dict:
    """The figures ``alignx annotate --estimate`` prints, read back from its output."""
    from annotators.estimate import estimate as run
    from pipeline.config import load_config
    from pipeline.manifest import read_manifest, resolve

    config = load_config(overrides=["annotate.backend=openai", *sets])
    m = read_manifest(WORK, "anonymize")
    files = sorted(resolve(WORK, p) for p in m["outputs"] if "/threads/" in p)
    out = alignx("annotate", "--estimate", "--set", "annotate.backend=openai", *(x for s in sets for x in ("--set", s)))
    e = run(config.section("annotate"), WORK, files, config["assemble.min_comments"], config["assemble.pairs_from"])
    # the command line prints what the function returns
    assert f"{e['to_send']} to send in {e['requests']} requests" in out, out
    e["cost_usd"] = round(e["cost_usd"], 4)
    return e


def main(argv: list[str] | None = None) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    raw = SHARED / "reddit" / "ethereum_daily"
    alignx("run", "ingest_reddit", "anonymize", "--set", f'ingest_reddit.inputs=["{raw}"]',
           "--set", f"ingest_reddit.date_from={WINDOW[0]}", "--set", f"ingest_reddit.date_to={WINDOW[1]}")
    default = estimate()
    one = estimate("annotate.items_per_request=1")
    batch = estimate("annotate.backend=openai-batch")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    report = {
        "corpus": f"r/ethereum daily threads, {WINDOW[0]} to {WINDOW[1]} (exclusive): ../shared/data/reddit/ethereum_daily",
        "command": "python -m bench annotate_estimate",
        "commit": commit.strip(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "targets": TARGETS,
        "default": default, "one_comment_a_request": one,
        "batch_cost_usd": batch["cost_usd"],
        "meets_targets": default["tokens_in_per_comment"] <= TARGETS["tokens_in_per_comment_max"]
        and default["tokens_out_per_comment"] <= TARGETS["tokens_out_per_comment_max"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "annotate_estimate.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "one_comment_a_request"}, indent=2))
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
