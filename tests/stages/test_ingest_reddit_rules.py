"""Unit tests of ingest_reddit's filter rules: the first failing rule names each dropped record."""

from __future__ import annotations

import polars as pl

from pipeline.config import load_config
from stages.ingest_reddit.stage import drop_reason


def frame(**over) -> pl.DataFrame:
    row = {"kind": "comment", "id": "c1", "created_utc": 1_700_000_000, "author": "someone", "body": "a" * 40,
           "text": "a" * 40, "subreddit": "AskMen", "distinguished": None, "stickied": False, "over_18": False,
           "score": 3, "deleted_later": False, "opted_out": False, "english": True, "link_id": "p1",
           "created_given": True}
    row.update(over)
    df = pl.DataFrame([row])
    # a None alone has no type: give it the normalized schema's
    return df.with_columns(pl.col(c).cast(pl.Int64 if c in ("created_utc", "score") else pl.String)
                           for c, t in df.schema.items() if t == pl.Null)


def reason(p: dict | None = None, **over) -> str | None:
    params = load_config().section("ingest_reddit") | (p or {})
    df = frame(**over)
    return df.select(drop_reason(df, params).alias("r"))["r"][0]


def test_a_clean_comment_is_kept():
    assert reason() is None


def test_each_rule_names_its_reason():
    assert reason(body="[deleted]", text="[deleted]") == "deleted_body"
    assert reason(body="[removed]", text="[removed]") == "removed_body"
    assert reason(author="[deleted]") == "deleted_author"
    assert reason(author="AutoModerator") == "bot"
    assert reason(author="RemindMeBot") == "bot"
    assert reason(distinguished="moderator") == "distinguished"
    assert reason(stickied=True) == "stickied"
    assert reason(over_18=True) == "nsfw"
    assert reason({"subreddits_deny": ["askmen"]}) == "subreddit_denied"
    assert reason({"subreddits_allow": ["AskWomen"]}) == "subreddit_not_allowed"
    assert reason({"date_from": "2024-01-01"}) == "date_out_of_range"
    assert reason(score=-5, p={"min_score": 0}) == "score_out_of_range"
    assert reason(body="short", text="short") == "too_short"
    assert reason({"max_length": 10}) == "too_long"
    assert reason(english=False) == "non_english"
    assert reason(opted_out=True) == "opted_out"
    assert reason(id=None) == "missing_id"
    assert reason(created_utc=None) == "bad_created_utc"  # there, but not seconds (an ISO date...)
    assert reason(created_utc=None, created_given=False) == "missing_created_utc"
    assert reason(body=None, text=None) == "missing_body"
    assert reason(link_id=None) == "missing_link_id"
    assert reason(kind="submission", link_id=None) is None  # a post names no submission


def test_the_first_failing_rule_wins_and_switches_turn_rules_off():
    assert reason(author="AutoModerator", stickied=True) == "bot"  # bot comes before stickied
    assert reason({"drop_stickied": False}, stickied=True) is None
    assert reason({"drop_nsfw": False}, over_18=True) is None
    assert reason({"english_only": False}, english=False) is None
    assert reason(score=None) is None  # items without a score are kept
