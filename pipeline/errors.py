"""Errors a user can fix. The CLI prints them as one line and exits 2; no traceback."""


class UserError(Exception):
    """Bad configuration, a missing input, a malformed file: something the user can act on.

    The message must name the file, key or record and say what to do.
    """


class StageFailed(Exception):
    """A stage could not finish (a worker died, too many bad records). Exit code 1."""
