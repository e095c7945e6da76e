"""The runner and manifests: skip when up to date, rerun on change, atomic output, resume after
a kill, a killed worker fails loudly. Runs the real ingest_reddit stage on real dumps."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipeline.io import sha256_file

from conftest import SAMPLE_REDDIT, alignx, copy_inputs

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

REAL_FILES = ("RC_2005-12.zst", "test_comments.json", "test_submissions.json")


def manifest(data_dir: Path, stage: str = "ingest_reddit") -> dict:
    return json.loads((data_dir / "work" / stage / "_manifest.json").read_text())


def output_hashes(data_dir: Path) -> dict[str, str]:
    """Outputs by their path inside the stage's output folder -> sha256 of the bytes on disk."""
    m = manifest(data_dir)
    out = {}
    for path in m["outputs"]:
        full = data_dir / path
        out[path.split("/", 3)[3]] = sha256_file(full)
    return out


@pytest.fixture(scope="module")
def ingested_once(tmp_path_factory, reddit_dir) -> Path:
    """The inputs ingested once per module, serially (workers never change outputs)."""
    d = tmp_path_factory.mktemp("ingested") / "data"
    copy_inputs([reddit_dir / f for f in REAL_FILES] + sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=1", data_dir=d)
    return d


@pytest.fixture
def ingested() -> None:
    """Marks a test (usefixtures) whose data_dir starts as a copy of ``ingested_once``."""


@pytest.fixture
def data_dir(request, tmp_path, reddit_dir) -> Path:
    """The inputs in a fresh data dir; for a test marked usefixtures("ingested"), a copy of the
    module's finished ingest instead, so the test's own first run of it is found up to date."""
    d = tmp_path / "data"
    if "ingested" in request.fixturenames:
        shutil.copytree(request.getfixturevalue("ingested_once"), d)
    else:
        copy_inputs([reddit_dir / f for f in REAL_FILES] + sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    return d


#: The heuristic English test: what these tests check does not depend on which test decides
#: English, and lingua's models cost about 8 CPU s to load in each process of each run.
RAW = ("--set", "ingest_reddit.inputs=raw/reddit", "--set", "ingest_reddit.language_id=heuristic")


@pytest.mark.usefixtures("ingested")
def test_second_run_skips_and_status_says_up_to_date(data_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    first = (data_dir / "work/ingest_reddit/_manifest.json").read_bytes()
    proc = alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    assert "ingest_reddit: up to date, skipped" in proc.stderr
    assert (data_dir / "work/ingest_reddit/_manifest.json").read_bytes() == first
    status = alignx("status", *RAW, data_dir=data_dir).stdout
    assert re.search(r"ingest_reddit +up to date", status)


@pytest.mark.usefixtures("ingested")
def test_manifest_has_the_lock_keys(data_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    m = manifest(data_dir)
    for key in ("stage", "stage_version", "config_hash", "config", "inputs", "outputs", "records_in",
                "records_out", "dropped", "started_at", "finished_at", "seconds", "code_version"):
        assert key in m
    assert set(m["inputs"]) == {f"raw/reddit/{f}" for f in (*REAL_FILES, "RC_2024-03.zst", "RS_2024-03.zst")}
    for path, info in m["outputs"].items():
        assert sha256_file(data_dir / path) == info["sha256"]
        if path.endswith(".parquet"):
            assert info["rows"] >= 0
    assert m["records_in"] == m["records_out"] + sum(m["dropped"].values())


@pytest.mark.usefixtures("ingested")
def test_config_change_makes_stage_stale_and_reruns(data_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    before = manifest(data_dir)
    status = alignx("status", *RAW, "--set", "ingest_reddit.min_length=40", data_dir=data_dir).stdout
    assert "stale" in status and "config changed: ingest_reddit.min_length" in status
    alignx("run", "ingest_reddit", *RAW, "--set", "ingest_reddit.min_length=40", data_dir=data_dir)
    after = manifest(data_dir)
    assert after["config_hash"] != before["config_hash"]
    assert after["dropped"]["too_short"] > before["dropped"]["too_short"]
    # workers never make a stage stale
    status = alignx("status", *RAW, "--set", "ingest_reddit.min_length=40", "--set", "execution.workers=1",
                    data_dir=data_dir).stdout
    assert "up to date" in status


def test_new_input_reruns_only_its_shard(data_dir, reddit_dir):
    (data_dir / "raw/reddit/test_submissions.json").unlink()
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    assert manifest(data_dir)["shards"] == {"total": 4, "resumed": 0}
    shutil.copy2(reddit_dir / "test_submissions.json", data_dir / "raw/reddit/")
    status = alignx("status", *RAW, data_dir=data_dir).stdout
    assert "new input: raw/reddit/test_submissions.json" in status
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    assert manifest(data_dir)["shards"] == {"total": 5, "resumed": 4}


@pytest.mark.usefixtures("ingested")
def test_failed_run_leaves_previous_output_intact(data_dir, reddit_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    good_manifest = (data_dir / "work/ingest_reddit/_manifest.json").read_bytes()
    good_outputs = output_hashes(data_dir)
    truncated = (reddit_dir / "RC_2005-12.zst").read_bytes()[:60_000]
    (data_dir / "raw/reddit/RC_2005-13.zst").write_bytes(truncated)
    proc = alignx("run", "ingest_reddit", *RAW, data_dir=data_dir, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "RC_2005-13.zst" in proc.stderr and "truncated" in proc.stderr and "60,000" in proc.stderr
    assert (data_dir / "work/ingest_reddit/_manifest.json").read_bytes() == good_manifest
    assert output_hashes(data_dir) == good_outputs
    assert not list((data_dir / "work/ingest_reddit").glob(".tmp-*"))
    assert not list((data_dir / "work/ingest_reddit/parts").glob(".tmp-*"))


def test_killed_run_resumes_and_matches_uninterrupted_run(data_dir, tmp_path, ingested_once):
    clean = tmp_path / "clean"
    shutil.copytree(ingested_once, clean)  # the uninterrupted run: the module's (the run below is up to date)
    copy_inputs(sorted((data_dir / "raw/reddit").iterdir()), clean / "raw" / "reddit")
    alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=1", data_dir=clean)

    proc = alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=1", data_dir=data_dir, check=False,
                  env={"ALIGNX_INJECT_KILL_AFTER_SHARDS": "2"})
    assert proc.returncode == -9  # SIGKILL
    assert not (data_dir / "work/ingest_reddit/_manifest.json").exists()
    assert len(list((data_dir / "work/ingest_reddit/parts").glob("*/_SUCCESS.json"))) == 2

    alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=1", data_dir=data_dir)
    m = manifest(data_dir)
    assert m["shards"] == {"total": 5, "resumed": 2}
    assert output_hashes(data_dir) == output_hashes(clean)
    assert m["records_out"] == manifest(clean)["records_out"]
    assert m["dropped"] == manifest(clean)["dropped"]


def test_parallel_and_serial_runs_give_identical_outputs(data_dir, tmp_path, ingested_once):
    serial = tmp_path / "serial"
    shutil.copytree(ingested_once, serial)  # the serial run: the module's (the run below is up to date)
    copy_inputs(sorted((data_dir / "raw/reddit").iterdir()), serial / "raw" / "reddit")
    alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=1", data_dir=serial)
    alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=2", data_dir=data_dir)
    assert output_hashes(data_dir) == output_hashes(serial)


@pytest.mark.timeout(120)
def test_killed_worker_fails_the_stage_instead_of_hanging(data_dir):
    proc = alignx("run", "ingest_reddit", *RAW, "--set", "execution.workers=2", data_dir=data_dir, check=False,
                  env={"ALIGNX_INJECT_KILL_WORKER_ON_SHARD": "test_comments.json"})
    assert proc.returncode == 1
    assert "worker process died" in proc.stderr and "rerun to resume" in proc.stderr
    assert not (data_dir / "work/ingest_reddit/_manifest.json").exists()
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    assert manifest(data_dir)["shards"]["total"] == 5


@pytest.mark.usefixtures("ingested")
def test_modified_output_is_detected_and_rebuilt(data_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    m = manifest(data_dir)
    victim = next(p for p in m["outputs"] if p.endswith("users.parquet"))
    raw = bytearray((data_dir / victim).read_bytes())
    raw[100] ^= 0xFF
    (data_dir / victim).write_bytes(bytes(raw))
    status = alignx("status", *RAW, data_dir=data_dir).stdout
    assert f"output modified: {victim}" in status
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    assert sha256_file(data_dir / victim) == m["outputs"][victim]["sha256"]


def test_unknown_stage_is_a_clear_error(tmp_path):
    proc = alignx("run", "ingest_redit", data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "did you mean 'ingest_reddit'" in proc.stderr


@pytest.mark.usefixtures("ingested")
def test_disk_full_is_a_clear_error_and_leaves_the_previous_output(data_dir):
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)
    good_manifest = (data_dir / "work/ingest_reddit/_manifest.json").read_bytes()
    good_outputs = output_hashes(data_dir)
    proc = alignx("run", "ingest_reddit", *RAW, "--force", data_dir=data_dir, check=False,
                  env={"ALIGNX_INJECT_ENOSPC_AFTER_WRITES": "4"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "disk full while writing" in proc.stderr and "previous output and manifest are intact" in proc.stderr
    assert (data_dir / "work/ingest_reddit/_manifest.json").read_bytes() == good_manifest
    assert output_hashes(data_dir) == good_outputs
    assert not list((data_dir / "work/ingest_reddit").glob(".tmp-*"))
    alignx("run", "ingest_reddit", *RAW, data_dir=data_dir)  # space is back: the rerun finishes


def test_killed_parallel_run_leaves_no_orphan_workers(data_dir):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    # SIGKILL the runner after its first shard while a pool of 2 workers is busy; the workers must
    # follow it (otherwise they hold the pipes open and a caller waiting for EOF hangs forever)
    env = {**os.environ, "ALIGNX_INJECT_KILL_AFTER_SHARDS": "1"}
    proc = subprocess.run([sys.executable, "-m", "cli", "run", "ingest_reddit", *RAW, "--set",
                           "execution.workers=2", "--data-dir", str(data_dir)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    # subprocess.run returned: every process holding the output pipes (the workers) has exited
    assert proc.returncode == -9


def test_a_step_in_its_own_process_returns_raises_or_fails_the_stage_clearly():
    """``pipeline.executors.in_own_process`` (cluster's topic fit): the function's result; its
    exception, raised as it was; a process that dies (here ``os._exit``) is a StageFailed naming
    the step, not a hang or a bare BrokenProcessPool."""
    import os

    from pipeline.errors import StageFailed
    from pipeline.executors import in_own_process

    assert in_own_process("sum", sum, [1, 2, 3]) == 6
    with pytest.raises(ValueError):
        in_own_process("int", int, "not a number")
    with pytest.raises(StageFailed, match="die: its process died"):
        in_own_process("die", os._exit, 1)
