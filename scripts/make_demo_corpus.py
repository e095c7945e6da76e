"""Generate the demo corpus in data/sample/reddit/ (RS_2024-03.zst, RC_2024-03.zst).

The texts are written for this project (no real Reddit content): 48 posts in 7 subreddits and
about 500 comments by 30 invented users, each with a tone of their own (blunt, warm,
detailed, terse, humorous, technical), plus the awkward cases real dumps hold: deleted and
removed items, a bot, a stickied moderator notice, an NSFW post, u/ mentions of other users,
an email address and a phone number. Fields follow the 2024 Pushshift/Arctic Shift dumps.

Deterministic: same seed, same bytes. Run: python scripts/make_demo_corpus.py [--out DIR]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from alignx.dumps import DumpWriter

SEED = 7
BASE_TIME = 1709251200  # 2024-03-01T00:00:00Z
ID_BASE = 36**5  # 6-character base-36 ids


def b36(n: int) -> str:
    chars = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = chars[r] + out
    return out or "0"


SUBREDDITS = {
    "Cooking": {
        "posts": [
            ("How do I stop my risotto turning to glue?", "Third attempt this week and it is still a sticky mess. I stir constantly and add stock slowly. What am I missing?"),
            ("Cast iron or stainless for a first real pan?", "Moving out soon and can afford one good pan. I mostly cook eggs, stir fries and the odd steak."),
            ("Weeknight dinners that are not pasta", "I am tired of pasta four nights a week. Looking for quick ideas that use cheap vegetables."),
            ("Is it worth making stock from scratch?", "Every recipe says homemade stock is better. Is the difference big enough to spend a Sunday on it?"),
            ("My bread never rises properly", "Using instant yeast, warm water and a warm kitchen. Dough doubles but collapses in the oven."),
            ("Best way to learn knife skills at home", "I chop slowly and unevenly. Videos, classes, or just practice with onions?"),
            ("Meal prep that does not get soggy", "Anything I prep on Sunday is sad by Wednesday. How do you keep textures?"),
        ],
        "thing": ["the risotto", "a cast iron pan", "homemade stock", "the dough", "a sharp chef's knife", "roasted vegetables", "the sauce"],
        "detail": ["heat control matters more than the recipe", "salt early and taste often", "resting time changes everything", "the pan has to be properly hot first", "weighing ingredients beats cups"],
        "alt": ["buy a cheap thermometer", "roast everything on one tray", "use store-bought stock and move on", "make a double batch and freeze half"],
    },
    "personalfinance": {
        "posts": [
            ("Pay off student loans or invest first?", "I have 18k in loans at 5.5% and an employer match I am not using. Which comes first?"),
            ("Emergency fund: how big is big enough?", "Everyone says three to six months. My job feels stable but rent keeps going up."),
            ("Is a high-yield savings account a scam?", "My bank pays almost nothing. The online ones look too good to be true."),
            ("First budget ever, where do I start?", "Just got my first full-time job and have no idea where the money goes every month."),
            ("Should I lease or buy a car?", "Commute is 40 minutes each way. Dealer keeps pushing a lease with low monthly payments."),
            ("Parents want me to co-sign a loan", "They are struggling and asked me to co-sign for a consolidation loan. I feel guilty saying no."),
            ("Index funds vs picking stocks", "A friend made a lot on a few tech stocks. Am I wrong to just buy an index fund?"),
        ],
        "thing": ["the employer match", "an emergency fund", "a high-yield savings account", "a boring index fund", "the car loan", "a written budget", "the credit card balance"],
        "detail": ["the interest rate is the whole story", "fees quietly eat returns", "automating transfers removes willpower from it", "your risk tolerance matters more than averages", "debt above 7% is an emergency"],
        "alt": ["take the free match first", "track every expense for one month", "buy a used car with cash", "say no to co-signing"],
    },
    "programming": {
        "posts": [
            ("Is it worth learning Rust in 2024?", "I write Python at work. Rust keeps coming up but I am not sure it would help my career."),
            ("How do you review a huge pull request?", "A colleague sent a 3,000 line PR. I do not know where to start without rubber stamping it."),
            ("Tabs vs spaces, but seriously: does formatting matter?", "Our team argues about style in every review. Should we just adopt a formatter?"),
            ("Best way to learn SQL properly", "I can write SELECT and JOIN but indexes and query plans are a mystery to me."),
            ("Unit tests or integration tests first?", "Starting a new service. Limited time. Which tests give the most confidence early?"),
            ("Burned out after a year as a junior dev", "I love coding but the on-call rotation and constant meetings are draining me."),
            ("Monorepo or many repos for a small team?", "Five developers, four services, one shared library. Constant version drift."),
        ],
        "thing": ["a formatter", "the query plan", "integration tests", "a smaller pull request", "the type checker", "Rust's borrow checker", "code review"],
        "detail": ["an index only helps when the query can use it", "tests that hit the real database catch the bugs that matter", "small commits make review possible", "latency is dominated by the network, not the code", "memory safety removes a whole class of bugs"],
        "alt": ["split it into smaller PRs", "run EXPLAIN ANALYZE on it", "add a pre-commit hook and stop arguing", "write one end-to-end test first"],
    },
    "Fitness": {
        "posts": [
            ("How many days a week should a beginner lift?", "Starting at the gym next week. Some say three days, some say six. I have no idea."),
            ("Running hurts my knees, what now?", "I started running to lose weight but my knees ache after every run."),
            ("Protein: how much do I actually need?", "The numbers online range from tiny to absurd. I weigh 70 kg and lift three times a week."),
            ("Stuck on the same bench press for months", "Bench has been stuck at 60 kg since January. Sleep is fine, eating is okay."),
            ("Home workouts without equipment", "No gym nearby and no budget. Can bodyweight training actually build strength?"),
            ("Is stretching before running useless?", "I read that static stretching before a run does nothing. Should I stop?"),
            ("Lost motivation after an injury", "Sprained my ankle two months ago and I cannot get back into routine."),
        ],
        "thing": ["a full body program", "progressive overload", "proper sleep", "enough protein", "a deload week", "good running shoes", "a training log"],
        "detail": ["consistency beats intensity every time", "form matters before load", "recovery is where strength is built", "most beginners undereat protein", "pain is a signal, not a challenge"],
        "alt": ["lift three days a week and walk the rest", "see a physio before it gets worse", "add 2.5 kg and do fewer reps", "do push-ups and squats every other day"],
    },
    "travel": {
        "posts": [
            ("First solo trip: Lisbon or Prague?", "Ten days in April, moderate budget, I like walking, food and museums."),
            ("Carry-on only for two weeks, possible?", "I always overpack. Is it realistic to travel for two weeks with a single carry-on?"),
            ("How do you deal with jet lag?", "Flying from the US to Japan next month and I am terrified of wasting the first days."),
            ("Travel insurance: worth it?", "It adds almost 10% to the trip cost. Has it ever saved you?"),
            ("Hostels in your thirties?", "I am 34 and want to save money. Will I feel out of place in hostels?"),
            ("Tips for travelling with a toddler", "Two-year-old, eight-hour flight, first time abroad with a kid. Help."),
            ("Overrated tourist spots you regret visiting", "Planning a Europe trip and want to skip the places that are not worth the crowds."),
        ],
        "thing": ["a carry-on bag", "travel insurance", "a walking tour", "a night train", "packing cubes", "the local market", "a rail pass"],
        "detail": ["the best meals are two streets away from the main square", "shoulder season halves the crowds", "sunlight on arrival fixes jet lag fastest", "booking direct often beats comparison sites", "slow travel beats ticking boxes"],
        "alt": ["pick one city and go deep", "pack half, bring twice the money", "stay up until local bedtime", "buy insurance with good medical cover"],
    },
    "books": {
        "posts": [
            ("Books that changed how you think", "Looking for non-fiction that genuinely shifted your perspective on something."),
            ("Is it okay to abandon a book halfway?", "I feel guilty not finishing books, even ones I am clearly not enjoying."),
            ("Audiobooks count as reading?", "My friend says audiobooks are cheating. I listen on my commute and love it."),
            ("Where to start with science fiction?", "Never read sci-fi beyond school assignments. Where should an adult start?"),
            ("How do you find time to read?", "Work, kids, chores. I used to read a book a week and now I manage one a year."),
            ("Classics that are actually fun", "Most classics I tried felt like homework. Which ones are genuinely enjoyable?"),
            ("E-reader or paper books?", "Thinking about buying an e-reader but I love the feel of paper."),
        ],
        "thing": ["an e-reader", "a good audiobook", "the library app", "a short classic", "a reading habit", "science fiction", "a book club"],
        "detail": ["twenty pages before bed adds up to a book a month", "the first fifty pages decide everything", "narrators can make or break a book", "rereading shows you how much you changed", "genre snobbery is a waste of time"],
        "alt": ["drop it and pick something fun", "read short stories first", "carry a book everywhere", "listen on the commute"],
    },
    "gardening": {
        "posts": [
            ("Why are my tomato leaves turning yellow?", "Bottom leaves yellowing on all six plants. Watering every morning, full sun."),
            ("Balcony garden for a total beginner", "South-facing balcony, small budget. What is easy to grow in pots?"),
            ("Is compost worth the effort?", "I have a small yard and kitchen scraps. Is composting messy and smelly?"),
            ("Slugs destroyed my lettuce overnight", "Every seedling gone. How do I protect the next batch without poison?"),
            ("When should I start seeds indoors?", "Zone 6, first time starting from seed. The packet dates confuse me."),
            ("Lawn or wildflower meadow?", "Thinking about replacing part of my lawn with native wildflowers. Regrets?"),
            ("Pruning roses: when and how hard?", "Inherited a rose bed from the previous owner and I am scared to cut anything."),
        ],
        "thing": ["the tomato plants", "a compost heap", "native wildflowers", "mulch", "a drip line", "raised beds", "companion planting"],
        "detail": ["overwatering kills more plants than drought", "soil health is the whole game", "slugs hide under boards during the day", "the last frost date decides the calendar", "roses forgive almost any cut"],
        "alt": ["water deeply twice a week instead", "start with herbs and radishes", "use beer traps and copper tape", "mulch everything heavily"],
    },
}

TONES = {
    "blunt": [
        "No. {thing} is not the problem. Honestly {detail}, so {alt}.",
        "Stop overthinking it. {alt}. That's it.",
        "Wrong question. {detail}. Everything else is noise.",
        "You don't need advice, you need to {alt}. Harsh but true.",
        "People here will tell you about {thing}. Ignore them, {detail}.",
    ],
    "warm": [
        "Oh, I really feel this! You're doing great by even asking. For me {thing} helped a lot, and {detail}. Be kind to yourself!",
        "This is such a lovely question. I was in the same spot last year, and honestly {detail}. Sending good vibes, you've got this!",
        "Don't be discouraged, everyone starts somewhere. Maybe try {thing}? It made me so much happier. Rooting for you!",
        "Aw, I'm sorry it's been frustrating. What helped me was to {alt}, and to remember that {detail}. Hugs!",
        "Love that you're trying this! My advice, gently: {alt}. Let us know how it goes, we're cheering for you.",
    ],
    "detailed": [
        "There are three things to consider here. First, {detail}. Second, {thing} matters more than most people think, because small errors compound over weeks. Third, and this is the part beginners skip, you should {alt} and write down what happens so you can compare. I did this for two months and kept notes; the difference was obvious by week three. If you want, I can share the exact routine and the mistakes I made along the way.",
        "Long answer, sorry. The short version is that {detail}, but the reasons are worth understanding. When you look at {thing}, the variable that actually moves the outcome is timing, not effort. So my recommendation is to {alt}, keep everything else constant for a while, and only then change one variable at a time. That way you learn what works for your situation instead of copying someone else's.",
        "I have spent a lot of time on this, so here is a structured answer. Step one: {alt}. Step two: check {thing} carefully, since that is where most problems hide. Step three: accept that {detail}. Most guides skip the reasoning, but once you see it, the advice stops feeling arbitrary and you can adapt it to your own constraints.",
    ],
    "terse": [
        "{alt}.",
        "{thing}. works for me.",
        "this. {detail}.",
        "just {alt}",
        "came here to say {thing}",
    ],
    "humorous": [
        "My {thing} and I have a complicated relationship. It wins most days. Anyway, {detail}, which I learned the hard way, twice.",
        "Step 1: {alt}. Step 2: pretend you meant to do that all along. Step 3: profit, probably.",
        "I asked my cat about {thing} and she knocked a glass off the table. Take that as you will. Seriously though, {detail}.",
        "Ah yes, the classic. I too once thought I could skip this. My wallet, my dignity and {thing} remember.",
        "Plot twist: {detail}. Nobody tells you this until it is too late and you are posting on Reddit at 2am.",
    ],
    "technical": [
        "Technically, {detail}. If you measure it, the effect of {thing} is roughly linear up to a point and then flattens, so the marginal benefit drops fast.",
        "The mechanism is straightforward: {detail}. Controlled comparisons show {thing} matters less than the variance between attempts. Measure before optimizing.",
        "Precise answer: it depends on two variables, and {detail}. Quantify your baseline first, then {alt}, then compare against the baseline with the same method.",
        "From a systems perspective, {thing} is a bottleneck only under load. Profile first: {detail}. Optimizing anything else is premature.",
    ],
}

# 30 invented users: (name, tone, home subreddits, number of comments).
USERS = [
    ("quietkettle", "warm", ["Cooking", "gardening", "books"], 22),
    ("rust_or_bust", "technical", ["programming", "personalfinance"], 20),
    ("maple_syrup_dan", "humorous", ["Cooking", "travel", "Fitness"], 21),
    ("ledger_lena", "detailed", ["personalfinance", "books"], 18),
    ("nope_not_today", "blunt", ["Fitness", "personalfinance", "programming"], 20),
    ("k", "terse", ["programming", "travel", "Fitness"], 17),
    ("fernwood_grows", "detailed", ["gardening", "Cooking"], 16),
    ("packlight_pia", "warm", ["travel", "books", "Fitness"], 18),
    ("deadlift_dave", "blunt", ["Fitness", "Cooking"], 19),
    ("query_planner", "technical", ["programming", "books"], 16),
    ("grandma_of_seven", "warm", ["gardening", "Cooking", "books"], 15),
    ("snarky_sourdough", "humorous", ["Cooking", "programming", "gardening"], 17),
    ("budget_hawk", "blunt", ["personalfinance", "travel"], 14),
    ("tomato_whisperer", "terse", ["gardening", "Cooking"], 12),
    ("midnight_reader", "detailed", ["books", "travel"], 8),
    ("trail_mix_tom", "humorous", ["travel", "Fitness"], 6),
    ("compiler_cat", "technical", ["programming"], 5),
    ("sunny_side_sam", "warm", ["Cooking", "travel"], 5),
    ("frugal_fiona", "terse", ["personalfinance"], 5),
    ("bench_bro_99", "blunt", ["Fitness"], 4),
    ("poetry_pablo", "warm", ["books"], 4),
    ("ctrl_alt_defeat", "humorous", ["programming"], 4),
    ("seedling_sara", "detailed", ["gardening"], 4),
    ("nomad_nick", "technical", ["travel", "personalfinance"], 4),
    ("oven_mitt_olga", "terse", ["Cooking"], 3),
    ("index_ivan", "technical", ["personalfinance"], 3),
    ("wanderlust_wen", "warm", ["travel"], 3),
    ("squat_queen", "detailed", ["Fitness"], 3),
    ("shelf_elf", "humorous", ["books"], 3),
    ("hedge_hog_hal", "blunt", ["gardening"], 3),
]

SPECIAL_COMMENTS = [
    # personal data the anonymizer must catch
    ("ledger_lena", "If anyone wants my budget spreadsheet template, email me at lena.ledger@example.com and I'll send it over. It has the sinking funds tab already set up."),
    ("maple_syrup_dan", "My cousin runs a cooking class downtown, call him at 555-013-4477 if you want the details, tell him the syrup guy sent you."),
    ("quietkettle", "I agree with u/fernwood_grows here, and /u/grandma_of_seven gave me the same advice years ago. It really works."),
    ("nope_not_today", "u/deadlift_dave already said it. Listen to him and stop reading forums."),
    ("rust_or_bust", "As u/query_planner pointed out, measure first. I'd add: the allocator matters more than people think in hot loops."),
    ("packlight_pia", "Honestly maple_syrup_dan nailed it in the other thread, same experience here with the night train."),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data" / "sample" / "reddit"))
    args = ap.parse_args()
    out = Path(args.out)
    rng = random.Random(SEED)
    next_id = [ID_BASE + 12345]

    def new_id() -> str:
        next_id[0] += rng.randint(1, 40)
        return b36(next_id[0])

    sub_ids = {name: f"t5_{b36(1000 + i * 77)}" for i, name in enumerate(SUBREDDITS)}
    user_ids = {u[0]: f"t2_{b36(5000000 + i * 9173)}" for i, u in enumerate(USERS)}
    user_ids["AutoModerator"] = "t2_6l4z3"
    post_authors = [u[0] for u in USERS] + ["thrownaway_2024", "curious_newbie", "first_time_poster"]

    posts = []
    t = BASE_TIME
    for sub, spec in SUBREDDITS.items():
        for title, body in spec["posts"]:
            t += rng.randint(1800, 14400)
            pid = new_id()
            author = rng.choice(post_authors)
            posts.append({
                "all_awardings": [], "author": author, "author_flair_text": None,
                "author_fullname": user_ids.get(author, f"t2_{b36(rng.randint(10**6, 10**7))}"),
                "created_utc": t, "distinguished": None, "domain": f"self.{sub}", "edited": False,
                "gilded": 0, "id": pid, "is_self": True, "name": f"t3_{pid}",
                "num_comments": 0, "over_18": False,
                "permalink": f"/r/{sub}/comments/{pid}/", "removed_by_category": None,
                "retrieved_on": t + 3600, "score": rng.randint(3, 900), "selftext": body,
                "stickied": False, "subreddit": sub, "subreddit_id": sub_ids[sub],
                "subreddit_type": "public", "title": title, "upvote_ratio": round(rng.uniform(0.7, 1.0), 2),
                "url": f"https://www.reddit.com/r/{sub}/comments/{pid}/",
            })
    # awkward posts: removed by moderators, NSFW, deleted author, stickied announcement
    extra = [
        ("Cooking", "[ Removed by Reddit ]", "[removed]", "thrownaway_2024", {"removed_by_category": "moderator"}),
        ("Fitness", "Progress pics, 6 months (NSFW)", "Shirtless before and after, be nice.", "bench_bro_99", {"over_18": True}),
        ("books", "What are you reading this week?", "Weekly thread. Tell us what you are reading!", "AutoModerator", {"stickied": True, "distinguished": "moderator"}),
        ("travel", "Anyone been to Porto in winter?", "Thinking about a February trip, is it too rainy?", "[deleted]", {}),
    ]
    for sub, title, body, author, fields in extra:
        t += rng.randint(1800, 14400)
        pid = new_id()
        post = dict(posts[0], author=author, author_fullname=user_ids.get(author), created_utc=t, id=pid,
                    name=f"t3_{pid}", permalink=f"/r/{sub}/comments/{pid}/", selftext=body, subreddit=sub,
                    subreddit_id=sub_ids[sub], title=title, retrieved_on=t + 3600,
                    url=f"https://www.reddit.com/r/{sub}/comments/{pid}/", score=rng.randint(1, 50))
        post.update(fields)
        posts.append(post)
    by_sub: dict[str, list[dict]] = {}
    for p in posts[: 7 * len(SUBREDDITS)]:
        by_sub.setdefault(p["subreddit"], []).append(p)

    comments = []

    def add_comment(author: str, body: str, post: dict, parent: dict | None = None, **fields) -> dict:
        ts = (parent or post)["created_utc"] + rng.randint(60, 20000)
        cid = new_id()
        c = {
            "all_awardings": [], "author": author, "author_flair_text": None,
            "author_fullname": user_ids.get(author), "body": body, "controversiality": 0,
            "created_utc": ts, "distinguished": None, "edited": False, "gilded": 0, "id": cid,
            "is_submitter": author == post["author"], "link_id": f"t3_{post['id']}", "name": f"t1_{cid}",
            "parent_id": f"t1_{parent['id']}" if parent else f"t3_{post['id']}",
            "permalink": f"/r/{post['subreddit']}/comments/{post['id']}/_/{cid}/", "retrieved_on": ts + 3600,
            "score": rng.randint(-5, 300), "stickied": False, "subreddit": post["subreddit"],
            "subreddit_id": post["subreddit_id"],
        }
        c.update(fields)
        comments.append(c)
        post["num_comments"] += 1
        return c

    def fill(template: str, spec: dict) -> str:
        text = template.format(thing=rng.choice(spec["thing"]), detail=rng.choice(spec["detail"]),
                               alt=rng.choice(spec["alt"]))
        return text[0].upper() + text[1:] if template[0] == "{" and rng.random() < 0.5 else text

    for name, tone, homes, n in USERS:
        n = n + 6 if n >= 12 else n  # heavy users: enough history for personas
        candidates = [p for s in homes for p in by_sub[s] if p["author"] != name]
        rng.shuffle(candidates)
        for i in range(n):
            post = candidates[i % len(candidates)]
            spec = SUBREDDITS[post["subreddit"]]
            existing = [c for c in comments if c["link_id"] == f"t3_{post['id']}" and c["author"] != name]
            parent = rng.choice(existing) if existing and rng.random() < 0.3 else None
            add_comment(name, fill(rng.choice(TONES[tone]), spec), post, parent)
    for name, body in SPECIAL_COMMENTS:
        homes = next(u[2] for u in USERS if u[0] == name)
        add_comment(name, body, rng.choice(by_sub[homes[0]]))
    # the bot, moderator notices, deleted and removed comments
    for post in posts[::4]:
        add_comment("AutoModerator", "Thank you for posting! Please read the sidebar rules before commenting. "
                    "*I am a bot, and this action was performed automatically.*", post,
                    distinguished="moderator", stickied=True)
    for post in posts[1::9]:
        add_comment("RemindMeBot", "I will be messaging you in 7 days to remind you of this link.", post)
        add_comment("[deleted]", "[deleted]", post, author_fullname=None)
        add_comment("[deleted]", "[removed]", post, author_fullname=None)
    comments.append(dict(comments[10]))  # the same comment archived twice, as real dumps hold
    nsfw = next(p for p in posts if p["over_18"])
    add_comment("deadlift_dave", "Solid progress, your shoulders filled out a lot. Keep the volume up.", nsfw)

    posts.sort(key=lambda r: r["created_utc"])
    comments.sort(key=lambda r: (r["created_utc"], r["id"]))
    out.mkdir(parents=True, exist_ok=True)
    with DumpWriter(out / "RS_2024-03.zst", level=19) as w:
        for r in posts:
            w.write(r)
    with DumpWriter(out / "RC_2024-03.zst", level=19) as w:
        for r in comments:
            w.write(r)
    print(f"wrote {len(posts)} posts and {len(comments)} comments to {out}")


if __name__ == "__main__":
    main()
