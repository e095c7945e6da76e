"""Stage annotate: directions, the offline embedding backend, and the OpenAI-compatible
backends against a real HTTP server on 127.0.0.1 (tests/openai_server.py), including its
failures: 429 with Retry-After, 500, a hang past the timeout, truncated JSON, JSON that breaks
the schema, a body that is not JSON."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from alignx.directions import gate, pair_direction, single_direction
from annotators.llm import combine, parse_answer, plan_requests, request_body
from annotators.ratings import ANSWER_SCHEMA, Item, Spend, agree, to_codes, validate_codes

from conftest import ROOT, SAMPLE_REDDIT, alignx, copy_inputs
from openai_server import OpenAIServer, comments_of

KEY_ENV = {"ALIGNX_PSEUDONYM_KEY": "test-key-" + "x" * 40, "OPENAI_API_KEY": "sk-test-not-a-real-key"}


def test_directions_hand_computed():
    chosen = np.zeros(90, dtype=int)
    rejected = np.zeros(90, dtype=int)
    chosen[[0, 1, 2, 3]] = [2, -1, 1, 2]
    rejected[[0, 1, 2, 3]] = [1, 1, 1, 1]
    d = pair_direction(chosen, rejected)
    assert list(d[:4]) == [1.0, 0.0, 0.5, 1.0] and (d[4:] == 0.5).all()
    assert list(pair_direction(chosen, rejected, gap=2)[:4]) == [0.5, 0.0, 0.5, 0.5]
    s = single_direction(chosen)
    assert list(s[:3]) == [1.0, 0.0, 1.0] and (s[4:] == 0.5).all()


def test_directions_need_evidence():
    ratings = np.zeros(90, dtype=int)
    evidence = np.zeros(90, dtype=int)
    ratings[[5, 16, 34]] = [-1, 2, 1]
    evidence[[5, 16]] = [1, 2]  # 34 has an intensity but no evidence: it does not count
    g = gate(ratings, evidence)
    assert list(g[[5, 16, 34]]) == [-1, 2, 0]
    assert list(gate(ratings, evidence, min_evidence=2)[[5, 16, 34]]) == [0, 2, 0]
    assert list(single_direction(g)[[5, 16, 34]]) == [0.0, 1.0, 0.5]
    # two sides without evidence never get a direction, whatever their raw intensities
    other = np.zeros(90, dtype=int)
    other[34] = -2
    assert pair_direction(g, gate(other, np.zeros(90, dtype=int)))[34] == 0.5


def test_relative_directions_compare_the_raw_measures_hand_computed():
    """Rule 3 (alignx/directions.py): on the relative dimensions two measured responses are
    compared by their measures, whatever their gated intensities; unmeasured sides keep rule 2."""
    from alignx.directions import MEASURES, relative_rules, rule_value
    from annotators.measures import raw_measures

    rules = {r["dimension"]: r for r in relative_rules()}
    # complexity is measured relative to the other response; concise / detailed (16) and depth (14)
    # are not: a longer reply is no evidence of a preference (guideline rule 10; the word-count
    # rules agreed with the dev labels less often than abstaining)
    assert 46 in rules and not {14, 16} & set(rules)
    zeros = np.zeros(90, dtype=int)  # no evidence anywhere: rule 2 ties every dimension
    # the guideline's own examples of 46 (docs/annotation_guidelines.md): elevated against plain
    a, b = raw_measures(["The unwillingness to perceive the possibility that you could be wrong is the "
                         "fundamental obstacle to any productive deliberation, and it deserves considerably more "
                         "attention than the casual dismissals it usually receives.",
                         "I was not. I'll give it a look. Thanks"])
    d = pair_direction(zeros, zeros, 1, a, b)
    assert d[46] == 1.0  # a is the more complex statement
    assert d[16] == 0.5  # a is longer, which says nothing: rule 2 on no evidence
    assert (np.delete(d, list(rules)) == 0.5).all()  # every other dimension: rule 2
    assert pair_direction(zeros, zeros, 1, b, a)[46] == 0.0  # the other order flips it
    high = zeros.copy()
    high[46] = 2
    assert pair_direction(high, zeros, 1, a, a)[46] == 0.5  # equal measures: no direction, whatever rule 2 says
    # a difference just inside the gap gives no direction, one just outside does
    rule = rules[46]
    assert rule["scale"] == "linear" and "terms" not in rule
    for factor, want in ((0.9, 0.5), (1.1, 1.0)):
        c = a.copy()
        c[MEASURES.index(rule["measure"])] += rule["sign"] * factor * rule["gap"]
        assert pair_direction(zeros, zeros, 1, c, a)[46] == want
    # a side without measures (the LLM backends: None, or NaN) keeps rule 2
    assert pair_direction(high, zeros, 1, None, b)[46] == 1.0
    assert pair_direction(zeros, zeros, 1, np.full(len(MEASURES), np.nan), b)[46] == 0.5
    # the word count is compared on the log scale: 10 vs 20 words is the same step as 100 vs 200
    ten = np.zeros((1, len(MEASURES)))
    ten[0, MEASURES.index("words")] = 10
    assert rule_value(ten, {"measure": "words", "scale": "log"})[0] == pytest.approx(np.log(11))
    # a rule with terms is their weighted sum, each on its scale
    m = np.array([[10.0, 5.0, 1.5, 12.0]])[:, [("words", "grade", "syllables_per_word", "words_per_sentence").index(x)
                                              for x in MEASURES]]
    terms = [{"measure": "syllables_per_word", "scale": "linear", "weight": 2.0},
             {"measure": "words", "scale": "log", "weight": -1.0}]
    assert rule_value(m, {"terms": terms})[0] == pytest.approx(2.0 * 1.5 - np.log(11))
    # broadcasting: many pairs at once equal the pairs one by one
    rng = np.random.default_rng(3)
    ra, rb = rng.integers(-2, 3, (20, 90)), rng.integers(-2, 3, (20, 90))
    ma, mb = rng.uniform(0, 20, (20, len(MEASURES))), rng.uniform(0, 20, (20, len(MEASURES)))
    ma[3] = np.nan
    assert (pair_direction(ra, rb, 1, ma, mb) == np.stack([pair_direction(*x, 1, y, z)
                                                          for x, y, z in zip(zip(ra, rb), ma, mb)])).all()


def test_relative_rules_are_what_the_dev_fit_gives():
    """alignx/resources/relative_directions.json is the output of scripts/fit_relative_directions.py
    on the reference set's dev split (rerun the script after changing labels or measures)."""
    import importlib.util

    from alignx.directions import relative_rules

    spec = importlib.util.spec_from_file_location("fit_relative", ROOT / "scripts/fit_relative_directions.py")
    fit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fit)
    rules, _ = fit.fit(fit.dev_references())
    assert [{k: v for k, v in r.items() if k != "dev"} for r in rules] == \
        [{k: v for k, v in r.items() if k != "dev"} for r in relative_rules()]


def test_validate_sparse_codes():
    r, e = validate_codes(["d16+2s", "d73-1w"])
    assert (r[16], e[16], r[73], e[73]) == (2, 2, -1, 1) and sum(map(abs, r)) == 3 and sum(e) == 3
    assert validate_codes([]) == ([0] * 90, [0] * 90)
    assert to_codes(r, e) == ["d16+2s", "d73-1w"]
    # what the strict schema's pattern lets through is exactly what validates
    pattern = re.compile(ANSWER_SCHEMA["properties"]["items"]["items"]["properties"]["r"]["items"]["pattern"])
    assert all(pattern.fullmatch(c) for c in to_codes([2] * 90, [2] * 90) + to_codes([-1] * 90, [1] * 90))


@pytest.mark.parametrize("bad, message", [
    ({"d16": 2}, '"r" is not a list'),
    (["d95+1w"], "d95 is not one of d00..d89"),
    (["d5+1w"], "d5 is not one of d00..d89"),
    (["d05+7s"], "intensity \\+7"),
    (["d05+0s"], "intensity \\+0"),
    (["d051w"], "intensity 1 is not"),  # no sign
    (["d05+1x"], "evidence 'x'"),
    (["d05+1w", "d05-2s"], "d05 is listed twice"),
    ([{"dim": "d05", "intensity": 1}], "is not a code"),  # the old verbose entry
])
def test_validate_codes_says_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        validate_codes(bad)


def test_an_answer_is_mapped_back_item_by_item():
    ok, bad = parse_answer(json.dumps({"items": [{"id": 2, "r": ["d16+2s"]}, {"id": 1, "r": []},
                                                 {"id": 4, "r": ["d95+1w"]}, {"id": 9, "r": []},
                                                 {"id": 5, "r": []}, {"id": 5, "r": ["d01+1w"]}]}), 6)
    assert ok == {0: ([0] * 90, [0] * 90), 1: validate_codes(["d16+2s"])}  # numbered from 1, in any order
    assert bad == {2: "comment 3 is missing from the answer",
                   3: "comment 4: r[0] = 'd95+1w': d95 is not one of d00..d89",
                   4: "comment 5 is listed twice", 5: "comment 6 is missing from the answer"}  # id 9: none of them
    for whole, message in (("", "empty answer"), ('{"items": [', "not valid JSON"),
                           (json.dumps({f"d{i:02d}": 0 for i in range(90)}), "expected a JSON object")):
        with pytest.raises(ValueError, match=message):
            parse_answer(whole, 3)
    # self-consistency item by item: an item bad in any sample is bad
    a = parse_answer(json.dumps({"items": [{"id": 1, "r": ["d16+2s"]}, {"id": 2, "r": ["d01+1w"]}]}), 2)
    b = parse_answer(json.dumps({"items": [{"id": 1, "r": ["d16+1s"]}]}), 2)
    ok, bad = combine([a, b], 2)
    assert list(ok) == [0] and ok[0][0][16] == 2 and bad == {1: "comment 2 is missing from the answer"}


def test_requests_keep_a_posts_comments_together_behind_one_shared_prefix():
    items = [Item(f"c{i}", f"topic {i % 3}", f"comment {i}") for i in range(10)]
    groups = plan_requests(items, 4)
    assert [len(g) for g in groups] == [4, 4, 2] and sorted(sum(groups, [])) == list(range(10))
    assert [items[i].post for i in sum(groups, [])] == ["topic 0"] * 4 + ["topic 1"] * 3 + ["topic 2"] * 3
    bodies = [request_body({"model": "m", "temperature": 0.0, "sampling_seed": 0, "max_output_tokens": 50,
                            "self_consistency": 1}, [items[i] for i in g]) for g in groups]
    assert len({b["messages"][0]["content"] for b in bodies}) == 1  # the same prefix, byte for byte
    assert "d89:" in bodies[0]["messages"][0]["content"] and "topic 0" not in bodies[0]["messages"][0]["content"]
    user = bodies[1]["messages"][1]["content"]  # topic 1's c1, c4, c7, then topic 2's c2
    assert user.count("topic 1") == user.count("topic 2") == 1  # each post once
    assert user.index("Comment 3 (answers post 1)") < user.index("Post 2:\n<<<\ntopic 2") < \
        user.index("Comment 4 (answers post 2)")
    assert bodies[2]["max_tokens"] == 2 * 50  # max_output_tokens is per comment
    from openai_server import comments_of

    assert [t for _, t in comments_of(user)] == ["comment 1", "comment 4", "comment 7", "comment 2"]


def test_one_bad_item_is_asked_again_alone_and_the_rest_of_the_answer_kept():
    """In process, against the real HTTP server: a request of five comments whose answer has one
    bad entry (an unknown dimension, a bad intensity, a missing id) costs one more request, for
    that comment alone; an answer unusable as a whole is asked again whole; one that stays bad is
    recorded per comment with the reason."""
    from annotators.llm import OpenAIAnnotator
    from openai_server import codes_for

    items = [Item(f"c{i}", f"post {i // 5}", f"comment number {i}") for i in range(10)]
    p = {"model": "test-model", "temperature": 0.0, "sampling_seed": 0, "max_output_tokens": 50, "self_consistency": 1,
         "items_per_request": 5, "concurrency": 1, "invalid_retries": 1, "api_key_env": "ALIGNX_TEST_NO_KEY",
         "timeout_s": 5.0, "max_retries": 0}
    with OpenAIServer() as server:
        ann = OpenAIAnnotator({**p, "base_url": server.url})
        for fault in ("unknown", "schema", "missing", "truncated"):
            server.chat_requests, server.always = 0, None
            server.faults.append(fault)
            out, spend = [], Spend(0, 0)
            ann.annotate(items, [it.id for it in items], out.extend, spend, show_progress=False)
            assert server.chat_requests == 3 and spend.requests == 3, fault
            assert spend.retried_alone == (fault != "truncated")
            got = {r.key: r for r in out}
            assert all(got[it.id].ok and to_codes(got[it.id].ratings, got[it.id].evidence) ==
                       sorted(codes_for(it.response)) for it in items), fault
            assert sum(r.tokens_in for r in out) == spend.tokens_in  # every request's tokens, split over its items
            server.chat_requests = 0
            server.always = fault  # every answer: the first comment's entry (or the whole answer) stays bad
            out, spend = [], Spend(0, 0)
            ann.annotate(items, [it.id for it in items], out.extend, spend, show_progress=False)
            failed = {r.key: r.error for r in out if not r.ok}
            if fault == "truncated":  # each request asked twice, then all its comments failed
                assert server.chat_requests == 4 and len(failed) == 10
                assert all(e.startswith("invalid_output: not valid JSON") for e in failed.values())
            else:  # the first comment of each request, asked alone twice; the other four kept
                assert server.chat_requests == 2 + 2 * 2 and sorted(failed) == ["c0", "c5"]
                assert all(e.startswith("invalid_output: comment 1") for e in failed.values())


def test_which_comments_can_enter_the_dataset_hand_computed():
    """alignx/candidates.py on a hand-made thread: users a (3 comments) and b (1), min_comments 3."""
    from alignx.candidates import dataset_comments

    rows = [  # id, author, link_id, parent_id, is_top_level, recurring_post
        ("a1", "a", "p1", "p1", True, False), ("b1", "b", "p1", "p1", True, False),
        ("c1", "c", "p1", "p1", True, False),  # p1: a answered, b1 and c1 are two others: both candidates
        ("a2", "a", "p2", "p2", True, False), ("d1", "d", "p2", "p2", True, False),  # p2: a single other: no pair
        ("a3", "a", "p3", "p3", True, True), ("e1", "e", "p3", "p3", True, True), ("f1", "f", "p3", "p3", True, True),
        # p3 is recurring: its top-level comments answer nothing in common; replies to e1 do
        ("g1", "g", "p3", "e1", False, True), ("h1", "h", "p3", "e1", False, True),
        ("i1", "i", "p4", "p4", True, False), ("j1", "j", "p4", "p4", True, False),  # nobody with history
    ]
    threads = pl.LazyFrame(rows, schema=["id", "author", "link_id", "parent_id", "is_top_level", "recurring_post"],
                           orient="row")
    ids = lambda *a: dataset_comments(threads, *a).collect()["id"].to_list()  # noqa: E731
    assert ids(3, "siblings") == ["a1", "a2", "a3", "b1", "c1"]
    assert ids(2, "siblings") == ["a1", "a2", "a3", "b1", "c1"]
    assert set(ids(1, "siblings")) == {r[0] for r in rows}  # everyone has a history
    # top_level: a group is the post; a reply makes its author an answerer of the post
    assert ids(3, "top_level") == ["a1", "a2", "a3", "b1", "c1"]


def test_self_consistency_keeps_what_a_majority_agrees_on():
    def one(**dims):
        r, e = [0] * 90, [0] * 90
        for k, (v, lev) in dims.items():
            r[int(k[1:])], e[int(k[1:])] = v, lev
        return r, e

    r, e = agree([one(d16=(2, 2), d05=(-1, 1)), one(d16=(1, 2), d05=(-1, 2), d34=(1, 1)), one(d16=(2, 1))])
    assert (r[16], e[16]) == (2, 1)  # all three: mean 5/3 rounds to 2, lowest evidence
    assert (r[5], e[5]) == (-1, 1)  # two of three
    assert (r[34], e[34]) == (0, 0)  # one of three: dropped


@pytest.fixture(scope="module")
def anonymized(tmp_path_factory) -> Path:
    """A data dir with the demo corpus ingested and anonymized (copied by each test)."""
    d = tmp_path_factory.mktemp("anon") / "data"
    raw = copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    alignx("run", "ingest_reddit", "anonymize", "--set", f"ingest_reddit.inputs={raw}", data_dir=d, env=KEY_ENV)
    return d


@pytest.fixture
def data_dir(anonymized, tmp_path) -> Path:
    d = tmp_path / "data"
    shutil.copytree(anonymized, d)
    return d


@pytest.fixture
def server():
    with OpenAIServer() as s:
        yield s


def openai_args(server: OpenAIServer, *extra: str) -> list[str]:
    args = ["--set", "annotate.backend=openai", "--set", f"annotate.base_url={server.url}",
            "--set", "annotate.model=test-model", "--set", "annotate.timeout_s=1.0",
            "--set", "annotate.max_retries=3"]
    for e in extra:
        args += ["--set", e]
    return args


def run_annotate(data_dir: Path, args: list[str], check: bool = True, env: dict | None = None):
    return alignx("run", "annotate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}", *args,
                  data_dir=data_dir, env={**KEY_ENV, **(env or {})}, check=check)


def ratings(data_dir: Path) -> pl.DataFrame:
    files = sorted((data_dir / "work/annotate").glob("out-*/ratings/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("id")


def manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "work/annotate/_manifest.json").read_text())


@pytest.mark.e2e
def test_embedding_backend_rates_every_comment_sparsely_with_evidence_and_caches(data_dir):
    run_annotate(data_dir, [])
    df = ratings(data_dir)
    assert df.height == 342 and (df["status"] == "ok").all()
    assert df["annotator_version"].str.starts_with("o").all()
    r = np.array(df["ratings"].to_list())
    e = np.array(df["evidence"].to_list())
    assert r.shape == e.shape == (342, 90) and r.min() >= -2 and r.max() <= 2 and set(np.unique(e)) <= {0, 1, 2}
    assert ((r != 0) == (e > 0)).all()  # no evidence, no intensity
    # the raw measures pair directions compare: the offline annotator's word count, grade and its inputs
    from alignx.directions import MEASURES
    from annotators.measures import raw_measures

    texts = pl.concat([pl.read_parquet(f, columns=["id", "body"]) for f in
                       sorted((data_dir / "work/anonymize").glob("out-*/threads/*.parquet"))]).sort("id")
    assert texts["id"].to_list() == df["id"].to_list()
    stored = df["measures"].struct.unnest().select(MEASURES).to_numpy()
    assert np.array_equal(stored, raw_measures(texts["body"].to_list()))
    assert stored[:, 0].min() >= 1 and 1 < np.median(stored[:, 1]) < 20
    per_comment = (e > 0).sum(axis=1)
    assert 1 <= np.median(per_comment) <= 8  # sparse: a comment speaks to a few dimensions
    from annotators.learned import LearnedModel

    rules = json.loads((ROOT / "annotators/resources/offline_calibration.json").read_text())["rules"]
    never = sorted(set(range(90)) - {x["dimension"] for x in rules} - set(LearnedModel.load().dims))
    assert (e[:, never] == 0).all()  # dimensions without a validated instrument are never rated
    m = manifest(data_dir)
    assert m["counts"]["usage.cost_usd"] == 0
    first = df
    run_annotate(data_dir, [], check=True)  # up to date: skipped
    alignx("run", "annotate", "--force", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}", data_dir=data_dir,
           env=KEY_ENV)
    m = manifest(data_dir)
    assert m["counts"]["requested"] == 0 and m["counts"]["cached"] == 342
    assert ratings(data_dir).equals(first)


def test_embedding_backend_reads_length_readability_and_topic():
    from annotators.embedding import EmbeddingAnnotator
    from alignx.taxonomy import load_taxonomy

    tax = load_taxonomy()
    ann = EmbeddingAnnotator("all-MiniLM-L6-v2-static", None)  # the configured default
    texts = [
        "The eigenvalue decomposition of the covariance operator characterizes the asymptotic variance "
        "of the estimator under heteroscedastic perturbations, which is the substantive contribution.",
        "The dog is big. It likes to run. It is fun.",
        "ok.",
        " ".join(["I think the price of ETH will go up because the market is buying more and the fees are low."] * 8),
    ]
    r, e = ann.rate(texts)
    complexity = tax.find("complexity of the statement").index
    concise = tax.find("Concise communication style").index
    finance = tax.find("finance").index
    # the academic sentence is rated complex; plain sentences are the forum's norm, no evidence
    # of a preference for simplicity (guideline rule 10), and neither is being short or long
    assert r[0, complexity] > 0 and r[1, complexity] == 0
    assert (e[:, concise] == 0).all()
    assert r[3, finance] > 0 and r[1, finance] == 0 and e[1, finance] == 0


def test_lexicons_skip_quoted_lines_and_links_count_sources():
    """On the reference set's real comments: a line quoted from another comment ("> ...") adds no
    lexicon match (the guidelines: quotes are the other person's words), and ``links`` counts
    the URLs a comment cites."""
    from annotators.embedding import surface_features

    items = {r["id"]: r for r in map(json.loads, (ROOT / "data/validation/items.jsonl").open())}
    texts = [r["text"] for r in items.values()][:200]
    alone = surface_features(["ok thanks"] * len(texts))
    quoting = surface_features(["> " + " ".join(t.split()) + "\n\nok thanks" for t in texts])
    lex = [k for k in alone if k.startswith("lex_")]
    assert len(lex) > 50 and all((quoting[k] == alone[k]).all() for k in lex)
    plain = surface_features(texts)
    assert sum(plain[k].sum() for k in lex) > 0  # the same texts unquoted do match
    cited = surface_features([items["ref-0162"]["text"], items["ref-0203"]["text"]])
    assert cited["links"].tolist() == [2.0, 0.0]  # two dedasys.com articles; none
    assert cited["lex_open"][1] >= 1  # "Now that is an interesting point!": openness (4)
    # a cmv reply citing research ("extensively researched", "a pile of studies"): truthfulness (43)
    assert surface_features([items["ref-0662"]["text"]])["lex_sources"][0] >= 2
    # word senses that cite nothing: "future-proof", "open source", praise of a point (openness
    # leaves it to agreeableness)
    other = surface_features(["a future-proof store of value", "it is open source software", "good point, you're right"])
    assert other["lex_sources"].tolist() == [0.0, 0.0, 0.0] and other["lex_open"][2] == 0


def test_windowed_vader_scores_exactly_as_the_library():
    """The offline annotator's linear-time VADER gives the library's scores on every real text of
    the reference set (comments of 1 to over 1,000 words)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from annotators.embedding import _vader

    texts = [json.loads(line)["text"] for line in (ROOT / "data/validation/items.jsonl").open()]
    # one very long text (15,000 words, far longer than any window): every word's window in the
    # middle of it. Not all 1,040 joined: the library's own scoring is quadratic in the length
    # (57,000 words took it a minute)
    texts += [" ".join(texts[:300])]
    library = SentimentIntensityAnalyzer()
    assert [_vader().polarity_scores(t) for t in texts] == [library.polarity_scores(t) for t in texts]


@pytest.mark.e2e
def test_every_comment_assemble_uses_is_one_that_can_enter_the_dataset(built):
    """The demo build (every comment rated): each comment an example uses (chosen, rejected, UGC,
    PAIR) is one alignx/candidates.py lets an LLM annotator rate, and the rule leaves some out."""
    from alignx.candidates import dataset_comments

    d = built[0]
    threads = sorted((d / "work/anonymize").glob("out-*/threads/*.parquet"))
    rated = set(dataset_comments(pl.scan_parquet(threads), 5, "siblings").collect()["id"])
    examples = pl.concat([pl.read_parquet(f, columns=["source", "source_ids"])
                          for f in sorted((d / "work/assemble").glob("out-*/examples/*.parquet"))])
    used = {i for ids in examples.filter(pl.col("source") == "reddit")["source_ids"] for i in ids[1:]}  # [0]: the post
    assert len(used) > 50 and used <= rated
    assert len(rated) < pl.scan_parquet(threads).select(pl.len()).collect().item()


def planned_requests(data_dir: Path, only: set[str] | None = None) -> tuple[set[str], list[int]]:
    """The comments the LLM backends rate by default (annotate.scope "auto": those that can enter
    the dataset) and the sizes of the requests they take (or those of the comments ``only``),
    planned as the stage plans them (per shard, 10 a request)."""
    from annotators import rated_ids
    from annotators.llm import plan_requests

    files = sorted((data_dir / "work/anonymize").glob("out-*/threads/*.parquet"))
    rated = rated_ids({"scope": "dataset", "backend": "openai"}, 5, "siblings", files)
    sizes = []
    for f in files:
        df = pl.read_parquet(f).filter(pl.col("id").is_in(sorted(rated if only is None else only)))
        sizes += map(len, plan_requests([Item(i, a, b) for i, a, b in zip(df["id"], df["prompt"], df["body"])], 10))
    return rated, sizes


@pytest.mark.e2e
def test_openai_backend_rates_the_dataset_comments_several_a_request_and_nothing_on_rerun(data_dir, server):
    run_annotate(data_dir, openai_args(server, "annotate.concurrency=8"))
    df = ratings(data_dir)
    rated, sizes = planned_requests(data_dir)
    requests = len(sizes)
    assert df.height == 342 and 300 < len(rated) < 342
    # the comments that cannot enter the dataset are left unrated, counted, and nothing else is
    assert set(df.filter(pl.col("status") == "ok")["id"]) == rated
    skipped = df.filter(pl.col("status") == "skipped")
    assert skipped.height == 342 - len(rated) and skipped["error"].null_count() == skipped["ratings"].null_count() == \
        skipped.height
    m = manifest(data_dir)
    assert m["dropped"] == {"not_in_dataset": skipped.height} and m["records_out"] == len(rated)
    assert m["counts"]["skipped_share"] == round(skipped.height / 342, 4) and m["failed"] == 0
    # several comments a request, each comment asked once
    assert server.chat_requests == requests == m["counts"]["usage.requests"] and requests < len(rated) / 5
    assert sorted(server.comments_asked) == sorted(set(server.comments_asked)) and len(server.comments_asked) == len(rated)
    assert df["measures"].null_count() == df.height  # no raw measures: pair directions keep rule 2
    assert m["counts"]["usage.tokens_in"] > 0 and m["counts"]["usage.cost_usd"] > 0
    # the tokens of each request are split over its comments: what the ratings took adds up to what was spent
    assert m["counts"]["ratings.tokens_in"] == m["counts"]["usage.tokens_in"]
    before = server.chat_requests
    alignx("run", "annotate", "--force", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}",
           *openai_args(server), data_dir=data_dir, env=KEY_ENV)
    assert server.chat_requests == before  # everything came from the cache
    assert ratings(data_dir).equals(df)
    # scope "all": every comment, the skipped ones now asked for (the rated ones are cached)
    alignx("run", "annotate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}",
           *openai_args(server, "annotate.scope=all"), data_dir=data_dir, env=KEY_ENV)
    assert (ratings(data_dir)["status"] == "ok").all() and len(server.comments_asked) == 342


@pytest.mark.e2e
def test_openai_backend_stores_the_sparse_answer_and_votes_with_self_consistency(data_dir, server):
    run_annotate(data_dir, openai_args(server, "annotate.concurrency=8", "annotate.self_consistency=3",
                                       "annotate.temperature=0.7"))
    df = ratings(data_dir).filter(pl.col("status") != "skipped")
    assert (df["status"] == "ok").all()
    r = np.array(df["ratings"].to_list())
    e = np.array(df["evidence"].to_list())
    assert ((r != 0) == (e > 0)).all() and (e > 0).sum(axis=1).max() <= 4
    assert (e > 0).any()
    assert (e[:, 39] == 0).all()  # the third sample's extra dimension lost the vote every time
    assert manifest(data_dir)["counts"]["usage.requests"] == server.chat_requests  # n samples, one request


@pytest.mark.e2e
def test_openai_backend_survives_every_failure(data_dir, server):
    faults = ["429", "500", "hang", "truncated", "schema", "garbage", "unknown", "missing", "dense"]
    server.faults.extend(faults)
    # one request at a time: the first requests meet every fault, three transport faults (retried
    # by the client, max_retries=3), three answers unusable as a whole (asked again, invalid_retries=5)
    # and three answers with one bad entry (that comment asked again alone)
    proc = run_annotate(data_dir, openai_args(server, "annotate.concurrency=1", "annotate.invalid_retries=5"))
    df = ratings(data_dir).filter(pl.col("status") != "skipped")
    assert (df["status"] == "ok").all(), df.filter(pl.col("status") != "ok")["error"].to_list()
    # 429 then the retry: the client waited out Retry-After: 1
    assert server.request_times[1] - server.request_times[0] >= 0.9
    # each fault costs one extra request (the hang also one, after the 1 s timeout)
    assert server.chat_requests == len(planned_requests(data_dir)[1]) + len(faults)
    assert manifest(data_dir)["counts"]["usage.retried_alone"] == 3
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_persistent_failures_are_recorded_with_reasons_and_retried_next_run(data_dir, server):
    server.always = "schema"  # every answer: the first comment's entry is invalid
    # accepted here (max_failed_share=1) to look at what is recorded; no fault here is a hang, so
    # the 1 s timeout (for the hang fault of other tests) is raised to 10 s: on a busy machine 64
    # requests in flight can wait past 1 s and be recorded as timeouts, not http_500
    accept = ("execution.max_failed_share=1.0", "annotate.timeout_s=10.0")
    run_annotate(data_dir, openai_args(server, "annotate.concurrency=4", "annotate.invalid_retries=1", *accept))
    df = ratings(data_dir)
    failed = df.filter(pl.col("status") == "failed")
    sizes = planned_requests(data_dir)[1]
    requests = len(sizes)
    # the first comment of each request, asked alone twice (the retry showing the error; a request
    # of one comment: asked again once, in the same conversation); the rest kept
    assert failed.height == requests and server.chat_requests == sum(3 if n > 1 else 2 for n in sizes)
    assert failed["error"].str.contains("invalid_output: comment 1: r\\[\\d+\\] = 'd39\\+7s': intensity \\+7").all()
    m = manifest(data_dir)
    assert m["dropped"]["failed_invalid_output"] == requests
    assert m["counts"]["usage.retried_alone"] == sum(n > 1 for n in sizes)
    server.always = "500"
    before = server.chat_requests
    alignx("run", "annotate", "--force", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}",
           # many in flight: each 500 is retried once after the client's backoff, waited out together
           *openai_args(server, "annotate.concurrency=64", "annotate.max_retries=1", *accept), data_dir=data_dir,
           env=KEY_ENV)
    assert ratings(data_dir).filter(pl.col("status") == "failed")["error"].str.starts_with("http_500").all()
    assert manifest(data_dir)["dropped"]["failed_http_500"] == requests  # only the failed ones asked again
    again = len(planned_requests(data_dir, only=set(failed["id"]))[1])  # together, several a request
    assert again < requests and server.chat_requests - before == 2 * again  # each with the client's retry
    server.always = None
    alignx("run", "annotate", "--force", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}",
           *openai_args(server, "annotate.concurrency=8", *accept[1:]), data_dir=data_dir, env=KEY_ENV)
    assert (ratings(data_dir).filter(pl.col("status") != "skipped")["status"] == "ok").all()


@pytest.mark.e2e
def test_killed_run_resumes_to_the_same_output(data_dir, server, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(data_dir, clean)
    run_annotate(clean, openai_args(server, "annotate.concurrency=8"))
    expected = ratings(clean)
    sent = server.chat_requests
    proc = run_annotate(data_dir, openai_args(server, "annotate.concurrency=8"), check=False,
                        env={"ALIGNX_INJECT_KILL_AFTER_SHARDS": "3"})
    assert proc.returncode == -9
    assert sent < server.chat_requests < 2 * sent  # part of the work (each data dir has its own cache)
    run_annotate(data_dir, openai_args(server, "annotate.concurrency=8"))
    assert ratings(data_dir).equals(expected)
    m = manifest(data_dir)
    assert m["shards"]["resumed"] == 3 and server.chat_requests == 2 * sent


@pytest.mark.e2e
def test_cost_limit_stops_cleanly_and_paid_ratings_stay(data_dir, server):
    args = openai_args(server, "annotate.concurrency=1", "annotate.price_input_per_mtok=1000",
                       "annotate.max_cost=20")
    proc = run_annotate(data_dir, args, check=False)
    assert proc.returncode == 1 and "cost limit reached" in proc.stderr and "annotate.max_cost=40" in proc.stderr
    assert not (data_dir / "work/annotate/_manifest.json").exists()
    rated, sizes = planned_requests(data_dir)
    assert 0 < server.chat_requests < len(sizes)
    paid = len(server.comments_asked)
    run_annotate(data_dir, openai_args(server, "annotate.concurrency=8"))
    assert len(server.comments_asked) == len(set(server.comments_asked)) == len(rated)  # none paid for twice
    assert manifest(data_dir)["counts"]["cached"] == paid
    assert (ratings(data_dir).filter(pl.col("status") != "skipped")["status"] == "ok").all()


@pytest.mark.e2e
def test_estimate_counts_real_tokens_of_the_planned_requests_and_sends_nothing(data_dir, server):
    rated, sizes = planned_requests(data_dir)
    requests = len(sizes)
    base = ("annotate", "--estimate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}")
    out = alignx(*base, *openai_args(server), data_dir=data_dir, env=KEY_ENV).stdout
    assert (f"342 items, {342 - len(rated)} skipped as unable to enter the dataset "
            f"({100 * (342 - len(rated)) / 342:.1f}%, annotate.scope), 0 cached, {len(rated)} to send in {requests} "
            f"requests") in out
    assert "approximated as characters / 4: no tokenizer of test-model installs offline" in out
    # the default model's tokenizer (o200k_base, bundled by bpe-openai): the shared prefix is paid
    # once a request, not once a comment
    out = alignx(*base, *openai_args(server, "annotate.model=gpt-4o-mini"), data_dir=data_dir, env=KEY_ENV).stdout
    assert "counted with o200k_base, the tokenizer of gpt-4o-mini" in out
    per_in = float(re.search(r"tokens in\s+~[\d,]+\s+\(([\d,.]+) per comment", out).group(1).replace(",", ""))
    per_out = float(re.search(r"tokens out\s+~[\d,]+\s+\(([\d,.]+) per comment", out).group(1).replace(",", ""))
    assert 150 < per_in <= 600 and 10 < per_out <= 100
    one = alignx(*base, *openai_args(server, "annotate.model=gpt-4o-mini", "annotate.items_per_request=1"),
                 data_dir=data_dir, env=KEY_ENV).stdout
    per_one = float(re.search(r"tokens in\s+~[\d,]+\s+\(([\d,.]+) per comment", one).group(1).replace(",", ""))
    assert per_one > 2000 and per_one > 4 * per_in  # one comment a request carries the whole prefix each time
    assert server.chat_requests == 0
    # the estimate of the prompt tokens is what the tokenizer gives for the requests the backend sends
    from annotators.estimate import tokenizer
    from annotators.llm import request_body

    count, _ = tokenizer("gpt-4o-mini")
    assert count("hello world") == 2 and count(request_body(
        {"model": "gpt-4o-mini", "temperature": 0.0, "sampling_seed": 0, "max_output_tokens": 400,
         "self_consistency": 1}, [Item("x", "a post", "a comment")])["messages"][0]["content"]) > 2000


@pytest.mark.e2e
def test_missing_api_key_is_a_clear_error(data_dir):
    proc = alignx("run", "annotate", "--set", "annotate.backend=openai", "--set",
                  f"ingest_reddit.inputs={data_dir / 'raw/reddit'}", data_dir=data_dir,
                  env={**KEY_ENV, "OPENAI_API_KEY": ""}, check=False)
    assert proc.returncode == 2 and "needs an API key in $OPENAI_API_KEY" in proc.stderr


@pytest.mark.e2e
def test_batch_backend_resumes_the_same_batch(data_dir, server):
    server.hold_batches = True
    args = ["--set", "annotate.backend=openai-batch", "--set", f"annotate.base_url={server.url}",
            "--set", "annotate.model=test-model", "--set", "annotate.batch_poll_s=0.2"]
    cmd = [sys.executable, "-m", "cli", "run", "annotate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}",
           *args, "--data-dir", str(data_dir)]
    import os

    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **KEY_ENV}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while server.batch_creates == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.kill()
    proc.wait()
    state = json.loads((data_dir / "work/annotate/batches.json").read_text())
    assert list(state.values()) == ["batch-0"]
    server.hold_batches = False
    alignx("run", "annotate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}", *args, data_dir=data_dir,
           env=KEY_ENV)
    df = ratings(data_dir)
    assert (df.filter(pl.col("status") != "skipped")["status"] == "ok").all() and df.height == 342
    # the interrupted shard's batch was polled again, not paid for twice
    assert server.batch_creates == server.uploads == len(list((data_dir / "work/annotate/parts").iterdir()))
    m = manifest(data_dir)
    assert m["counts"]["usage.cost_usd"] > 0
    lines = server.files["file-0"].decode().splitlines()
    req = json.loads(lines[0])
    assert req["url"] == "/v1/chat/completions" and req["body"]["response_format"]["json_schema"]["strict"]
    assert req["body"]["temperature"] == 0.0 and "seed" in req["body"]
    assert len(lines) < 40 and all(len(comments_of(json.loads(x)["body"]["messages"][1]["content"])) <= 10 for x in lines)


@pytest.mark.e2e
def test_batch_backend_asks_a_bad_item_again_alone_in_a_second_batch(data_dir, server):
    server.faults.extend(["unknown", "missing"])  # the first two requests of the first batch
    args = ["--set", "annotate.backend=openai-batch", "--set", f"annotate.base_url={server.url}",
            "--set", "annotate.model=test-model", "--set", "annotate.batch_poll_s=0.05"]
    alignx("run", "annotate", "--set", f"ingest_reddit.inputs={data_dir / 'raw/reddit'}", *args, data_dir=data_dir,
           env=KEY_ENV)
    rated, sizes = planned_requests(data_dir)
    df = ratings(data_dir)
    assert set(df.filter(pl.col("status") == "ok")["id"]) == rated
    shards = len(list((data_dir / "work/annotate/parts").iterdir()))
    assert server.batch_creates == shards + 1  # one more batch: the two comments, one request each
    # the first shard's: its first batch met the faults, its second asks the two comments alone
    last = server.files[server.batches["batch-1"]["input_file_id"]].decode().splitlines()
    assert len(last) == 2 and all(len(comments_of(json.loads(x)["body"]["messages"][1]["content"])) == 1 for x in last)
    m = manifest(data_dir)
    assert m["counts"]["usage.retried_alone"] == 2 and m["counts"]["usage.requests"] == len(sizes) + 2
