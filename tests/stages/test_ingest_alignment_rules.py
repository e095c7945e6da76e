"""Unit tests of ingest_alignment's PKU-SafeRLHF rule, on hand-made rows."""

from __future__ import annotations

from alignx.taxonomy import load_taxonomy
from pipeline.config import load_config
from stages.ingest_alignment.stage import PairMaker, pku_pairs


def row(safe0, safe1, safer, better) -> dict:
    return {"prompt": "p", "response_0": "r0", "response_1": "r1", "is_response_0_safe": safe0,
            "is_response_1_safe": safe1, "safer_response_id": safer, "better_response_id": better}


def make(mode: str) -> PairMaker:
    p = load_config(overrides=[f'ingest_alignment.pku_pairs="{mode}"']).section("ingest_alignment")
    return PairMaker(p, "PKU-SafeRLHF", "pku", "test", "f.jsonl")


def test_one_safe_pairs_only_where_exactly_one_response_is_safe():
    m = make("one_safe")
    n = pku_pairs([row(True, False, 0, 1), row(True, True, 1, 1), row(False, True, 1, 0)], m, with_helpfulness=False)
    assert n == 3
    assert [(x["chosen"], x["rejected"]) for x in m.pairs] == [("r0", "r1"), ("r1", "r0")]
    assert m.dropped == {"same_safety": 1}
    harmless = load_taxonomy().find("harmlessness").index
    d = m.pairs[0]["direction"]
    assert d[harmless] in (0.0, 1.0) and sum(v != 0.5 for v in d) == 1


def test_safer_mode_uses_safer_id_and_helpfulness_uses_better_id():
    m = make("safer")
    pku_pairs([row(True, True, 1, 0)], m, with_helpfulness=True)
    by_attr = {x["attribute"]: (x["chosen"], x["rejected"]) for x in m.pairs}
    assert by_attr == {"harmlessness": ("r1", "r0"), "helpfulness": ("r0", "r1")}  # better != safer


def test_rows_missing_labels_are_counted_not_lost():
    m = make("one_safe")
    assert pku_pairs([row(None, True, 0, 0), row(True, False, 2, 0)], m, with_helpfulness=False) == 2
    assert m.pairs == [] and m.dropped == {"missing_field": 2}
