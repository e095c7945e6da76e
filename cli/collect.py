"""alignx collect: live Reddit through praw, written as dumps."""

from __future__ import annotations

from pathlib import Path

from cli.common import add_common, load


def register(sub) -> None:
    p = sub.add_parser(
        "collect", help="fetch live Reddit data with praw into dump files ingest_reddit reads",
        description="Fetch posts and their comments through the Reddit API into <name>_submissions.zst and "
        "<name>_comments.zst. Credentials: environment variables praw_client_id, praw_client_secret, "
        "praw_user_agent, or a praw.ini site (--site). Rate limits are handled by praw; Ctrl-C keeps "
        "what was fetched.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--subreddit", metavar="NAME", help="collect this subreddit's posts")
    what.add_argument("--submission", metavar="ID", action="append", help="collect this post (repeatable)")
    p.add_argument("--limit", type=int, default=25, help="posts to fetch from the subreddit (default 25)")
    p.add_argument("--comments-per-post", type=int, default=None, metavar="M",
                   help="keep at most M comments per post (default: all, expanding 'more comments')")
    p.add_argument("--sort", choices=["new", "hot", "top", "rising", "controversial"], default="new",
                   help="subreddit listing to read (default new)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: DATA_DIR/raw/reddit/live)")
    p.add_argument("--name", help="file name prefix (default: <subreddit>-<UTC time>)")
    p.add_argument("--site", help="praw.ini site holding the credentials")
    add_common(p)
    p.set_defaults(func=cmd_collect)


def cmd_collect(args) -> int:
    from stages.ingest_reddit.collect import collect, make_reddit

    _, data_dir = load(args)
    out = Path(args.out) if args.out else data_dir / "raw" / "reddit" / "live"
    collect(make_reddit(args.site), out, subreddit=args.subreddit, submission_ids=args.submission,
            limit=args.limit, comments_per_post=args.comments_per_post, sort=args.sort, name=args.name)
    return 0
