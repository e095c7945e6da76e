"""Stage ingest_reddit on the real dumps in ../shared/data/reddit and on the demo corpus.

Expected counts were checked with an independent script (plain json + the documented rules,
in rule order), not with the stage's code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest
import zstandard

from alignx.dumps import DumpError, iter_line_chunks, iter_records

from conftest import SAMPLE_REDDIT, alignx, copy_inputs


def run_ingest(data_dir: Path, *inputs: Path, extra: tuple[str, ...] = ()) -> dict:
    raw = copy_inputs(list(inputs), data_dir / "raw" / "reddit")
    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", *extra, data_dir=data_dir)
    return json.loads((data_dir / "work/ingest_reddit/_manifest.json").read_text())


def table(data_dir: Path, name: str) -> pl.DataFrame:
    files = sorted((data_dir / "work/ingest_reddit").glob(f"out-*/{name}/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}


@pytest.mark.e2e
def test_pushshift_2005_comments(tmp_path, reddit_dir):
    m = run_ingest(tmp_path, reddit_dir / "RC_2005-12.zst")
    assert m["records_in"] == 1075
    # 12 repeats of earlier comments in 4 clusters (MinHash near-duplicates)
    assert nonzero(m["dropped"]) == {"deleted_body": 105, "removed_body": 15, "deleted_author": 65, "too_short": 9,
                                     "near_duplicate": 12}
    assert m["counts"]["near_duplicate_clusters"] == 4
    assert m["records_out"] == 869
    # no submissions file for this month: every kept comment is an orphan, counted, not dropped
    assert m["counts"]["orphan_comments"] == 869 and m["counts"]["thread_comments"] == 0
    # 314 replies have their parent in the raw file; 218 of them survive with their parent
    assert m["counts"]["replies_with_parent"] == 218
    orphans = table(tmp_path, "orphans")
    assert orphans.height == 869
    assert orphans["link_id"].n_unique() <= 396
    first = orphans.filter(pl.col("id") == "c13").row(0, named=True)
    assert first["source_file"] == "RC_2005-12.zst" and first["source_line"] == 1
    assert first["created_utc"] == 1134365188 and first["link_id"] == "17863" and first["is_top_level"]
    reply = orphans.filter(pl.col("id") == "c2102").row(0, named=True)
    assert reply["parent_id"] == "c2101" and not reply["is_top_level"] and reply["source_line"] == 501


@pytest.mark.e2e
def test_era_variations_normalize_to_one_schema(tmp_path, reddit_dir):
    m = run_ingest(tmp_path, reddit_dir / "test_comments.json", reddit_dir / "test_submissions.json")
    assert m["records_in"] == 27 + 31
    assert nonzero(m["dropped"]) == {
        # comments
        "bot": 1, "deleted_author": 1, "deleted_body": 2, "too_short": 3,
        # submissions: _meta.was_deleted_later x3, NSFW x3, a stickied post, a German title
        # ("Spielt Guerreiro bei Bayern von Anfang an?"; the old heuristic let it through and
        # dropped two English titles instead: a pastor story and a table-heavy game thread)
        "deleted_later": 3, "nsfw": 3, "stickied": 1, "non_english": 1,
        # "[removed]" bodies: 2 comments (the submission keeps its thread: post_body_removed)
        "removed_body": 2,
    }
    comments = table(tmp_path, "orphans")
    posts = table(tmp_path, "submissions")
    assert comments.height == 18 and posts.height == 23
    assert comments.schema == table(tmp_path, "orphans").schema
    assert comments.schema["created_utc"] == pl.Int64 and posts.schema["created_utc"] == pl.Int64
    by_id = {r["id"]: r for r in comments.iter_rows(named=True)}
    # created_utc was a float (2024), a string (2009/2012) and an int (2005) in the dump
    assert by_id["kod0bkd"]["created_utc"] == 1706745600
    assert by_id["c0cmuol"]["created_utc"] == 1251763200
    assert by_id["c13"]["created_utc"] == 1134365188
    assert all(not i.startswith("t1_") for i in by_id) and all(not r["link_id"].startswith("t3_") for r in by_id.values())
    edited = {r["id"]: r["edited_utc"] for r in posts.iter_rows(named=True)}
    assert edited["j08bcm"] == 1606781062 and edited["jk3lbh"] is None
    assert "1afwvvg" not in set(posts["id"])  # was_deleted_later
    kept_meta = pl.read_parquet(next((tmp_path / "work/ingest_reddit").glob("out-*/submissions/*.parquet")))
    assert set(kept_meta["kind"]) == {"submission"}


@pytest.mark.e2e
def test_deleted_later_can_be_kept_by_config(tmp_path, reddit_dir):
    m = run_ingest(tmp_path, reddit_dir / "test_submissions.json",
                   extra=("--set", "ingest_reddit.drop_deleted_later=false", "--set", "ingest_reddit.drop_nsfw=false"))
    assert "deleted_later" not in nonzero(m["dropped"]) and "nsfw" not in nonzero(m["dropped"])


@pytest.mark.e2e
def test_demo_corpus_threads_and_users(tmp_path):
    m = run_ingest(tmp_path, *sorted(SAMPLE_REDDIT.glob("*.zst")))
    assert m["records_in"] == 53 + 436
    assert nonzero(m["dropped"]) == {
        "bot": 21, "deleted_body": 6, "removed_body": 6, "duplicate_id": 1,
        "nsfw": 1, "in_filtered_post": 1,
        # the demo corpus is templated: 50 repeats; 10 replies lose their parent (datasketch's sha1
        # shingle hash finds 54 and 6: its borderline pairs, estimated Jaccard near 0.8, differ)
        "near_duplicate": 50, "parent_unavailable": 10,
    }
    c = m["counts"]
    # the post a moderator removed (removed_by_category "moderator") stays, with the title as prompt
    assert c["post_body_removed"] == 1
    assert c["submissions"] == 51 and c["thread_comments"] == 342 and c["orphan_comments"] == 0
    threads = table(tmp_path, "threads")
    assert threads.height == 342 and threads["link_id"].n_unique() == c["threads"] == 49
    # AlignX prompts: the post body, then its title; a reply's adds its parent
    row = threads.filter(pl.col("is_top_level")).row(0, named=True)
    assert row["prompt"] == f"{row['post_body']}\n\n{row['post_title']}"
    reply = threads.filter(~pl.col("is_top_level")).row(0, named=True)
    parent = threads.filter(pl.col("id") == reply["parent_id"]).row(0, named=True)
    assert reply["prompt"].startswith(row["prompt"] if row["link_id"] == reply["link_id"] else reply["post_body"])
    assert reply["prompt"].endswith("\n--- comment in the thread ---\n" + parent["body"])
    # partitioned by author: each author lives in exactly one bucket file
    files = sorted((tmp_path / "work/ingest_reddit").glob("out-*/threads/*.parquet"))
    seen = {}
    for f in files:
        for author in pl.read_parquet(f)["author"].unique():
            assert seen.setdefault(author, f) == f
    users = table(tmp_path, "users")
    assert users.filter(pl.col("n_threads") >= 6).height >= 12
    assert "AutoModerator" not in set(threads["author"]) and "RemindMeBot" not in set(threads["author"])


def test_demo_corpus_has_the_variety_later_stages_need():
    posts = [r for _, r in iter_records(SAMPLE_REDDIT / "RS_2024-03.zst")]
    comments = [r for _, r in iter_records(SAMPLE_REDDIT / "RC_2024-03.zst")]
    assert len(posts) >= 40 and len({p["subreddit"] for p in posts}) >= 6
    assert len(comments) >= 400
    authors = {c["author"] for c in comments} - {"[deleted]", "AutoModerator", "RemindMeBot"}
    assert len(authors) >= 30
    posts_per_author: dict[str, set] = {}
    for c in comments:
        posts_per_author.setdefault(c["author"], set()).add(c["link_id"])
    assert sum(len(v) >= 6 for a, v in posts_per_author.items() if a in authors) >= 12
    bodies = " ".join(c["body"] for c in comments)
    assert "[deleted]" in bodies and "[removed]" in bodies
    assert "u/" in bodies and "@example.com" in bodies and "555-013-4477" in bodies
    assert any(c["author"] == "AutoModerator" for c in comments)


@pytest.mark.e2e
def test_garbage_lines_fail_with_file_and_line(tmp_path, reddit_dir):
    lines = (reddit_dir / "test_comments.json").read_text().splitlines()
    garbage = tmp_path / "in" / "garbage.ndjson"
    garbage.parent.mkdir()
    garbage.write_text("\n".join(lines[:10] + ['{"id": "x", "body": broken', "[1, 2]"] + lines[10:]) + "\n")
    raw = copy_inputs([garbage], tmp_path / "data" / "raw")
    proc = alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", data_dir=tmp_path / "data", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "garbage.ndjson: 2 of 29 lines are not JSON objects" in proc.stderr
    assert "line 11" in proc.stderr
    assert not (tmp_path / "data/work/ingest_reddit/_manifest.json").exists()

    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", "--set", "ingest_reddit.max_bad_line_share=0.1",
           data_dir=tmp_path / "data")
    m = json.loads((tmp_path / "data/work/ingest_reddit/_manifest.json").read_text())
    assert m["dropped"]["malformed_json"] == 2 and m["records_in"] == 29
    rejects = [json.loads(l) for f in (tmp_path / "data/work/ingest_reddit").glob("out-*/rejects/*.jsonl")
               for l in f.read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejects] == [("garbage.ndjson", 11), ("garbage.ndjson", 12)]
    kept = table(tmp_path / "data", "orphans")
    # line numbers of good lines after the bad ones are still exact
    assert kept.filter(pl.col("id") == "c13")["source_line"].to_list() == [18]


def test_corrupt_zstd_names_file_and_offset(tmp_path, reddit_dir):
    data = bytearray((reddit_dir / "RC_2005-12.zst").read_bytes())
    data[70_000:70_016] = b"\x00" * 16
    bad = tmp_path / "RC_2005-12.zst"
    bad.write_bytes(bytes(data))
    with pytest.raises(DumpError, match=r"RC_2005-12.zst: zstandard data is corrupt between compressed bytes") as err:
        for _ in iter_line_chunks(bad):
            pass
    # the range named holds the damage, and is narrow (a zstd block and one feed), not "near byte 0"
    low, high = (int(x.replace(",", "")) for x in re.search(r"between compressed bytes ([\d,]+) and ([\d,]+)",
                                                            str(err.value)).groups())
    assert low <= 70_000 < high and high - low <= (1 << 17) + (1 << 14)
    truncated = tmp_path / "RC_short.zst"
    truncated.write_bytes(bytes(data[:50_000]))
    with pytest.raises(DumpError, match=r"ends in the middle of a zstandard frame at compressed byte 50,000"):
        for _ in iter_line_chunks(truncated):
            pass


def test_default_window_limit_would_fail_so_we_raise_it(reddit_dir):
    raw = (reddit_dir / "RC_2005-12.zst").read_bytes()
    with pytest.raises(zstandard.ZstdError, match="too much memory"):
        zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    assert sum(n for _, n, _ in iter_line_chunks(reddit_dir / "RC_2005-12.zst")) == 1075


def test_small_chunks_keep_line_numbers(reddit_dir):
    chunks = list(iter_line_chunks(reddit_dir / "RC_2005-12.zst", chunk_bytes=10_000))
    assert len(chunks) > 50
    expected = 1
    for first, n, data in chunks:
        assert first == expected and data.endswith(b"\n") and n == data.count(b"\n")
        expected += n
    assert expected == 1076


@pytest.mark.e2e
def test_provenance_traces_a_record_to_its_dump_line(tmp_path, reddit_dir):
    run_ingest(tmp_path, reddit_dir / "RC_2005-12.zst")
    out = alignx("provenance", "c2102", data_dir=tmp_path).stdout
    assert "c2102 in stage ingest_reddit" in out
    assert "source_file: RC_2005-12.zst" in out and "source_line: 501" in out
    from stages.ingest_reddit.stage import IngestReddit

    assert "lineage:" in out and f"ingest_reddit v{IngestReddit.version}" in out
    proc = alignx("provenance", "nope", data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "no record with this id" in proc.stderr


@pytest.mark.parametrize(
    "override, reason, expected",
    [
        ('ingest_reddit.subreddits_deny=["cooking", "BOOKS"]', "subreddit_denied", None),
        ('ingest_reddit.subreddits_allow=["Fitness"]', "subreddit_not_allowed", None),
        ("ingest_reddit.date_to=2024-03-05", "date_out_of_range", None),
        ("ingest_reddit.min_score=0", "score_out_of_range", None),
    ],
)
@pytest.mark.e2e
def test_configurable_filters_on_the_demo_corpus(tmp_path, override, reason, expected):
    records = [r for f in sorted(SAMPLE_REDDIT.glob("*.zst")) for _, r in iter_records(f)]
    m = run_ingest(tmp_path, *sorted(SAMPLE_REDDIT.glob("*.zst")), extra=("--set", override))
    kept = table(tmp_path, "threads")
    if reason == "subreddit_denied":
        assert not set(kept["subreddit"]) & {"Cooking", "books"}
        assert m["dropped"][reason] > 0
    elif reason == "subreddit_not_allowed":
        assert set(kept["subreddit"]) == {"Fitness"}
        posts = table(tmp_path, "submissions")
        assert set(posts["subreddit"]) == {"Fitness"}
    elif reason == "date_out_of_range":
        assert kept["created_utc"].max() < 1709596800  # 2024-03-05T00:00Z
        late = sum(1 for r in records if r["created_utc"] >= 1709596800)
        # every late record is dropped by this rule unless an earlier rule took it first
        assert 0 < m["dropped"][reason] <= late
    else:
        assert kept["score"].min() >= 0
        negative = sum(1 for r in records if r["score"] < 0)
        assert 0 < m["dropped"][reason] <= negative


@pytest.mark.e2e
def test_bad_date_setting_is_a_clear_error(tmp_path):
    proc = alignx("run", "--set", "ingest_reddit.date_from=March", "--set", f"ingest_reddit.inputs={SAMPLE_REDDIT}",
                  data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "'ingest_reddit.date_from' = \"March\" must be a real day like" in proc.stderr


@pytest.mark.e2e
def test_a_window_that_keeps_nothing_is_a_clear_error(tmp_path, reddit_dir):
    """The real r/ethereum dump has no comment or post in June 2024: say so at ingest, not as a crash stages later."""
    dump = reddit_dir / "ethereum_daily/ethereum_comments.zst"
    proc = alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs=[\"{dump.parent}\"]",
                  "--set", "ingest_reddit.date_from=2024-06-01", "--set", "ingest_reddit.date_to=2024-07-01",
                  data_dir=tmp_path, check=False)
    assert proc.returncode != 0
    assert "kept nothing of 129,494 records" in proc.stderr and "date_out_of_range 124,234" in proc.stderr
    assert not (tmp_path / "work/ingest_reddit/_manifest.json").exists()


@pytest.mark.e2e
def test_threads_and_chunk_size_do_not_change_outputs(tmp_path, reddit_dir):
    """One dump cut into 10 chunks parsed on 2 threads gives the same bytes as one chunk on one
    thread (real r/changemyview dump, 10 MB decompressed)."""
    cmv = sorted((reddit_dir / "cmv").glob("*.zst"))
    outputs = {}
    for name, sets in (("one", ("ingest_reddit.parse_threads=1", "ingest_reddit.chunk_mb=64")),
                       ("many", ("ingest_reddit.parse_threads=2", "ingest_reddit.chunk_mb=1"))):
        m = run_ingest(tmp_path / name, *cmv, extra=tuple(x for s in sets for x in ("--set", s)))
        out = tmp_path / name / "work/ingest_reddit"
        files = {str(f.relative_to(out)).split("/", 1)[1]: f.read_bytes()
                 for f in sorted(out.glob("out-*/**/*.parquet"))}
        outputs[name] = (m["records_in"], m["records_out"], m["dropped"], files)
    assert outputs["one"][0] == 8924 + 63
    assert len(outputs["one"][3]) > 5
    assert outputs["one"] == outputs["many"]


def test_bucket_count_grows_with_the_input(reddit_dir):
    from stages.ingest_reddit.stage import bucket_count

    eth = sorted((reddit_dir / "ethereum_daily").glob("*.zst"))  # 10.8 MB on disk
    assert bucket_count({"author_buckets": 0, "auto_bucket_mb": 16}, eth) == 8
    assert bucket_count({"author_buckets": 0, "auto_bucket_mb": 1}, eth) == 16  # 11 -> a power of two
    assert bucket_count({"author_buckets": 5, "auto_bucket_mb": 1}, eth) == 5  # set: used as is


@pytest.mark.e2e
def test_a_comments_file_of_garbage_accepted_by_the_bad_line_share_is_ingested(tmp_path, reddit_dir):
    """Every line malformed, accepted with max_bad_line_share = 1.0 as the error advises: its
    empty chunk once had a String author bucket that failed to combine with the posts' Int32."""
    raw = copy_inputs([reddit_dir / "test_submissions.json"], tmp_path / "data" / "raw")
    (raw / "garbage_comments.ndjson").write_text("".join(f"<html>bad gateway {i}</html>\n" for i in range(40)))
    proc = alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", "--set",
                  "ingest_reddit.max_bad_line_share=1.0", data_dir=tmp_path / "data", check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    m = json.loads((tmp_path / "data/work/ingest_reddit/_manifest.json").read_text())
    assert m["dropped"]["malformed_json"] == 40 and m["records_out"] > 0
