"""The scrubber's layers one by one, on hand-written cases and real PII text."""

from __future__ import annotations

import pytest

from alignx.privacy import ScrubRules, Scrubber, key_id, load_key, luhn_ok, pseudonym

NAMES = ["quietkettle", "fernwood_grows", "maple_syrup_dan", "bob", "k", "Dave", "[deleted]"]


@pytest.fixture(scope="module")
def scrubber():
    return Scrubber(NAMES)


@pytest.mark.parametrize("text, expected, kinds", [
    ("I agree with u/fernwood_grows and /u/Someone_Else.", "I agree with [user] and [user].", {"mention": 2}),
    ("Honestly maple_syrup_dan nailed it", "Honestly [user] nailed it", {"author_name": 1}),
    ("QUIETKETTLE said so", "[user] said so", {"author_name": 1}),
    # ordinary words and short names are left alone when bare
    ("bob and Dave and k went out", "bob and [name] and k went out", {"person_name": 1}),
    # a name inside another word is not a mention of it
    ("quietkettles are loud", "quietkettles are loud", {}),
    ("mail lena.ledger@example.com today", "mail [email] today", {"email": 1}),
    ("call 555-013-4477 or +44 20 7946 0958", "call [phone] or [phone]", {"phone": 2}),
    ("server at 192.168.1.20 and 2001:0db8:85a3:0000:0000:8a2e:0370:7334", "server at [ip] and [ip]", {"ip": 2}),
    ("card 4111 1111 1111 1111 ok", "card [card] ok", {"card": 1}),
    ("order 4111 1111 1111 1112 ok", "order 4111 1111 1111 1112 ok", {}),  # fails Luhn
    ("I live at 42 Maple Street, Apt 3 now", "I live at [address] now", {"address": 1}),
    ("see https://www.reddit.com/r/Cooking/comments/abc/x", "see [reddit link]", {"reddit_link": 1}),
    ("my page https://instagram.com/someone.real and https://reddit.com/user/spez",
     "my page [profile link] and [profile link]", {"profile_link": 2}),
    ("docs at https://example.org/a/b.", "docs at https://example.org/a/b.", {}),
    ("id p_0123456789abcdef and u_5a3f01234567", "id p_0123456789abcdef and u_5a3f01234567", {}),
])
def test_scrub_each_kind(scrubber, text, expected, kinds):
    out, counts = scrubber.scrub(text)
    assert out == expected
    assert dict(counts) == kinds


def test_other_links_can_be_reduced_to_domain():
    s = Scrubber([], ScrubRules(other_links="domain"))
    assert s.scrub("docs at https://www.example.org/a/b?c=1 ok")[0] == "docs at [link: example.org] ok"


def test_pseudonym_style_keeps_who_is_who():
    key = b"x" * 32
    s = Scrubber(NAMES, ScrubRules(mention_style="pseudonym"), key)
    out, _ = s.scrub("u/Quietkettle and quietkettle agree")
    p = pseudonym(key, "u", "quietkettle")
    assert out == f"[user {p}] and [user {p}] agree"


def test_pseudonyms_are_keyed_and_stable(tmp_path, monkeypatch):
    monkeypatch.delenv("ALIGNX_PSEUDONYM_KEY", raising=False)
    key_file = tmp_path / "private" / "pseudonym.key"
    assert load_key(key_file, create=False) is None
    key = load_key(key_file)
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert load_key(key_file) == key
    assert pseudonym(key, "u", "spez") == pseudonym(key, "u", "spez")
    assert pseudonym(key, "u", "spez") != pseudonym(b"another key of 32 characters...", "u", "spez")
    assert pseudonym(key, "u", "abc") != pseudonym(key, "c", "abc")
    assert key.decode() not in key_id(key) and len(key_id(key)) == 12
    monkeypatch.setenv("ALIGNX_PSEUDONYM_KEY", "short")
    from pipeline.errors import UserError

    with pytest.raises(UserError, match="too short"):
        load_key(key_file)


def test_luhn():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")


def test_wnut_person_names_found_without_over_scrubbing(shared_data):
    """On 1,009 real social-media sentences: the name layer finds strangers' names (no author
    dictionary) and what it flags is nearly always a labelled entity; the other layers flag only
    what is personal though WNUT labels no such kind (an email, a birthday)."""
    sentences, text, spans = [], "", []
    for line in (shared_data / "pii" / "emerging.dev.conll").read_text().splitlines() + [""]:
        if not line.strip():
            if text:
                sentences.append((text, spans))
            text, spans = "", []
        else:
            tok, tag = line.split("\t")[:2]
            if tag.startswith("I-") and spans:
                spans[-1] = (spans[-1][0], len(text) + len(tok), spans[-1][2])
            elif tag != "O":
                spans.append((len(text), len(text) + len(tok), tag[2:]))
            text += tok + " "
    assert len(sentences) == 1009
    s = Scrubber([])
    gold = found = caught = on_entity = on_person = 0
    others = set()
    for text, ents in sentences:
        hits = s.find(text)
        others |= {(k, text[a:b]) for a, b, k in hits if k != "person_name"}
        hits = [h for h in hits if h[2] == "person_name"]
        found += len(hits)
        on_entity += sum(any(a < e and st < b for st, e, _ in ents) for a, b, _ in hits)
        on_person += sum(any(a < e and st < b for st, e, k in ents if k == "person") for a, b, _ in hits)
        for st, e, kind in ents:
            if kind == "person":
                gold += 1
                caught += any(a < e and st < b for a, b, _ in hits)
    assert gold == 470
    # the targets: recall >= 0.5 with >= 0.8 of what is scrubbed a real person's name
    assert caught / gold >= 0.5, caught / gold  # 0.511 measured (bench/results/privacy.json)
    assert on_person / found >= 0.8, on_person / found  # 0.805 measured
    assert on_entity / found >= 0.9, on_entity / found  # 0.95 measured
    assert others == {("email", "viralfeedvideonetwork @ gmail . com"), ("date_of_birth", "April 30")}, others


def test_presidio_synthetic_emails_and_cards_are_caught(shared_data):
    import json

    rows = json.loads((shared_data / "pii" / "synth_dataset_v2.json").read_text())
    s = Scrubber([])
    for kind, entity in (("email", "EMAIL_ADDRESS"), ("card", "CREDIT_CARD")):
        gold = [(r["full_text"], sp) for r in rows for sp in r["spans"] if sp["entity_type"] == entity]
        found = sum(
            any(k == kind and a < sp["end_position"] and b > sp["start_position"] for a, b, k in s.find(text))
            for text, sp in gold
        )
        assert found / len(gold) >= 0.9, (kind, found, len(gold))
