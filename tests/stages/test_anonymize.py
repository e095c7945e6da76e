"""Stage anonymize and `alignx audit-privacy`, on the demo corpus and the real Reddit files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from alignx.dumps import iter_records

from conftest import SAMPLE_REDDIT, alignx, copy_inputs

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"


def build(data_dir: Path, inputs: list[Path], key: str | None = KEY, *sets: str):
    raw = copy_inputs(inputs, data_dir / "raw" / "reddit")
    env = {"ALIGNX_PSEUDONYM_KEY": key} if key else {}
    # relative to the data dir, so a copied data dir is up to date for the same call (``prebuilt``)
    args = ["--set", f"ingest_reddit.inputs={raw.relative_to(data_dir)}", *(x for s in sets for x in ("--set", s))]
    alignx("run", "ingest_reddit", *args, data_dir=data_dir, env=env)
    alignx("run", "anonymize", *args, data_dir=data_dir, env=env)
    return args, env


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """The demo corpus ingested and anonymized with KEY, once for the module."""
    d = tmp_path_factory.mktemp("anonymize") / "data"
    build(d, sorted(SAMPLE_REDDIT.glob("*.zst")))
    return d


@pytest.fixture
def prebuilt(demo, tmp_path) -> Path:
    """tmp_path holding a copy of ``demo``: a test's own ``build`` of the demo corpus with KEY then
    finds both stages up to date instead of building the same thing again."""
    shutil.copytree(demo, tmp_path, dirs_exist_ok=True)
    return tmp_path


def out_dir(data_dir: Path) -> Path:
    return next((data_dir / "work" / "anonymize").glob("out-*"))


def table(data_dir: Path, name: str) -> pl.DataFrame:
    files = sorted(out_dir(data_dir).glob(f"{name}/*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()


def test_demo_corpus_is_anonymized_and_passes_the_audit(tmp_path, prebuilt):
    build(tmp_path, sorted(SAMPLE_REDDIT.glob("*.zst")))
    m = json.loads((tmp_path / "work/anonymize/_manifest.json").read_text())
    scrubbed = {k.split(".", 1)[1]: v for k, v in m["counts"].items() if k.startswith("scrubbed.")}
    # the demo corpus holds 3 comments with 4 u/ mentions, 1 bare name, 1 email, 1 phone
    assert scrubbed == {"mention": 4, "author_name": 1, "email": 1, "phone": 1}
    threads = table(tmp_path, "threads")
    assert threads.height == 342
    assert all(re.fullmatch(r"u_[0-9a-f]{16}", a) for a in threads["author"])
    assert all(re.fullmatch(r"c_[0-9a-f]{16}", i) for i in threads["id"])
    assert all(re.fullmatch(r"p_[0-9a-f]{16}", i) for i in threads["link_id"])
    assert not {"source_file", "source_line", "author_fullname"} & set(threads.columns)
    # replies still point at their parent, through pseudonyms
    replies = threads.filter(~pl.col("is_top_level"))
    # 79 since ingest v7's bulk MinHash (tested against datasketch) judges a few borderline demo
    # comments near-duplicates differently; the thread total stays 342
    assert replies.height == 79 and replies["parent_id"].is_in(threads["id"].implode()).all()
    proc = alignx("audit-privacy", data_dir=tmp_path)
    assert proc.returncode == 0 and "passed: no findings" in proc.stdout
    assert re.search(r"author_name\s+0", proc.stdout) and re.search(r"mention\s+0", proc.stdout)


def test_audit_catches_what_ingest_alone_leaves(tmp_path, prebuilt):
    build(tmp_path, sorted(SAMPLE_REDDIT.glob("*.zst")))
    ingest_out = next((tmp_path / "work/ingest_reddit").glob("out-*"))
    proc = alignx("audit-privacy", str(ingest_out / "threads"), data_dir=tmp_path, check=False)
    assert proc.returncode == 1 and "FAILED" in proc.stdout
    found = dict(re.findall(r"^  (\w+)\s+(\d+)$", proc.stdout, re.M))
    assert int(found["author_name"]) >= 400 and int(found["mention"]) == 4
    # the demo's phone, 555-013-4477, is in the range reserved for fiction: the audit's own phone
    # detector counts only numbers libphonenumber calls valid (URL digits and ids are not phones)
    assert int(found["email"]) == 1 and int(found.get("phone", 0)) == 0
    assert "lena.ledger@example.com" not in proc.stdout  # examples are masked


@pytest.mark.parametrize("files", [("RC_2005-12.zst",), ("test_comments.json", "test_submissions.json")])
def test_real_reddit_files_pass_the_audit(tmp_path, reddit_dir, files):
    build(tmp_path, [reddit_dir / f for f in files], KEY, "ingest_reddit.english_only=false")
    proc = alignx("audit-privacy", data_dir=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout
    names = pl.read_parquet(tmp_path / "private/anonymize/authors.parquet")["author"]
    assert names.len() > 10
    # u_<name> profile subreddits are pseudonymized too
    if "test_submissions.json" in files:
        subs = table(tmp_path, "submissions")["subreddit"].to_list()
        assert "u_Beastking_17" not in subs and any(re.fullmatch(r"u_[0-9a-f]{16}", s) for s in subs)


def test_pseudonyms_stable_across_runs_and_different_across_keys(tmp_path, demo):
    inputs = sorted(SAMPLE_REDDIT.glob("*.zst"))
    shutil.copytree(demo, tmp_path / "a")  # run a: the module's build; run b: a build of its own
    build(tmp_path / "a", inputs)
    build(tmp_path / "b", inputs)
    build(tmp_path / "c", inputs, "another-key-" + "z" * 40)
    a, b, c = (table(tmp_path / x, "threads").sort("id") for x in "abc")
    assert a.equals(b)
    assert set(a["author"]).isdisjoint(set(c["author"]))
    assert set(a["id"]).isdisjoint(set(c["id"]))


def test_key_never_reaches_work_logs_or_manifests(tmp_path, prebuilt):
    build(tmp_path, sorted(SAMPLE_REDDIT.glob("*.zst")))
    build(tmp_path / "filekey", sorted(SAMPLE_REDDIT.glob("*.zst")), None)
    file_key = (tmp_path / "filekey/private/pseudonym.key").read_text().strip()
    for root, key in ((tmp_path / "work", KEY), (tmp_path / "filekey" / "work", file_key)):
        for f in root.rglob("*"):
            if f.is_file():
                assert key.encode() not in f.read_bytes(), f


def test_key_change_makes_anonymize_stale(tmp_path, prebuilt):
    args, env = build(tmp_path, sorted(SAMPLE_REDDIT.glob("*.zst")))
    assert re.search(r"anonymize +up to date", alignx("status", *args, data_dir=tmp_path, env=env).stdout)
    other = {"ALIGNX_PSEUDONYM_KEY": "rotated-" + "q" * 40}
    out = alignx("status", *args, data_dir=tmp_path, env=other).stdout
    assert re.search(r"anonymize +stale .*key_id", out)


def test_provenance_uses_the_private_map_only_when_present(tmp_path, prebuilt):
    build(tmp_path, sorted(SAMPLE_REDDIT.glob("*.zst")))
    threads = table(tmp_path, "threads")
    row = threads.filter(pl.col("body").str.contains(r"\[email\]")).row(0, named=True)
    out = alignx("provenance", row["id"], data_dir=tmp_path).stdout
    assert f"{row['id']} in stage anonymize" in out
    comments = {r["id"]: (n, r) for n, r in iter_records(SAMPLE_REDDIT / "RC_2024-03.zst")}
    real = next(i for i, (n, r) in comments.items() if "lena.ledger@example.com" in r["body"])
    assert f"real_id: {real}" in out and "source_file: RC_2024-03.zst" in out
    assert f"source_line: {comments[real][0]}" in out
    import shutil

    shutil.rmtree(tmp_path / "private")
    out = alignx("provenance", row["id"], data_dir=tmp_path).stdout
    assert "real_id" not in out and "ledger" not in out


def test_forget_removes_quotes_of_the_forgotten_person_in_others_comments(tmp_path):
    """A comment quoting quietkettle's real demo comment loses the quote after `alignx forget`.
    (A direct reply to their comment is dropped whole, as parent_unavailable: so this one answers the post.)"""
    quoted = ("Aw, I'm sorry it's been frustrating. What helped me was to buy a cheap thermometer, "
              "and to remember that heat control matters more than the recipe.")
    reply = {"author": "reply_writer_99", "body": f"> {quoted}\n\nGreat advice, I will try the thermometer trick.",
             "created_utc": 1709270046, "id": "zz9q01", "link_id": "t3_1009j7", "parent_id": "t3_1009j7",
             "subreddit": "Cooking", "subreddit_id": "t5_rs", "score": 12}
    extra = tmp_path / "extra" / "quotes_comments.json"
    extra.parent.mkdir()
    extra.write_text(json.dumps(reply) + "\n")
    inputs = [*sorted(SAMPLE_REDDIT.glob("*.zst")), extra]
    alignx("forget", "--author", "quietkettle", data_dir=tmp_path, env={"ALIGNX_PSEUDONYM_KEY": KEY})
    build(tmp_path, inputs)
    bodies = pl.concat([table(tmp_path, "threads"), table(tmp_path, "orphans")], how="diagonal")["body"].to_list()
    reply_out = [b for b in bodies if "thermometer trick" in b]
    assert reply_out == ["> [quote removed]\n\nGreat advice, I will try the thermometer trick."]
    m = json.loads((tmp_path / "work/anonymize/_manifest.json").read_text())
    assert m["counts"]["forgotten_quotes"] >= 1
    ngrams = pl.read_parquet(next((tmp_path / "work/ingest_reddit").glob("out-*/forgotten/ngrams.parquet")))
    assert ngrams.height > 10 and ngrams.schema["ngram"] == pl.Int64


LAYERS = ("mentions", "author_names", "person_names", "emails", "phones", "ips", "cards", "national_ids",
          "bank_accounts", "birth_dates", "crypto", "handles", "addresses", "profile_links", "reddit_links")


@pytest.mark.parametrize("scrubbing", [False, True])
def test_audit_second_opinion_fails_an_unscrubbed_build(tmp_path, scrubbing):
    """Planted identifiers in a reply of the demo corpus: with every scrubbing layer off the
    audit's own detectors (not the scrubber's) find each; with scrubbing on it passes."""
    body = ("thanks! my code is on github.com/lenaledger, my node is 2001:db8::8a2e:370:7334, "
            "write to 1600 Elm Street, Springfield, IL 62704, SSN 123-45-6789 (yes really) "
            "or ring +44 20 7946 0958")
    reply = {"author": "reply_writer_99", "body": body, "created_utc": 1709270046, "id": "zz9q02",
             "link_id": "t3_1009j7", "parent_id": "t3_1009j7", "subreddit": "Cooking", "subreddit_id": "t5_rs",
             "score": 12}
    extra = tmp_path / "extra" / "planted_comments.json"
    extra.parent.mkdir()
    extra.write_text(json.dumps(reply) + "\n")
    sets = [] if scrubbing else [f"anonymize.{layer}=false" for layer in LAYERS]
    build(tmp_path, [*sorted(SAMPLE_REDDIT.glob("*.zst")), extra], KEY, *sets)
    proc = alignx("audit-privacy", data_dir=tmp_path, check=False)
    found = dict(re.findall(r"^  ([\w.]+)\s+(\d+)$", proc.stdout, re.M))
    if scrubbing:
        assert proc.returncode == 0, proc.stdout
    else:
        assert proc.returncode == 1
        for kind in ("profile_link", "ip", "address", "national_id", "phone"):
            assert int(found[kind]) >= 1, (kind, proc.stdout)
