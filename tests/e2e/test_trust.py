"""A build that cannot report success falsely (issue 17): each failure a careful user found,
reproduced on the demo build and real Reddit files, and what the pipeline must say and do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import zstandard as zstd

from conftest import DEMO_ARGS, DEMO_ENV, ROOT, alignx, release_of
from openai_server import OpenAIServer

KEY = "sk-test-" + "s3cr3t" * 6  # shaped like a real key, so a leak is easy to find
OPENAI = ("--set", "annotate.backend=openai", "--set", "annotate.model=test-model",
          "--set", "annotate.timeout_s=2.0", "--set", "annotate.max_retries=0")


def copy_build(built, tmp_path: Path) -> Path:
    src, _ = built
    d = tmp_path / "data"
    shutil.copytree(src, d, symlinks=True)
    return d


def snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) for p in d.rglob("*") if p.is_file()}


def shards_of(release: Path) -> list[str]:
    """The checksum lines of the release's parquet shards."""
    return [line for line in (release / "checksums.sha256").read_text().splitlines() if line.endswith(".parquet")]


def status_lines(d: Path, *args: str) -> dict[str, str]:
    out = alignx("status", *DEMO_ARGS, *args, data_dir=d, env=DEMO_ENV).stdout
    return {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}


# -- 1. a dead endpoint ------------------------------------------------------------------------
@pytest.mark.e2e
def test_a_dead_endpoint_fails_naming_it_and_ships_nothing(built, tmp_path):
    d = copy_build(built, tmp_path)
    release = release_of(d)
    before = (release / "checksums.sha256").read_text()
    dead = ("--set", "annotate.base_url=http://127.0.0.1:9/v1")
    proc = alignx("run", *DEMO_ARGS, *OPENAI, *dead, data_dir=d, env={**DEMO_ENV, "OPENAI_API_KEY": KEY},
                  check=False)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("alignx: failed: annotate: 342 of 342 comments failed")
    assert "http://127.0.0.1:9/v1" in last and "execution.max_failed_share=0.01" in last
    assert "Traceback" not in proc.stderr
    assert (release / "checksums.sha256").read_text() == before  # the release was not touched
    lines = status_lines(d, *OPENAI, *dead)
    assert "up to date" not in lines["annotate"]  # the next run retries, never "skipped"
    assert KEY not in proc.stderr


@pytest.mark.e2e
def test_failed_items_make_the_stage_incomplete_and_a_rerun_retries_exactly_them(built, tmp_path):
    d = copy_build(built, tmp_path)
    with OpenAIServer() as server:
        args = (*OPENAI, "--set", f"annotate.base_url={server.url}", "--set", "annotate.concurrency=1")
        env = {**DEMO_ENV, "OPENAI_API_KEY": KEY}
        server.faults.extend(["500", "echo_key"])  # two of 342 requests fail: 0.5%, under the 1% limit
        proc = alignx("run", *DEMO_ARGS, *args, data_dir=d, env=env, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "cluster not run: upstream annotate is incomplete: 2 failed" in proc.stderr.splitlines()[-1]
        m = json.loads((d / "work/annotate/_manifest.json").read_text())
        assert m["failed"] == 2 and m["records_in"] == m["records_out"] + sum(m["dropped"].values())
        assert m["unit"] == "comments"
        lines = status_lines(d, *args)
        assert "incomplete: 2 failed (failed_http_401 1, failed_http_500 1)" in lines["annotate"]
        # no secret in the stored error, the cache, or any log
        errors = pl.concat([pl.read_parquet(f) for f in (d / "work/annotate").glob("out-*/ratings/*.parquet")])
        stored = errors.filter(pl.col("status") == "failed")["error"].to_list()
        assert len(stored) == 2 and any("<redacted>" in e for e in stored)
        for p in [*(d / "work").rglob("*"), *(d / "cache").rglob("*"), *(d / "release").rglob("*")]:
            if p.is_file():
                assert KEY.encode() not in p.read_bytes(), p
        sent = server.chat_requests
        alignx("run", *DEMO_ARGS, *args, data_dir=d, env=env)  # retries the two, then the rest of the build
        assert server.chat_requests - sent == 2
        m = json.loads((d / "work/annotate/_manifest.json").read_text())
        assert m["failed"] == 0 and m["records_out"] == 342
        assert "up to date" in status_lines(d, *args)["emit"]


@pytest.mark.e2e
def test_an_endpoint_dying_mid_annotate_promotes_nothing_and_the_rerun_finishes(built, tmp_path):
    d = copy_build(built, tmp_path)
    release = release_of(d)
    with OpenAIServer() as server:
        args = (*OPENAI, "--set", f"annotate.base_url={server.url}", "--set", "annotate.concurrency=4")
        env = {**DEMO_ENV, "OPENAI_API_KEY": KEY}
        reference = tmp_path / "reference"
        shutil.copytree(d, reference, symlinks=True)
        alignx("run", *DEMO_ARGS, *args, data_dir=reference, env=env)
        expected = shards_of(release_of(reference))
        before = (release / "checksums.sha256").read_text()
        server.chat_requests, server.die_after = 0, 150
        proc = alignx("run", *DEMO_ARGS, *args, data_dir=d, env=env, check=False)
        assert proc.returncode == 1 and "comments failed (failed_http_500" in proc.stderr.splitlines()[-1]
        assert (release / "checksums.sha256").read_text() == before  # nothing promoted
        server.chat_requests, server.die_after = 0, None
        alignx("run", *DEMO_ARGS, *args, data_dir=d, env=env)
        assert server.chat_requests == 342 - 150  # only what had failed was asked again
        # the same examples (the card differs: it reports the tokens this build paid for)
        assert shards_of(release) == expected
        assert alignx("verify", data_dir=d, env=DEMO_ENV).returncode == 0


# -- 2. one writer per data dir ----------------------------------------------------------------
@pytest.mark.e2e
def test_a_second_writer_exits_at_once_naming_the_holder(built, tmp_path):
    d = copy_build(built, tmp_path)
    from pipeline.lock import writer_lock

    with writer_lock(d, "alignx run"):
        proc = alignx("run", *DEMO_ARGS, data_dir=d, env=DEMO_ENV, check=False)
        assert proc.returncode == 2
        assert f"is in use by another alignx (alignx run, pid {os.getpid()}, started " in proc.stderr
        proc = alignx("forget", "--author", "someone", data_dir=d, env=DEMO_ENV, check=False)
        assert proc.returncode == 2 and "in use by another alignx" in proc.stderr
        # readers do not wait for writers
        assert alignx("status", *DEMO_ARGS, data_dir=d, env=DEMO_ENV).returncode == 0
        waiting = subprocess.Popen([sys.executable, "-m", "cli", "run", *DEMO_ARGS, "--wait", "--data-dir", str(d)],
                                   cwd=ROOT, env={**os.environ, **DEMO_ENV}, stderr=subprocess.PIPE, text=True)
        import time

        time.sleep(3)
        assert waiting.poll() is None  # still waiting for the lock
    assert waiting.wait(timeout=300) == 0, waiting.stderr.read()  # ran once the holder let go
    assert alignx("run", *DEMO_ARGS, data_dir=d, env=DEMO_ENV).returncode == 0


@pytest.mark.e2e
def test_two_builds_at_once_one_writes_and_the_result_is_whole(tmp_path):
    from conftest import SAMPLE_REDDIT, copy_inputs

    d = tmp_path / "data"
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    cmd = [sys.executable, "-m", "cli", "run", *DEMO_ARGS, "--data-dir", str(d)]
    env = {**os.environ, **DEMO_ENV}
    env["ALIGNX_INJECT_HOLD_LOCK_S"] = "3"  # whoever takes the lock first surely still holds it
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    assert "in use by another alignx" in next(err for rc, err in results if rc == 2)
    assert alignx("verify", data_dir=d, env=DEMO_ENV).returncode == 0
    assert all("up to date" in line for line in status_lines(d).values())


@pytest.mark.e2e
def test_readers_write_nothing_and_survive_a_closed_pipe(built):
    d, _ = built
    before = snapshot(d)
    alignx("status", *DEMO_ARGS, data_dir=d, env=DEMO_ENV)
    alignx("verify", data_dir=d, env=DEMO_ENV)
    alignx("audit-privacy", data_dir=d, env=DEMO_ENV)
    assert snapshot(d) == before
    proc = subprocess.run(f"{sys.executable} -m cli status --data-dir {d} | head -1", shell=True, cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **DEMO_ENV})
    assert proc.stdout.count("\n") == 1 and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# -- 3. the release under the manifest ---------------------------------------------------------
@pytest.mark.e2e
def test_a_tampered_release_is_found_by_verify_and_status_and_rebuilt(built, tmp_path):
    d = copy_build(built, tmp_path)
    release = release_of(d)
    assert "ok" in alignx("verify", str(release), data_dir=d, env=DEMO_ENV).stdout
    shard = sorted(release.glob("train-*.parquet"))[0]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard.write_bytes(bytes(raw))
    proc = alignx("verify", str(release), data_dir=d, env=DEMO_ENV, check=False)
    assert proc.returncode == 1
    assert f"MISMATCH {shard}: sha256 differs from checksums.sha256" in proc.stdout
    assert "stage emit's manifest" in proc.stdout
    assert f"output modified: {release.relative_to(d)}/{shard.name}" in status_lines(d)["emit"]
    alignx("run", *DEMO_ARGS, data_dir=d, env=DEMO_ENV)
    assert alignx("verify", data_dir=d, env=DEMO_ENV).returncode == 0
    shutil.rmtree(release)
    assert f"output missing: {release.relative_to(d)}/" in status_lines(d)["emit"]
    alignx("run", *DEMO_ARGS, data_dir=d, env=DEMO_ENV)
    assert alignx("verify", data_dir=d, env=DEMO_ENV).returncode == 0
    # a stage's own output, and a row that breaks the schema
    out = next((d / "work/assemble").glob("out-*"))
    assert alignx("verify", str(out), data_dir=d, env=DEMO_ENV).returncode == 0
    df = pl.read_parquet(shard).with_columns(pl.lit("bogus").alias("persona_type"))
    df.write_parquet(shard)
    (release / "checksums.sha256").write_text("".join(
        f"{__import__('hashlib').sha256(f.read_bytes()).hexdigest()}  {f.name}\n"
        for f in sorted(release.iterdir()) if f.name != "checksums.sha256"))
    proc = alignx("verify", str(release), data_dir=d, env=DEMO_ENV, check=False)
    assert proc.returncode == 1 and "persona_type: 'bogus' is not one of" in proc.stdout


# -- 4. every record accounted for ------------------------------------------------------------
@pytest.mark.e2e
def test_every_stage_balances_in_its_unit(built):
    d, _ = built
    for path in sorted((d / "work").glob("*/_manifest.json")):
        m = json.loads(path.read_text())
        assert m["unit"], m["stage"]
        assert m["records_in"] == m["records_out"] + sum(m["dropped"].values()), m["stage"]


def _real_lines(reddit_dir: Path, n: int) -> list[dict]:
    """The first n comments of the real r/ethereum daily threads."""
    out = []
    reader = zstd.ZstdDecompressor(max_window_size=2**31).stream_reader(
        open(reddit_dir / "ethereum_daily/ethereum_comments.zst", "rb"))
    buf = b""
    while len(out) < n:
        buf += reader.read(1 << 16)
        *lines, buf = buf.split(b"\n")
        out += [json.loads(x) for x in lines if x.strip()]
    return out[:n]


@pytest.mark.e2e
def test_broken_comments_are_dropped_by_name_and_counted(reddit_dir, tmp_path):
    records = _real_lines(reddit_dir, 60)
    records[0].pop("body")
    records[1]["body"] = None
    records[2].pop("link_id")
    records[3]["created_utc"] = "2024-03-01T12:00:00"
    d = tmp_path / "data"
    raw = d / "raw"
    raw.mkdir(parents=True)
    (raw / "ethereum_comments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    alignx("run", "ingest_reddit", "--set", "ingest_reddit.inputs=raw", data_dir=d)
    m = json.loads((d / "work/ingest_reddit/_manifest.json").read_text())
    assert m["dropped"]["missing_body"] == 2 and m["dropped"]["missing_link_id"] == 1
    assert m["dropped"]["bad_created_utc"] == 1 and "missing_id" not in m["dropped"]
    assert m["records_in"] == 60 == m["records_out"] + sum(m["dropped"].values())
    # an empty dump is an error, unless accepted
    (raw / "RC_2024-04.zst").write_bytes(b"")
    proc = alignx("run", "ingest_reddit", "--set", "ingest_reddit.inputs=raw", data_dir=d, check=False)
    assert proc.returncode == 2 and "RC_2024-04.zst: the dump holds no records (0 bytes, an empty file)" in proc.stderr
    alignx("run", "ingest_reddit", "--set", "ingest_reddit.inputs=raw", "--set",
           "ingest_reddit.allow_empty_inputs=true", data_dir=d)


# -- 5. user errors are one line ---------------------------------------------------------------
@pytest.mark.parametrize("setting, message", [
    ('ingest_reddit.subreddits_allow=["AskMen"', "the value is not valid TOML"),
    ("ingest_reddit.bot_pattern=(bot", "'ingest_reddit.bot_pattern' = \"(bot\" is not a valid regular expression"),
    ("ingest_reddit.author_buckets=-1", "'ingest_reddit.author_buckets' = -1 must be >= 0"),
    ("ingest_reddit.max_bad_line_share=-1", "'ingest_reddit.max_bad_line_share' = -1.0 must be >= 0"),
    ("ingest_reddit.min_length=6000", "'ingest_reddit.min_length' = 6000 is greater than 'ingest_reddit.max_length'"),
    ("execution.workers=-1", "'execution.workers' = -1 must be >= 0"),
    ("annotate.backend=gpt", "'annotate.backend' = \"gpt\" must be one of \"embedding\", \"openai\", \"openai-batch\""),
])
@pytest.mark.e2e
def test_a_bad_setting_is_one_line_before_any_stage_runs(setting, message, tmp_path):
    proc = alignx("run", "--set", setting, data_dir=tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "work" / "ingest_reddit").exists()  # nothing ran


# -- 6. corruption -----------------------------------------------------------------------------
def test_dumps_we_write_carry_checksums_so_every_bit_flip_is_caught(reddit_dir, tmp_path):
    import random

    from alignx.dumps import DumpError, DumpWriter, iter_line_chunks

    records = _real_lines(reddit_dir, 400)
    path = tmp_path / "RC_real.zst"
    with DumpWriter(path) as w:
        for r in records:
            w.write(r)
    raw = path.read_bytes()
    assert zstd.get_frame_parameters(raw).has_checksum
    rng = random.Random(17)
    caught = 0
    for trial in range(40):
        data = bytearray(raw)
        pos = rng.randrange(20, len(data) - 4)  # past the frame header, before the checksum
        data[pos] ^= 1 << rng.randrange(8)
        bad = tmp_path / f"flip-{trial}.zst"
        bad.write_bytes(bytes(data))
        try:
            for _ in iter_line_chunks(bad):
                pass
        except DumpError:
            caught += 1
    assert caught == 40


@pytest.mark.e2e
def test_published_checksums_are_verified_before_ingest(reddit_dir, tmp_path):
    d = tmp_path / "data"
    raw = d / "raw"
    raw.mkdir(parents=True)
    shutil.copy2(reddit_dir / "RC_2005-12.zst", raw / "RC_2005-12.zst")
    from pipeline.io import sha256_file

    good = sha256_file(raw / "RC_2005-12.zst")
    (d / "sums.txt").write_text(f"{good}  RC_2005-12.zst\n")
    alignx("run", "ingest_reddit", "--set", "ingest_reddit.inputs=raw", "--set", "ingest_reddit.checksums=sums.txt",
           data_dir=d)
    # another month's valid dump under this month's name: zstd cannot tell, the published hash does
    from conftest import SAMPLE_REDDIT

    shutil.copy2(SAMPLE_REDDIT / "RC_2024-03.zst", raw / "RC_2005-12.zst")
    other = sha256_file(raw / "RC_2005-12.zst")
    proc = alignx("run", "ingest_reddit", "--set", "ingest_reddit.inputs=raw", "--set",
                  "ingest_reddit.checksums=sums.txt", data_dir=d, check=False)
    assert proc.returncode == 2
    assert f"RC_2005-12.zst: sha256 {other} differs from {good} listed in {d / 'sums.txt'}" in proc.stderr
