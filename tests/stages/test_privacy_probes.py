"""Probes (issue 27): identifiers of 14 families, 64 kinds and more, planted the way an attacker
would check a release, into five real days of the r/ethereum daily threads from ../shared/data.

Each probe sentence is appended to a real top-level comment of a thread of the window, those
of the window's most active authors first (the comments most likely to become persona
history); real author names of the window are
written into other comments the ways people write them (spaced, possessive, escaped, quoted,
in a link); one author asks to be forgotten and others quote them, in quotation marks and in a
"> " block. One build runs up to emit. Then: no probe survives into the anonymize output or
the release, the audit passes the release, and it fails the unscrubbed copy (ingest_reddit's
output) with findings of every family, and a folder without shards."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from alignx.dumps import DumpWriter, iter_records
from alignx.privacy.probes import author_probes, probes

from conftest import SAMPLE_REDDIT, alignx

pytestmark = pytest.mark.e2e  # builds datasets and runs the command line

KEY = {"ALIGNX_PSEUDONYM_KEY": "probe-test-key-" + "p" * 40}
WINDOW = ("2025-01-06", "2025-01-11")
START, END = 1736121600, 1736553600  # the window in epoch seconds (UTC)
ALIGNMENT = SAMPLE_REDDIT.parent / "alignment"
BUILD = ["--set", 'ingest_reddit.inputs=["raw/reddit"]',
         "--set", f"ingest_reddit.date_from={WINDOW[0]}", "--set", f"ingest_reddit.date_to={WINDOW[1]}",
         "--set", f"ingest_alignment.pku_inputs={ALIGNMENT / 'pku_saferlhf.jsonl'}",
         "--set", f"ingest_alignment.ultrafeedback_inputs={ALIGNMENT / 'ultrafeedback.jsonl'}",
         "--set", f"ingest_alignment.helpsteer2_inputs={ALIGNMENT / 'helpsteer2.jsonl'}"]
STAGES = ("ingest_reddit", "ingest_alignment", "anonymize", "annotate", "cluster", "assemble", "emit")


def _texts(folder: Path) -> list[str]:
    """Every string of every parquet file under ``folder``."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)

    for path in sorted(folder.rglob("*.parquet")):
        df = pl.read_parquet(path)
        for column in df.columns:
            if df.schema[column] == pl.String or isinstance(df.schema[column], (pl.List, pl.Struct)):
                for cell in df[column].to_list():
                    walk(cell)
    return out


@pytest.fixture(scope="module")
def probe_build(tmp_path_factory, reddit_dir):
    d = tmp_path_factory.mktemp("probes") / "data"
    source = reddit_dir / "ethereum_daily"
    posts = {r["id"] for _, r in iter_records(source / "ethereum_submissions.zst")
             if START <= int(float(r["created_utc"])) < END}  # (the comments of older posts are dropped)
    comments = [r for _, r in iter_records(source / "ethereum_comments.zst")
                if isinstance(r, dict) and START <= int(float(r.get("created_utc") or 0)) < END]
    authors = Counter(r.get("author") for r in comments)
    authors.pop("[deleted]", None)
    names = sorted(a for a in authors if a)
    # the forgotten author: an occasional writer with a long comment that others will quote
    forgotten = next(r for r in sorted(comments, key=lambda r: r["id"])
                     if 2 <= authors[r.get("author")] <= 5 and len((r.get("body") or "").split()) >= 25)
    quote = " ".join(forgotten["body"].split()[:14])
    rank = {a: i for i, (a, _) in enumerate(authors.most_common())}
    hosts = sorted((rank[r["author"]] // 25, hashlib.sha256(r["id"].encode()).hexdigest(), r["id"]) for r in comments
                   if r.get("author") not in (forgotten["author"], "[deleted]", None) and len(r.get("body") or "") >= 80
                   and r.get("parent_id") == f"t3_{r['link_id'].removeprefix('t3_')}"
                   and r["link_id"].removeprefix("t3_") in posts and len(r["body"]) < 4000
                   and not r.get("distinguished") and not r.get("stickied") and not r["author"].lower().endswith("bot"))
    planted = probes(seed=27) + author_probes(names, seed=27)
    sentences = [p.sentence for p in planted] + [f'As someone wrote, "{quote}", and I doubt it.',
                                                 f"> {quote}\n\nNot convinced."]
    assert len(hosts) >= len(sentences), len(hosts)
    by_host = {cid: s for (_, _, cid), s in zip(hosts, sentences)}
    raw = d / "raw" / "reddit"
    raw.mkdir(parents=True)
    with DumpWriter(raw / "ethereum_comments.zst") as w:
        for r in comments:
            extra = by_host.get(r["id"])
            w.write({**r, "body": f"{r['body']}\n\n{extra}"} if extra else r)
    with DumpWriter(raw / "ethereum_submissions.zst") as w:
        for _, r in iter_records(source / "ethereum_submissions.zst"):
            w.write(r)
    alignx("forget", "--author", forgotten["author"], data_dir=d, env=KEY)
    alignx("run", *STAGES, *BUILD, data_dir=d, env=KEY)
    hosts_of = {s: cid for cid, s in by_host.items()}
    return d, planted, quote, hosts_of, {r["id"]: r["body"] for r in comments}


def _scrubbed_hosts(d: Path) -> dict[str, str]:
    """Real comment id -> its scrubbed body, from the anonymize output and its private map."""
    ids = pl.concat([pl.read_parquet(p).select("id", "real_id") for p in (d / "private/anonymize/map").glob("*.parquet")])
    real = dict(zip(ids["id"], ids["real_id"]))
    out = {}
    for path in (d / "work/anonymize").glob("out-*/*/*.parquet"):
        df = pl.read_parquet(path)
        if "body" in df.columns and "id" in df.columns:
            out.update({real.get(i): b for i, b in zip(df["id"], df["body"])})
    return out


def test_every_probe_is_gone_from_the_anonymize_output(probe_build):
    d, planted, quote, hosts_of, bodies = probe_build
    assert len({p.kind for p in planted}) >= 60
    scrubbed = _scrubbed_hosts(d)
    texts = "\n".join(_texts(next((d / "work/anonymize").glob("out-*")))).lower()
    survived = []
    for p in planted:
        host = hosts_of[p.sentence]
        assert host in scrubbed, f"{p.kind}: its host comment did not reach anonymize"
        # random identifiers must be nowhere; a real name only where it was planted
        where = scrubbed[host].lower() if p.family == "author_name" else texts
        survived += [(p.kind, s) for s in p.secrets if s.lower() in where]
    assert not survived, survived
    assert quote.lower() not in texts  # the forgotten author's words, quoted by others
    kept = sum(bodies[h][:60] in scrubbed[h] for h in hosts_of.values())
    assert kept >= 0.5 * len(hosts_of)  # the real comments around the probes are intact


def test_no_probe_reaches_the_release(probe_build):
    d, planted, quote, hosts_of, bodies = probe_build
    release = d / "release" / "0.1.0"
    texts = _texts(release)
    joined = "\n".join(texts).lower()
    hosted = [t for t in texts if any(bodies[h][:40] in t for h in hosts_of.values())]
    assert hosted, "no probed comment reached the release: the check would prove nothing"
    for p in planted:
        where = "\n".join(hosted).lower() if p.family == "author_name" else joined
        assert not any(s.lower() in where for s in p.secrets), p.kind
    assert quote.lower() not in joined


def test_the_audit_passes_the_release(probe_build):
    d = probe_build[0]
    proc = alignx("audit-privacy", data_dir=d, env=KEY, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "passed: no findings" in proc.stdout


def test_the_audit_fails_the_unscrubbed_copy_in_every_family(probe_build):
    d = probe_build[0]
    unscrubbed = next((d / "work/ingest_reddit").glob("out-*"))
    proc = alignx("audit-privacy", str(unscrubbed), data_dir=d, env=KEY, check=False)
    assert proc.returncode == 1, proc.stdout
    found = {k: int(n) for k, n in re.findall(r"^  ([\w.]+)\s+(\d+)$", proc.stdout, re.M)}
    missing = [k for k in ("author_name", "email", "phone", "ip", "card", "bank_account", "crypto", "date_of_birth",
                           "address", "profile_link", "handle", "national_id") if not found.get(k)]
    assert not missing, proc.stdout


def test_the_audit_fails_a_folder_without_shards(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = alignx("audit-privacy", str(tmp_path / "empty"), data_dir=tmp_path, env=KEY, check=False)
    assert proc.returncode == 1
    assert "no release shard" in proc.stdout
