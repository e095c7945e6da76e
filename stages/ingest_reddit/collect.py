"""``alignx collect``: fetch live Reddit posts and comments with praw into dump files.

Writes ``<name>_submissions.zst`` and ``<name>_comments.zst`` (zstandard NDJSON, the records'
API fields as the dumps hold them), so ``ingest_reddit`` reads live data and archived dumps
through one path.

Credentials come from praw's own configuration: the environment variables
``praw_client_id``, ``praw_client_secret`` and ``praw_user_agent``, or a ``praw.ini`` site
(``--site NAME``). praw handles Reddit's rate limits (it sleeps when the remaining quota runs
low). On Ctrl-C the files keep every record fetched so far and stay valid dumps.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alignx.dumps import DumpWriter
from pipeline.errors import UserError
from pipeline.logs import get_logger, progress

log = get_logger("collect")
#: praw attributes that are client state, not record fields.
SKIP_ATTRS = {"comment_limit", "comment_sort", "replies", "comments", "poll_data"}


def to_dump_record(thing) -> dict[str, Any]:
    """A praw Submission or Comment as a dump record: the API's fields, with the author and
    subreddit as names (``[deleted]`` for a deleted author, as the dumps write it)."""
    import praw.models

    record: dict[str, Any] = {}
    for key, value in vars(thing).items():
        if key.startswith("_") or key in SKIP_ATTRS:
            continue
        if isinstance(value, praw.models.Redditor):
            value = value.name
        elif isinstance(value, praw.models.Subreddit):
            value = value.display_name
        elif not isinstance(value, (str, int, float, bool, type(None), list, dict)):
            continue
        record[key] = value
    if record.get("author") is None:
        record["author"] = "[deleted]"
    return record


def make_reddit(site: str | None = None):
    """A read-only praw client from praw.ini / ``praw_*`` environment variables."""
    import praw
    from praw.exceptions import MissingRequiredAttributeException

    try:
        reddit = praw.Reddit(site, check_for_updates=False) if site else praw.Reddit(check_for_updates=False)
    except MissingRequiredAttributeException as exc:
        raise UserError(
            f"Reddit credentials missing ({exc}); set praw_client_id, praw_client_secret and "
            f"praw_user_agent in the environment, or name a praw.ini site with --site"
        ) from None
    reddit.read_only = True
    return reddit


def collect(
    reddit, out_dir: Path, *, subreddit: str | None = None, submission_ids: list[str] | None = None,
    limit: int = 25, comments_per_post: int | None = None, sort: str = "new", name: str | None = None,
    show_progress: bool = True,
) -> dict[str, int]:
    """Fetch posts (a subreddit's listing, or given ids) and all their comments into dump files.

    ``comments_per_post``: keep at most this many comments per post (None: all, expanding
    every "load more comments" link). Returns counts of posts and comments written.
    """
    if not subreddit and not submission_ids:
        raise UserError("collect: give --subreddit NAME or --submission ID")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = name or f"{subreddit or 'submissions'}-{stamp}"
    if subreddit:
        listing = getattr(reddit.subreddit(subreddit), sort)
        posts = listing(limit=limit)
    else:
        posts = (reddit.submission(i) for i in submission_ids)
    counts = {"posts": 0, "comments": 0}
    out_dir.mkdir(parents=True, exist_ok=True)
    with DumpWriter(out_dir / f"{name}_submissions.zst") as posts_out, \
            DumpWriter(out_dir / f"{name}_comments.zst") as comments_out:
        bar = progress(posts, enabled=show_progress, desc=f"collect {name}", unit="post",
                       total=limit if subreddit else len(submission_ids))
        try:
            for post in bar:
                post.comment_sort = "confidence"
                post.comments.replace_more(limit=None if comments_per_post is None else 0)
                comments = post.comments.list()
                if comments_per_post is not None:
                    comments = comments[:comments_per_post]
                posts_out.write(to_dump_record(post))
                for comment in comments:
                    comments_out.write(to_dump_record(comment))
                counts["posts"] += 1
                counts["comments"] += len(comments)
        except KeyboardInterrupt:
            log.warning("interrupted: keeping the %d posts and %d comments fetched so far",
                        counts["posts"], counts["comments"])
        finally:
            bar.close()
    log.info("wrote %d posts and %d comments to %s/%s_*.zst", counts["posts"], counts["comments"], out_dir, name)
    return counts
