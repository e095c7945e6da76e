"""Fault-injection suite (`make reliability`): kill every stage mid-way, corrupt a finished
shard, and check that every rerun ends with the release of an uninterrupted build.

For every stage and every kill point k (after 1 shard, after half of its shards), a build is
SIGKILLed after the k-th shard of that stage completes, then rerun; the rerun's release must be
byte-identical to the reference and the stage's manifest must show k shards resumed (nothing
done twice). Then one finished shard of a stage is corrupted (bytes flipped) before a killed
run resumes: its checksum no longer matches, so it is rebuilt, not used, and the release is
still identical. Then the failures a careful user meets (issue 17): the annotation endpoint
dying mid-build (nothing promoted, exit 1; the rerun sends only what failed and ends with the
release of an uninterrupted build against the same endpoint, dataset card and checksums included), two builds started at once on
one data dir (one exits 2, the other builds the reference release), and a tampered release
(`alignx verify` exits 1; the next run rebuilds it). Writes bench/results/reliability.json.
The fast subset of these runs in the test suite (tests/e2e/test_trust.py).
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


BUILD = ("--set", "ingest_reddit.inputs=raw/reddit", "--set", "execution.workers=2")


def run(data_dir: Path, *extra_env: tuple[str, str], check: bool = True, args: tuple[str, ...] = ()
        ) -> subprocess.CompletedProcess:
    env = {**ENV, **dict(extra_env)}
    proc = subprocess.run([sys.executable, "-m", "cli", "run", "--data-dir", str(data_dir), *BUILD, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"build failed in {data_dir}:\n{proc.stderr[-3000:]}")
    return proc


def release_of(data_dir: Path) -> Path:
    """The release folder of the default emit.version in ``data_dir``."""
    from pipeline.config import load_config
    from stages.emit.stage import release_dir

    return release_dir(load_config(), data_dir)


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
    from cli.stages import STAGES

    root = Path(tempfile.mkdtemp(prefix="alignx-reliability-"))
    reference = fresh(root, "reference")
    run(reference)
    expected = (release_of(reference) / "checksums.sha256").read_text()
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
            same = (release_of(d) / "checksums.sha256").read_text() == expected
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
                    "release_identical": (release_of(d) / "checksums.sha256").read_text() == expected})
    print(results[-1], file=sys.stderr)
    results += user_failures(root, expected)
    shutil.rmtree(root)
    ok = all(r.get("release_identical") and r.get("as_expected", True) for r in results) and all(
        r["resumed"] == r["killed_after"] for r in results if "killed_after" in r and r["killed"])
    out = ROOT / "bench" / "results" / "reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"passed": ok, "runs": results}, indent=2) + "\n")
    print(f"reliability: {'passed' if ok else 'FAILED'} ({len(results)} runs) -> {out}")
    raise SystemExit(0 if ok else 1)


def checksums(d: Path) -> str | None:
    path = release_of(d) / "checksums.sha256"
    return path.read_text() if path.exists() else None


def user_failures(root: Path, expected: str) -> list[dict]:
    """The endpoint dying mid-annotate, two concurrent writers, a tampered release."""
    sys.path.insert(0, str(ROOT / "tests"))
    from openai_server import OpenAIServer

    results = []
    with OpenAIServer() as server:
        llm = ("--set", "annotate.backend=openai", "--set", f"annotate.base_url={server.url}", "--set",
               "annotate.model=test-model", "--set", "annotate.max_retries=2", "--set", "annotate.timeout_s=5",
               "--set", "annotate.concurrency=4")
        key = ("OPENAI_API_KEY", "sk-reliability-" + "x" * 24)
        reference = fresh(root, "llm-reference")
        run(reference, key, args=llm)
        sent = server.chat_requests
        d = fresh(root, "llm-dies")
        server.chat_requests, server.die_after = 0, sent // 3
        died = run(d, key, args=llm, check=False)
        server.die_after, server.chat_requests = None, 0
        run(d, key, args=llm)
        results.append({"scenario": "endpoint dies after a third of annotate's requests",
                        "exit": died.returncode, "release_promoted_when_it_died": died.returncode == 0,
                        "resent": server.chat_requests, "failed_before": sent - sent // 3,
                        # only the failed items are asked again (a retry of a dead request costs more)
                        "as_expected": died.returncode == 1 and server.chat_requests <= sent - sent // 3,
                        "release_identical": checksums(d) == checksums(reference)})
        print(results[-1], file=sys.stderr)
    d = fresh(root, "two-writers")
    cmd = [sys.executable, "-m", "cli", "run", "--data-dir", str(d), *BUILD]
    env = {**ENV, "ALIGNX_INJECT_HOLD_LOCK_S": "3"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.DEVNULL) for _ in range(2)]
    codes = sorted(p.wait() for p in procs)
    results.append({"scenario": "two builds at once on one data dir", "exits": codes, "as_expected": codes == [0, 2],
                    "release_identical": checksums(d) == expected})
    print(results[-1], file=sys.stderr)
    shard = sorted(release_of(d).glob("train-*.parquet"))[0]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard.write_bytes(bytes(raw))
    verify = subprocess.run([sys.executable, "-m", "cli", "verify", "--data-dir", str(d)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True)
    run(d)
    after = subprocess.run([sys.executable, "-m", "cli", "verify", "--data-dir", str(d)], cwd=ROOT, env=ENV,
                           capture_output=True, text=True)
    results.append({"scenario": "a release shard tampered with", "verify_exit": verify.returncode,
                    "verify_exit_after_rerun": after.returncode,
                    "as_expected": verify.returncode == 1 and after.returncode == 0,
                    "release_identical": checksums(d) == expected})
    print(results[-1], file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
