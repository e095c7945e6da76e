"""Decontamination rules of assemble (stages/assemble/decontaminate.py) on the real P-SOUPS
benchmark file and real Reddit text."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import UserError
from stages.assemble.decontaminate import benchmark_ngrams, contamination, ngrams

from test_ingest_reddit_threads import raw_records


def test_ngrams_are_lower_cased_words_and_short_texts_have_none():
    assert ngrams("The Cat sat, on the mat!", 3) == {"the cat sat", "cat sat on", "sat on the", "on the mat"}
    assert ngrams("too short", 3) == set()


def test_a_benchmark_text_planted_in_a_real_comment_is_caught(shared_data):
    bench_file = shared_data / "benchmarks" / "p-soups_student_phd.json"
    bench = json.loads(bench_file.read_text())
    index = benchmark_ngrams([bench_file], 12)
    # the PAIR items are read too
    pair_prompt = bench[0]["Pair-wise Comparative Feedback"][0]["prompt"]
    assert all(g in index for g in ngrams(pair_prompt, 12))
    comments = [c["body"] for c in raw_records(shared_data / "reddit" / "cmv" / "changemyview_comments.zst")[:300]]
    assert all(contamination({c}, index, 12) is None for c in comments)  # real Reddit text: clean
    long_chosen = max((b["chosen"] for b in bench), key=len)
    planted = comments[5] + "\n\nSomeone said: " + long_chosen
    file, gram = contamination({comments[3], planted}, index, 12)
    assert file == bench_file.name and gram in ngrams(long_chosen, 12)


def test_an_unreadable_benchmark_names_the_file(tmp_path):
    bad = tmp_path / "bench.json"
    bad.write_text('{"not": "a list"')
    with pytest.raises(UserError, match="bench.json: cannot read"):
        benchmark_ngrams([bad], 12)
    bad.write_text('[{"chosen": "no prompt"}]')
    with pytest.raises(UserError, match="AlignX benchmark format"):
        benchmark_ngrams([bad], 12)
