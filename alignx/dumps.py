"""Reddit dump files: streaming reads of zstandard NDJSON (any era) and writes in the same format.

Pushshift and Arctic Shift dumps are zstandard frames with windows up to 2 GiB, so the
decompressor is created with ``max_window_size=2**31`` (the library's default refuses them with
"Frame requires too much memory"). Files are read in blocks: memory stays bounded whatever the
file size. A corrupt frame, or a file that ends mid-frame, raises ``DumpError`` naming the file
and the compressed byte offset: a truncated read is never taken for the end of the month.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import orjson
import zstandard as zstd

from pipeline.errors import UserError
from pipeline.io import atomic_path

MAX_WINDOW = 2**31
READ_BLOCK = 1 << 20  # compressed bytes read per step
#: Compressed bytes handed to the decompressor at once: corruption is detected when the zstd
#: block holding it (at most ZSTD_BLOCK compressed bytes) is complete, so a damaged byte lies
#: within ZSTD_BLOCK + FEED before the point where the error is raised.
FEED = 1 << 14
ZSTD_BLOCK = 1 << 17
DUMP_SUFFIXES = (".zst", ".ndjson", ".jsonl", ".json")


class DumpError(UserError):
    """A dump file that cannot be read to its end."""


def dump_kind(path: Path | str) -> str | None:
    """'comment' or 'submission' from the file name (RC_/RS_ monthly, <sub>_comments/_submissions);
    None for other names, whose records are told apart by their fields."""
    name = Path(path).name
    stem = name.split(".")[0]
    if name.startswith("RC_") or stem.endswith("_comments"):
        return "comment"
    if name.startswith("RS_") or stem.endswith("_submissions"):
        return "submission"
    return None


def _decompressed_blocks(path: Path) -> Iterator[bytes]:
    dctx = zstd.ZstdDecompressor(max_window_size=MAX_WINDOW)
    dobj = dctx.decompressobj()
    offset = 0  # compressed bytes consumed
    frame_start = 0  # compressed byte where the current frame began
    frame_open = False
    with open(path, "rb") as fh:
        while block := fh.read(READ_BLOCK):
            outs = []
            for start in range(0, len(block), FEED):
                data = block[start:start + FEED]
                end = offset + start + len(data)  # compressed bytes fed so far
                while data:
                    try:
                        out = dobj.decompress(data)
                    except zstd.ZstdError as exc:
                        # a bad block is found when it is complete; a flip that still decodes is found
                        # only by the frame's content checksum, at its end: then anywhere in the frame
                        low = frame_start if "checksum" in str(exc) else max(frame_start, end - len(data) - ZSTD_BLOCK)
                        raise DumpError(
                            f"{path}: zstandard data is corrupt between compressed bytes {low:,} and {end:,} "
                            f"(in the frame starting at byte {frame_start:,}: {exc}); the file is damaged: "
                            f"download it again"
                        ) from None
                    frame_open = True
                    if out:
                        outs.append(out)
                    if dobj.eof:  # a frame ended; more frames may follow in the same file
                        data = dobj.unused_data
                        frame_start = end - len(data)
                        frame_open = False
                        dobj = dctx.decompressobj()
                    else:
                        data = b""
            if outs:
                yield b"".join(outs)
            offset += len(block)
    if frame_open:
        raise DumpError(
            f"{path}: file ends in the middle of a zstandard frame at compressed byte {offset:,}; "
            f"it is truncated (an interrupted download?): download it again"
        )


def _plain_blocks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(READ_BLOCK * 8):
            yield block


def iter_line_chunks(path: Path | str, chunk_bytes: int = 32 << 20) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(first_line_number, n_lines, data)`` where ``data`` holds whole lines (1-based).

    Each chunk is about ``chunk_bytes`` of decompressed text and ends with a newline (except
    possibly the last); the next chunk starts at ``first_line_number + n_lines``. Each byte is
    copied once, into its chunk (blocks are gathered as memoryviews and joined once); a line
    longer than a chunk makes its chunk run on to its newline.
    """
    path = Path(path)
    blocks = _decompressed_blocks(path) if path.suffix == ".zst" else _plain_blocks(path)
    pending: list = []  # bytes / memoryviews of the chunk being gathered
    size = 0
    line_no = 1
    for block in blocks:
        view = memoryview(block)
        start = 0
        while size + len(block) - start >= chunk_bytes:
            need = chunk_bytes - size  # > 0: bytes of this block that complete the chunk
            cut = block.rfind(b"\n", start, start + need) + 1
            if cut == 0:  # no line ends there: the chunk runs on to the next newline
                cut = block.find(b"\n", start + need) + 1
                if cut == 0:
                    break
            pending.append(view[start:cut])
            chunk = b"".join(pending)  # the one copy of these bytes
            n = chunk.count(b"\n")
            yield line_no, n, chunk
            line_no += n
            pending, size, start = [], 0, cut
        if start < len(block):
            pending.append(view[start:])
            size += len(block) - start
    if pending:
        buf = b"".join(pending)
        if buf.strip():
            yield line_no, buf.count(b"\n") + (not buf.endswith(b"\n")), buf


def prefetch(iterator: Iterator, depth: int = 1) -> Iterator:
    """Run ``iterator`` in a background thread, ``depth`` items ahead of the consumer.

    Decompression (zstandard releases the GIL) then overlaps with parsing the previous chunk.
    Exceptions are re-raised in the consumer.
    """
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def parse_lines(chunk: bytes, first_line: int) -> Iterator[tuple[int, dict | Exception, bytes]]:
    """``(line_number, record or the parse error, raw line)`` for every non-blank line of a chunk."""
    for i, line in enumerate(chunk.split(b"\n")):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
            if not isinstance(rec, dict):
                raise ValueError(f"a JSON {type(rec).__name__}, not an object")
            yield first_line + i, rec, line
        except (orjson.JSONDecodeError, ValueError) as exc:
            yield first_line + i, exc, line


def iter_records(path: Path | str) -> Iterator[tuple[int, dict | Exception]]:
    """``(line_number, record)`` for every non-blank line; a line that is not a JSON object
    yields the exception instead, so callers count it rather than stop."""
    for first, _, chunk in iter_line_chunks(path):
        for n, rec, _ in parse_lines(chunk, first):
            yield n, rec


class DumpWriter:
    """Write records as zstandard NDJSON, the format of the dumps; renamed into place on close.

    Use as a context manager. On an exception the partial file is kept under ``<name>.partial``
    (with every record written so far, readable) so an interrupted collection loses nothing.
    """

    def __init__(self, path: Path | str, level: int = 10):
        self.path = Path(path)
        self.level = level
        self.count = 0

    def __enter__(self) -> "DumpWriter":
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._fh = open(self._tmp, "wb")
        # a content checksum per frame: a flipped bit is caught on read, not parsed as text
        self._writer = zstd.ZstdCompressor(level=self.level, write_checksum=True).stream_writer(self._fh,
                                                                                               closefd=False)
        return self

    def write(self, record: dict) -> None:
        self._writer.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        self._writer.close()  # ends the frame: what was written so far is a valid file
        self._fh.close()
        if exc_type is not None and self.count:
            os.replace(self._tmp, self.path.with_name(self.path.name + ".partial"))
        self._atomic.__exit__(exc_type, exc, tb)

