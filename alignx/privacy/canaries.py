"""Canaries: synthetic personal data planted into a copy of the input, that must never reach a release.

``make build-dataset`` runs ``alignx run --canaries``: the configured Reddit inputs are copied
to ``DATA_DIR/work/canaries/input/`` with a sentence appended to a few real comments of the
corpus's most active authors (the comments most likely to become persona history), and one
comment written by a synthetic user whose name other planted comments mention in plain text.
``data/raw`` is never modified. What was planted is written to ``DATA_DIR/private/canaries.json``
(kind, secret, the sentence); ``alignx audit-privacy`` looks for every secret in every text of
the release and fails when one is found (``canary.<kind>``).

Kinds: ``person_name`` ("my neighbour Maria Kowalski"), ``email``, ``phone``, ``address``
(street, city, state and ZIP), ``profile_link`` (``github.com/<handle>`` without a scheme) and
``username`` (a user of the corpus named in plain text). Values come from Faker, seeded, so a
build is reproducible; a random suffix keeps handles and usernames from matching real ones.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = ("person_name", "email", "phone", "address", "profile_link", "username")
CANARY_FILE = Path("private") / "canaries.json"
COPY_DIR = Path("work") / "canaries" / "input"
#: Comments that carry one kind's canaries in a planted copy.
PER_KIND = 4
PERSON_TEMPLATES = ("My neighbour {name} told me the same thing.", "{name} told me the same thing last week.",
                    "I met {name} at the meetup and we talked about this.", "Thanks to {name} for the tip.")


@dataclass(frozen=True)
class Canary:
    kind: str
    secret: str  # what must not appear in a release (case-insensitive)
    sentence: str  # what is appended to a real comment


def make_canaries(seed: int, per_kind: int = PER_KIND) -> tuple[list[Canary], str]:
    """``per_kind`` canaries of each kind, and the synthetic username the ``username`` ones name."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def tag(n: int = 6) -> str:
        return "".join(rng.choice("bcdfghjkmnpqrstvwxz") for _ in range(n))

    username = f"quill_{tag()}{rng.randint(10, 99)}"
    out: list[Canary] = []
    for _ in range(per_kind):
        name = f"{fake.first_name()} {fake.last_name()}"
        said = rng.choice(PERSON_TEMPLATES)  # with and without a cue word
        out.append(Canary("person_name", name, said.format(name=name)))
        email = f"{fake.user_name()}.{tag(4)}@{fake.free_email_domain()}"
        out.append(Canary("email", email, f"Write to me at {email} if you want the details."))
        phone = f"({rng.randint(201, 989)}) {rng.randint(201, 989)}-{rng.randint(1000, 9999)}"
        out.append(Canary("phone", phone, f"Call me at {phone} after six."))
        street = f"{rng.randint(10, 9899)} {fake.last_name()} Street"
        address = f"{street}, {fake.city()}, {fake.state_abbr(include_territories=False)} {fake.zipcode()}"
        out.append(Canary("address", street, f"Send it to {address} please."))
        handle = f"{fake.user_name()}{tag(3)}"
        out.append(Canary("profile_link", handle, f"My code is at github.com/{handle} if anyone cares."))
        out.append(Canary("username", username, f"Ask {username} about it, they tracked this for months."))
    return out, username


def plant_copy(files: list[Path], out_dir: Path, seed: int, per_kind: int = PER_KIND) -> list[Canary]:
    """Copy every input dump in ``files`` to ``out_dir/<index>/<name>``, planting canaries into
    comments; returns the canaries planted. Submission files are copied as they are.

    Hosts: comments of 80+ characters by the 20 authors with most comments, picked by a
    seeded hash; each canary goes to one host. One extra comment, a reply to the first host,
    is written by the synthetic username, so the corpus knows it as an author."""
    from alignx.dumps import DumpWriter, dump_kind, iter_records

    canaries, username = make_canaries(seed, per_kind)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    comment_files = [f for f in files if dump_kind(f) != "submission"]

    def comments(f: Path):
        return (r for _, r in iter_records(f) if isinstance(r, dict) and "body" in r)

    authors: Counter = Counter(r.get("author") for f in comment_files for r in comments(f))
    for gone in ("[deleted]", None):
        authors.pop(gone, None)
    active = {a for a, _ in authors.most_common(20)}
    hosts = sorted((hashlib.sha256(f"{seed}:{r.get('id')}".encode()).hexdigest(), r.get("id"))
                   for f in comment_files for r in comments(f)
                   if r.get("author") in active and len(r.get("body") or "") >= 80)
    planted = {cid: c for (_, cid), c in zip(hosts, canaries)}
    first = canaries[0].sentence if canaries else None
    for i, f in enumerate(files):
        dest = out_dir / f"{i:03d}" / (f.name if f.name.endswith(".zst") else f.name + ".zst")
        dest.parent.mkdir(parents=True)
        if dump_kind(f) == "submission" and f.name.endswith(".zst"):
            shutil.copyfile(f, dest)
            continue
        with DumpWriter(dest) as w:
            for _, r in iter_records(f):
                if not isinstance(r, dict):
                    continue
                canary = planted.get(r.get("id")) if "body" in r else None
                if canary is not None:
                    r = {**r, "body": f"{r['body']}\n\n{canary.sentence}"}
                w.write(r)
                if canary is not None and canary.sentence == first:  # the synthetic user's own comment
                    w.write({**r, "id": "cn" + hashlib.sha256(f"{seed}".encode()).hexdigest()[:5], "author": username,
                             "parent_id": f"t1_{r['id']}", "created_utc": int(float(r.get("created_utc") or 0)) + 60,
                             "body": "Same here, I have been tracking this for a while now."})
    return list(planted.values())


def write_canaries(data_dir: Path, canaries: list[Canary]) -> Path:
    path = data_dir / CANARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(c) for c in canaries], indent=1) + "\n")
    tmp.replace(path)
    return path


def load_canaries(data_dir: Path) -> list[Canary]:
    path = data_dir / CANARY_FILE
    return [Canary(**c) for c in json.loads(path.read_text())] if path.exists() else []


def canary_recall(n: int = 50, seed: int = 0) -> dict:
    """Recall per kind of the scrubber on canaries appended to real r/ethereum comments: the
    share whose secret is gone after scrubbing. The corpus's authors plus the synthetic
    usernames form the author dictionary, as in a build."""
    import itertools
    import os

    from alignx.dumps import iter_records
    from alignx.privacy import Scrubber

    root = Path(os.environ.get("ALIGNX_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    path = root / "reddit" / "ethereum_daily" / "ethereum_comments.zst"
    rows = [r for _, r in itertools.islice(iter_records(path), 5000) if len(r.get("body") or "") >= 80]
    canaries: list[Canary] = []
    usernames = []
    for s in range(n):
        found, username = make_canaries(seed + s, 1)
        canaries += found
        usernames.append(username)
    scrubber = Scrubber([r["author"] for r in rows] + usernames)
    rng = random.Random(seed)
    total: Counter = Counter()
    gone: Counter = Counter()
    for c in canaries:
        body = rng.choice(rows)["body"]
        out, _ = scrubber.scrub(f"{body}\n\n{c.sentence}")
        total[c.kind] += 1
        gone[c.kind] += c.secret.lower() not in out.lower()
    return {k: {"planted": total[k], "recall": round(gone[k] / total[k], 3)} for k in KINDS}
