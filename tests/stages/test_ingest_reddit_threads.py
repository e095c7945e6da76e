"""Thread structure of ingest_reddit and anonymize: replies carry their parent chain in the
prompt (checked against the raw dump lines read with plain json), prompts are cut from the
oldest end, provenance names every part, and removed post bodies keep their threads."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import zstandard
import pytest

from alignx.threads import CHAIN_DELIMITER, TRUNCATION_MARK, parent_chains, reachable_replies, render_prompt
from alignx.privacy import pseudonym

from conftest import DEMO_ENV, alignx, copy_inputs

KEY = DEMO_ENV["ALIGNX_PSEUDONYM_KEY"]


def raw_records(path: Path) -> list[dict]:
    """Every JSON line of a zstandard dump, read independently of the stage's reader."""
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor(max_window_size=2**31).stream_reader(f).read()
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def table(data_dir: Path, stage: str, name: str) -> pl.DataFrame:
    files = sorted((data_dir / "work" / stage).glob(f"out-*/{name}/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


# -- prompt assembly and truncation ----------------------------------------------------------------

def test_prompt_is_post_then_chain_oldest_first():
    assert render_prompt("Title", "Body", [], 0) == "Body\n\nTitle"
    assert render_prompt("Title", "", [], 0) == "Title"  # removed body: the title stands alone
    p = render_prompt("Title", "Body", ["grandparent", "parent"], 0)
    assert p == f"Body\n\nTitle{CHAIN_DELIMITER}grandparent{CHAIN_DELIMITER}parent"


def test_prompt_is_cut_from_the_oldest_end():
    p = render_prompt("T" * 50, "B" * 500, ["parent says this"], 100)
    assert len(p) == 100 and p.startswith(TRUNCATION_MARK) and p.endswith(CHAIN_DELIMITER + "parent says this")
    assert "B" not in p  # the post body, the oldest part, went first
    assert render_prompt("Title", "Body", ["x"], 1000) == render_prompt("Title", "Body", ["x"], 0)


def test_chains_stop_at_depth_and_unlinked_replies_are_found():
    c = pl.DataFrame({
        "id": ["a", "b", "c", "d", "e"], "parent_id": ["P", "a", "b", "gone", "d"],
        "is_top_level": [True, False, False, False, False], "body": ["A", "B", "C", "D", "E"],
    })
    # d answers a comment that is not there; e answers d: both unlinked
    assert reachable_replies(c).to_list() == [True, True, True, False, False]
    linked = c.filter(reachable_replies(c))
    chains = {r["id"]: r for r in parent_chains(linked, 2).iter_rows(named=True)}
    assert chains["a"]["chain_ids"] == [] and chains["b"]["chain_texts"] == ["A"]
    assert chains["c"]["chain_ids"] == ["a", "b"] and chains["c"]["chain_texts"] == ["A", "B"]
    assert {r["id"]: r["chain_ids"] for r in parent_chains(linked, 1).iter_rows(named=True)}["c"] == ["b"]


# -- real dumps ------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_cmv_replies_carry_their_parent_and_name_every_part(tmp_path, reddit_dir):
    raw = copy_inputs(sorted((reddit_dir / "cmv").glob("*.zst")), tmp_path / "raw")
    alignx("run", "ingest_reddit", "anonymize", "--set", f"ingest_reddit.inputs={raw}", "--set",
           "ingest_reddit.prompt_depth=2", data_dir=tmp_path, env=DEMO_ENV)
    records = raw_records(raw / "changemyview_comments.zst")
    body_of = {r["id"]: r["body"] for r in records}
    posts = {r["id"]: r for r in raw_records(raw / "changemyview_submissions.zst")}
    threads = table(tmp_path, "ingest_reddit", "threads")
    replies = threads.filter(~pl.col("is_top_level"))
    assert replies.height >= 50 and replies.filter(pl.col("chain_ids").list.len() == 2).height >= 10
    for r in replies.iter_rows(named=True):
        parent = r["parent_id"]
        assert r["chain_ids"][-1] == parent  # the parent comes last, right before the reply
        post = posts[r["link_id"]]
        body = "" if post.get("selftext") in (None, "[removed]", "[deleted]") else post["selftext"]
        expected = render_prompt(post["title"], body, [body_of[i] for i in r["chain_ids"]], 6000)
        assert r["prompt"] == expected and r["prompt"].endswith(CHAIN_DELIMITER + body_of[parent])
    # anonymize: the prompt rebuilt from scrubbed text, its parts named by their pseudonyms
    anon = table(tmp_path, "anonymize", "threads")
    key = KEY.encode()
    by_real = {pseudonym(key, "c", i): r for i, r in zip(threads["id"], threads.iter_rows(named=True))}
    for a in anon.filter(~pl.col("is_top_level")).iter_rows(named=True):
        real = by_real[a["id"]]
        assert a["prompt_ids"] == [pseudonym(key, "p", real["link_id"]),
                                   *(pseudonym(key, "c", i) for i in real["chain_ids"])]
        assert CHAIN_DELIMITER in a["prompt"]
    top = anon.filter(pl.col("is_top_level")).row(0, named=True)
    assert top["prompt_ids"] == [top["link_id"]]


@pytest.mark.e2e
def test_rc_2005_siblings_and_chains(tmp_path, reddit_dir):
    """RC_2005-12 has no submissions file: its comments are orphans, but their reply trees are
    real. Grouping by what each comment answers puts a reply only with replies to the same comment."""
    from stages.assemble.pairs import CandidateIndex

    raw = copy_inputs([reddit_dir / "RC_2005-12.zst"], tmp_path / "raw")
    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", data_dir=tmp_path)
    orphans = table(tmp_path, "ingest_reddit", "orphans")
    index = CandidateIndex(orphans.with_columns(pl.lit(None).alias("ratings")), "siblings")
    parent_of = dict(orphans.select("id", "parent_id").iter_rows())
    reply_groups = [g for g in index.groups() if len(index.members(g)) > 1 and g in parent_of]
    assert len(reply_groups) >= 10
    for g in reply_groups:
        assert {c["parent_id"] for c in index.members(g)} == {g}
        assert not any(c["is_top_level"] for c in index.members(g))
    top = CandidateIndex(orphans.with_columns(pl.lit(None).alias("ratings")), "top_level")
    assert all(c["is_top_level"] for g in top.groups() for c in top.members(g))
    # chains over the real tree: a reply's chain ends with its parent's raw body
    body_of = {r["id"]: r["body"] for r in raw_records(raw / "RC_2005-12.zst")}
    linked = orphans.filter(reachable_replies(orphans))
    chains = parent_chains(linked, 1).filter(pl.col("chain_ids").list.len() > 0)
    assert chains.height >= 100
    for r in chains.iter_rows(named=True):
        assert r["chain_texts"] == [body_of[r["chain_ids"][0]]]


@pytest.mark.e2e
def test_a_removed_post_keeps_its_thread(tmp_path, reddit_dir):
    """Real lines of r/changemyview: one post's body replaced by "[removed]" as Reddit shows it."""
    raw = tmp_path / "raw"
    raw.mkdir()
    posts = raw_records(reddit_dir / "cmv" / "changemyview_submissions.zst")
    comments = raw_records(reddit_dir / "cmv" / "changemyview_comments.zst")
    target = max(posts, key=lambda p: sum(c["link_id"] == f"t3_{p['id']}" for c in comments))
    target = {**target, "selftext": "[removed]"}
    under = [c for c in comments if c["link_id"] == f"t3_{target['id']}"]
    assert len(under) >= 3
    (raw / "posts.ndjson").write_text(json.dumps(target) + "\n")
    (raw / "comments.ndjson").write_text("".join(json.dumps(c) + "\n" for c in under))
    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", data_dir=tmp_path / "keep")
    m = json.loads((tmp_path / "keep/work/ingest_reddit/_manifest.json").read_text())
    threads = table(tmp_path / "keep", "ingest_reddit", "threads")
    assert m["counts"]["post_body_removed"] == 1 and m["dropped"].get("in_filtered_post", 0) == 0
    assert threads.height >= 3 and set(threads["post_body"]) == {""}
    top = threads.filter(pl.col("is_top_level")).row(0, named=True)
    assert top["prompt"] == target["title"]
    # the setting restores the old rule: the post and every comment under it are dropped (with a
    # second, intact post beside it: inputs of which nothing is kept are refused as an error)
    other = next(p for p in posts if p["id"] != target["id"] and p["selftext"] not in ("[removed]", "[deleted]"))
    both = tmp_path / "both"
    both.mkdir()
    (both / "posts.ndjson").write_text(json.dumps(target) + "\n" + json.dumps(other) + "\n")
    (both / "comments.ndjson").write_text((raw / "comments.ndjson").read_text())
    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={both}", "--set",
           "ingest_reddit.keep_removed_posts=false", data_dir=tmp_path / "drop")
    m = json.loads((tmp_path / "drop/work/ingest_reddit/_manifest.json").read_text())
    assert m["dropped"]["removed_body"] == 1 and m["dropped"]["in_filtered_post"] >= threads.height
    proc = alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", "--set",
                  "ingest_reddit.keep_removed_posts=false", data_dir=tmp_path / "none", check=False)
    assert proc.returncode == 2 and "kept nothing of" in proc.stderr and "removed_body 1" in proc.stderr


# -- near-duplicates -------------------------------------------------------------------------------

@pytest.mark.e2e
def test_planted_near_duplicates_are_removed_keeping_the_earliest(tmp_path, reddit_dir):
    """Real r/changemyview comments; one long comment is pasted, lightly edited, into three
    later comments (copypasta). Only those three go, whatever else the real text repeats."""
    from stages.ingest_reddit.quality import near_duplicates

    comments = raw_records(reddit_dir / "cmv" / "changemyview_comments.zst")[:400]
    clean = pl.DataFrame({"id": [c["id"] for c in comments], "text": [c["body"] for c in comments],
                          "created_utc": [int(float(c["created_utc"])) for c in comments]})
    already = set(near_duplicates(clean, 0.8, 128, 5)["id"])
    source = max((c for c in comments[:50] if len(c["body"]) < 3000), key=lambda c: len(c["body"]))
    words = source["body"].split()
    assert len(words) > 60
    planted = {}
    for k, c in enumerate(comments[100:103]):
        edited = words[:]
        edited[10 + k] = "EDITED"  # one word changed: still a near-duplicate
        c["body"] = " ".join(edited)
        c["created_utc"] = int(float(source["created_utc"])) + 3600 * (k + 1)
        planted[c["id"]] = source["id"]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "comments.ndjson").write_text("".join(json.dumps(c) + "\n" for c in comments))
    alignx("run", "ingest_reddit", "--set", f"ingest_reddit.inputs={raw}", data_dir=tmp_path)
    m = json.loads((tmp_path / "work/ingest_reddit/_manifest.json").read_text())
    kept = set(table(tmp_path, "ingest_reddit", "orphans")["id"])
    assert source["id"] in kept and not (planted.keys() & kept)
    assert m["dropped"]["near_duplicate"] == len(already) + 3
    found = near_duplicates(pl.DataFrame({"id": [c["id"] for c in comments], "text": [c["body"] for c in comments],
                                          "created_utc": [int(float(c["created_utc"])) for c in comments]}), 0.8, 128, 5)
    assert {r["id"]: r["kept_id"] for r in found.iter_rows(named=True) if r["id"] in planted} == planted


# -- templated posts (recurring boilerplate bodies) ------------------------------------------------

def post_frame(posts: list[dict]) -> pl.DataFrame:
    """Raw submission lines -> the columns ``templated_posts`` reads."""
    return pl.DataFrame({"id": [p["id"] for p in posts], "subreddit": [p["subreddit"] for p in posts],
                         "body": [p.get("selftext") or "" for p in posts],
                         "created_utc": [int(float(p["created_utc"])) for p in posts]})


def test_daily_threads_are_templated_and_cmv_posts_are_not(reddit_dir):
    """The 605 real r/ethereum daily threads repeat one drifting boilerplate body; the 63 real
    r/changemyview posts are each their author's own text (sharing only the moderators' footnote)."""
    from stages.ingest_reddit.quality import templated_posts

    eth = post_frame(raw_records(reddit_dir / "ethereum_daily" / "ethereum_submissions.zst"))
    cmv = post_frame(raw_records(reddit_dir / "cmv" / "changemyview_submissions.zst"))
    assert eth.height == 605 and cmv.height == 63
    assert templated_posts(eth, 3).len() == 605
    assert templated_posts(cmv, 3).len() == 0 and templated_posts(cmv, 2).len() == 0
    assert templated_posts(pl.concat([eth, cmv]), 3).sort().to_list() == eth["id"].sort().to_list()
    assert templated_posts(eth, 0).len() == 0
    # one month's build sees one month of posts: 604 of 605 are still found month by month (one
    # January 2025 body, between two versions of the template, is within 0.4 of no other that month)
    month = pl.from_epoch("created_utc").dt.strftime("%Y-%m")
    by_month = sum(templated_posts(g, 3).len() for _, g in eth.group_by(month))
    assert by_month == 604
    # a subreddit's template is not another's: the same bodies under three subreddits, one each
    spread = eth.head(3).with_columns(pl.Series("subreddit", ["a", "b", "c"]))
    assert templated_posts(spread, 3).len() == 0


def test_daily_titles_are_a_series_and_cmv_titles_are_not(reddit_dir):
    """Every real r/ethereum daily thread's title is "Daily General Discussion - <date>" (with or
    without the dash): one series, even month by month, but for one post whose title is the
    unfilled "{{%B %d, %Y}}" (no date: its templated body makes it recurring); no real
    r/changemyview title recurs, and a title shared by posts of three subreddits is no series."""
    from stages.ingest_reddit.quality import recurring_titles, series_title

    def titles(path):
        posts = raw_records(path)
        return pl.DataFrame({"id": [p["id"] for p in posts], "subreddit": [p["subreddit"] for p in posts],
                             "title": [p["title"] for p in posts],
                             "created_utc": [int(float(p["created_utc"])) for p in posts]})

    eth = titles(reddit_dir / "ethereum_daily" / "ethereum_submissions.zst")
    cmv = titles(reddit_dir / "cmv" / "changemyview_submissions.zst")
    assert eth.select(series_title(pl.col("title"))).to_series().value_counts()["count"].sort().to_list() == [1, 604]
    assert recurring_titles(eth, 3).len() == 604 and recurring_titles(eth, 0).len() == 0
    assert recurring_titles(cmv, 3).len() == 0 and recurring_titles(cmv, 2).len() == 0
    month = pl.from_epoch("created_utc").dt.strftime("%Y-%m")
    assert sum(recurring_titles(g, 3).len() for _, g in eth.group_by(month)) == 604
    spread = eth.head(3).with_columns(pl.Series("subreddit", ["a", "b", "c"]))
    assert recurring_titles(spread, 3).len() == 0


@pytest.mark.e2e
def test_daily_thread_prompts_hold_the_title_not_the_boilerplate(tmp_path, reddit_dir):
    """A real week of r/ethereum daily threads with all their comments, through ingest and
    anonymize: a top-level comment's prompt is its thread's title, a reply's the title then its
    parent; the submissions table keeps the body."""
    posts = [p for p in raw_records(reddit_dir / "ethereum_daily" / "ethereum_submissions.zst")
             if p["title"].endswith(("March 03, 2025", "March 04, 2025", "March 05, 2025", "March 06, 2025"))]
    assert len(posts) == 4 and all(p["selftext"].startswith("**Welcome to the") for p in posts)
    ids = {f"t3_{p['id']}" for p in posts}
    comments = [c for c in raw_records(reddit_dir / "ethereum_daily" / "ethereum_comments.zst") if c["link_id"] in ids]
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "posts.ndjson").write_text("".join(json.dumps(p) + "\n" for p in posts))
    (raw / "comments.ndjson").write_text("".join(json.dumps(c) + "\n" for c in comments))
    alignx("run", "ingest_reddit", "anonymize", "--set", f"ingest_reddit.inputs={raw}", data_dir=tmp_path,
           env=DEMO_ENV)
    m = json.loads((tmp_path / "work/ingest_reddit/_manifest.json").read_text())
    assert m["counts"]["templated_post_bodies"] == 4
    title = {p["id"]: p["title"] for p in posts}
    threads = table(tmp_path, "ingest_reddit", "threads")
    top = threads.filter(pl.col("is_top_level"))
    assert top.height >= 100 and set(threads["post_body"]) == {""}
    assert all(r["prompt"] == title[r["link_id"]] for r in top.iter_rows(named=True))
    for r in threads.filter(~pl.col("is_top_level")).head(200).iter_rows(named=True):
        assert r["prompt"] == render_prompt(title[r["link_id"]], "", r["chain_texts"], 6000)
    opening = {p["selftext"].split("\n")[0] for p in posts}  # "**Welcome to the Ethereum Daily ..."
    assert not any(line in prompt for line in opening for prompt in threads["prompt"])
    subs = table(tmp_path, "ingest_reddit", "submissions")
    assert dict(subs.select("id", "body").iter_rows()) == {p["id"]: p["selftext"] for p in posts}
    # anonymize rebuilds the same title-only prompts from the scrubbed post
    anon = table(tmp_path, "anonymize", "threads").filter(pl.col("is_top_level"))
    assert anon.height == top.height and (anon["prompt"] == anon["post_title"]).all()
