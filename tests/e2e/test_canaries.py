"""Canaries (issue 20): planted into a copy of the input by `alignx run --canaries`, they never
reach the release, and the audit fails a release built with scrubbing turned off."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from alignx.dumps import iter_records
from alignx.privacy.canaries import KINDS

from conftest import DEMO_ARGS, DEMO_ENV, SAMPLE_REDDIT, alignx, copy_inputs, release_of

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

#: every scrub layer of the anonymize stage off (emit's last pass still catches some kinds)
SCRUB_OFF = [x for k in ("mentions", "author_names", "person_names", "emails", "phones", "ips", "cards",
                         "national_ids", "bank_accounts", "birth_dates", "crypto", "handles", "addresses",
                         "profile_links", "reddit_links")
             for x in ("--set", f"anonymize.{k}=false")]


def build(data_dir: Path, *extra: str) -> Path:
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), data_dir / "raw" / "reddit")
    alignx("run", "--canaries", *DEMO_ARGS, *extra, data_dir=data_dir, env=DEMO_ENV)
    return release_of(data_dir)


def digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


@pytest.fixture(scope="module")
def scrubbed(tmp_path_factory):
    d = tmp_path_factory.mktemp("canaries") / "data"
    raw_before = None
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    raw_before = digest(d / "raw")
    release = build(d)
    return d, release, raw_before


def test_canaries_are_planted_in_a_copy_never_in_raw(scrubbed):
    d, _, raw_before = scrubbed
    assert digest(d / "raw") == raw_before  # the input itself is untouched
    planted = json.loads((d / "private" / "canaries.json").read_text())
    assert {c["kind"] for c in planted} == set(KINDS)
    copy = "\n".join(r.get("body") or "" for f in sorted((d / "work" / "canaries" / "input").rglob("*.zst"))
                     for _, r in iter_records(f))
    for c in planted:
        assert c["secret"] in copy and c["sentence"] in copy
    raw = "\n".join(r.get("body") or "" for f in sorted((d / "raw").rglob("*.zst")) for _, r in iter_records(f))
    assert not any(c["secret"] in raw for c in planted)


def test_planted_canaries_never_reach_the_release(scrubbed):
    d, release, _ = scrubbed
    proc = alignx("audit-privacy", data_dir=d, env=DEMO_ENV, check=False)
    assert "canaries looked for" in proc.stdout
    for kind in KINDS:
        assert f"canary.{kind:<5}" in proc.stdout.replace(f"canary.{kind}", f"canary.{kind:<5}")
        line = next(x for x in proc.stdout.splitlines() if x.strip().startswith(f"canary.{kind} "))
        assert line.split()[-1] == "0", proc.stdout
    # the hosts' own words did reach the release: the canaries were there to be caught
    text = "\n".join(p.read_bytes().decode("latin-1") for p in release.glob("*.parquet"))
    planted = json.loads((d / "private" / "canaries.json").read_text())
    assert not any(c["secret"] in text for c in planted)


def test_audit_fails_a_release_built_with_scrubbing_off(tmp_path, scrubbed):
    d = tmp_path / "data"
    shutil.copytree(scrubbed[0], d, symlinks=True)  # the same planted input: anonymize on rerun
    # up to the release (emit and every stage before it): evaluate, after it, only reads the release
    alignx("run", "emit", "--canaries", *DEMO_ARGS, *SCRUB_OFF, data_dir=d, env=DEMO_ENV)
    proc = alignx("audit-privacy", data_dir=d, env=DEMO_ENV, check=False)
    assert proc.returncode == 1, proc.stdout
    assert "FAILED" in proc.stdout
    leaked = {x.split()[0] for x in proc.stdout.splitlines()
              if x.strip().startswith("canary.") and x.split()[-1] != "0"}
    assert leaked, proc.stdout  # the planted canaries themselves are found


def _status(d: Path, *args: str) -> dict[str, str]:
    out = alignx("status", *DEMO_ARGS, *args, data_dir=d, env=DEMO_ENV).stdout
    return {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}


def test_status_reads_the_configuration_the_canary_build_read(scrubbed):
    """`make build-dataset` (alignx run --canaries) then `make status` (alignx status, no flag):
    the data dir remembers it is a canary build, so every stage is up to date, also with a setting
    that only changes how work is done; --no-canaries asks about the configured inputs instead."""
    d, _, _ = scrubbed
    assert all("up to date" in line for line in _status(d).values()), _status(d)
    assert all("up to date" in line for line in _status(d, "--set", "annotate.timeout_s=99").values())
    assert "input" in _status(d, "--no-canaries")["ingest_reddit"]  # the real dumps are other inputs
    proc = alignx("run", *DEMO_ARGS, data_dir=d, env=DEMO_ENV)  # a plain run stays a canary build
    assert "the planted copy" in proc.stderr and "is current" in proc.stderr
    assert "running" not in proc.stderr
