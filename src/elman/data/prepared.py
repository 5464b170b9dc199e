"""A corpus tokenised once to disk and read from a memory map (``elman prepare``).

A text of a gigabyte is some 30 times that in memory as Python objects, and even as
token ids in memory it is one to four times that: so, as nanoGPT does, the text is
tokenised once, in a streaming pass, into a flat file of token ids, and training reads
its batches from a ``numpy.memmap`` of that file, which the operating system pages in
and out as it likes (it costs no anonymous memory: a run's RssAnon does not grow with
the corpus). A prepared corpus is a directory::

    corpus.json    the header: format and version; the vocabulary's file and its sha256;
                   the ids' dtype; for each part (train, valid, test) its file, its counts
                   (tokens, the NFC characters and UTF-8 bytes they write, tokens outside
                   the vocabulary, what the first token writes: ``TextCounts``, for bits per
                   character) and its sha256; the source files (path, size, sha256 of the
                   text as elman reads it) and how they were split
    vocab.json     the vocabulary (``save_vocab``), and vocab.model beside it for subword
                   pieces
    train.bin      the training part's ids, one after another, little-endian uint16 when
                   the vocabulary has at most 65,536 tokens, uint32 beyond
    valid.bin      the validation and test parts, when there are any
    test.bin

The text is read in pieces of about ``CHUNK_BYTES`` (``Source``), each ending at a line
end, so memory is bounded by a piece and the vocabulary, never the corpus: every
tokenizer reads a text line by line and NFC never joins characters across a line end,
so the pieces' tokens one after another are the whole text's, and counting them piece
by piece in order of first appearance (``Tokenizer.fit_chunks``) gives the vocabulary
the text in memory gives. Each file is read as ``read_text`` reads one (a BOM dropped,
line ends as "\\n", refused when empty, binary, not UTF-8 or only whitespace); several
files are one text, each file but the last ending with a line end (one is added where a
file lacks it). The text's sha256 is that of the text as read (``runs.text_digest``), so
that a run records the same fingerprint of a text whether it read it in memory or
prepared.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from elman.data.text import BOM
from elman.data.tokenizers import (
    NO_TEXT,
    TextCounts,
    Tokenizer,
    ids_dtype,
    load_vocab,
    save_vocab,
    tokenizer_from_json,
)
from elman.errors import ElmanError

FORMAT = "elman-corpus"
VERSION = 1
HEADER = "corpus.json"
VOCAB = "vocab.json"
PARTS = ("train", "valid", "test")
CHUNK_BYTES = 8 << 20  # what is read at once: a piece of text ends at the first line end after
BOM_BYTES = BOM.encode("utf-8")
HASH_BLOCK = 8 << 20


class Progress(Protocol):
    """Where a long pass over text reports how far it is (``elman.prepare``'s bar)."""

    def start(self, stage: str, total: int) -> None:
        """A pass ``stage`` begins over ``total`` bytes."""

    def advance(self, done: int) -> None:
        """``done`` more bytes were read."""


class Silent:
    """A ``Progress`` that says nothing."""

    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


# Reading texts in pieces ------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """Bytes ``start`` to ``stop`` of a file, ending at a line end (or the file's end):
    the text ``text`` gives, ``chars`` characters of it."""

    path: str
    start: int
    stop: int
    chars: int  # characters of its text (as read: no BOM, "\r\n" as one "\n")
    first: bool  # the file's first piece (a BOM there is dropped)
    add_line_end: bool  # the file's last piece, of a file lacking a final line end but not last

    def text(self) -> str:
        """The piece's text, as ``read_text`` reads the file it is part of."""
        with open(self.path, "rb") as f:
            f.seek(self.start)
            raw = f.read(self.stop - self.start)
        return self._decoded(raw)

    def _decoded(self, raw: bytes) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            at = self.start + e.start  # the offset a hex editor or `cmp` shows
            raise ElmanError(
                f"{self.path} is not valid UTF-8: invalid byte 0x{raw[e.start]:02x} at byte "
                f"offset {at}; convert it with iconv -t UTF-8."
            ) from None
        if self.first and text.startswith(BOM):
            text = text[1:]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text + "\n" if self.add_line_end else text


@dataclass(frozen=True)
class Slice:
    """Characters ``lo`` to ``hi`` of a piece's text (None: from its start, to its end): what
    of a piece a part split off a text holds. Small, so that a worker process is handed
    where its text is rather than the text."""

    piece: Piece
    lo: int | None = None
    hi: int | None = None

    @property
    def size(self) -> int:
        """The bytes of the file read for it (the whole piece's)."""
        return self.piece.stop - self.piece.start

    def text(self) -> str:
        text = self.piece.text()
        return text if self.lo is None and self.hi is None else text[self.lo : self.hi]


@dataclass(frozen=True)
class SourceFile:
    """A text file as read: its pieces, size in bytes and the sha256 of its text."""

    path: str
    size: int
    sha256: str
    pieces: tuple[Piece, ...]

    @property
    def chars(self) -> int:
        return sum(p.chars for p in self.pieces)

    def record(self) -> dict[str, Any]:
        return {"path": os.path.abspath(self.path), "bytes": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class Source:
    """A text made of files one after another (``scan``), or characters ``begin`` to
    ``end`` of it (a part split off): iterated, its text in pieces, each ending at a line
    end (but the last), each iteration reading the files again."""

    files: tuple[SourceFile, ...]
    begin: int = 0
    end: int | None = None

    @property
    def size(self) -> int:
        """Bytes of the files read for it (all of them, for a part split off)."""
        return sum(f.size for f in self.files)

    @property
    def chars(self) -> int:
        whole = sum(f.chars for f in self.files)
        return (whole if self.end is None else self.end) - self.begin

    @property
    def sha256(self) -> str:
        """The sha256 of the text: of the one file's, or of the files' records."""
        if len(self.files) == 1 and self.begin == 0 and self.end is None:
            return self.files[0].sha256
        return _digest({"files": [f.sha256 for f in self.files], "chars": [self.begin, self.end]})

    def pieces(self) -> Iterator[tuple[Piece, int]]:
        """Each piece and the position of its first character in the whole text."""
        at = 0
        for f in self.files:
            for piece in f.pieces:
                yield piece, at
                at += piece.chars

    def __iter__(self) -> Iterator[str]:
        return self.texts()

    def reported(self, progress: Progress | None) -> Reported:
        """Its text pieces, iterable again and again, each reported read to ``progress``."""
        return Reported(self, progress)

    def texts(self, progress: Progress | None = None) -> Iterator[str]:
        """The text of each piece (cut to ``begin`` ... ``end``), reporting the bytes read
        to ``progress``."""
        for part in self.slices():
            text = part.text()
            if progress is not None:
                progress.advance(part.size)
            if text:
                yield text

    def slices(self) -> Iterator[Slice]:
        """Its pieces, each cut to ``begin`` ... ``end`` where they fall inside it."""
        end = self.end
        for piece, at in self.pieces():
            if end is not None and at >= end:
                return
            if at + piece.chars <= self.begin:
                continue
            lo = self.begin - at if self.begin > at else None
            hi = end - at if end is not None and end < at + piece.chars else None
            yield Slice(piece, lo, hi)

    def split(self, fraction: float) -> tuple[Source, Source]:
        """Its first ``fraction`` of characters and the rest, cut as ``split_text`` cuts a
        text in memory: just after the first line end at or after the last character of
        the first part (not the text's last character), else where the fraction falls."""
        if not 0.0 < fraction < 1.0:
            raise ElmanError(
                f"the split fraction must be between 0 and 1, got {fraction}; use e.g. 0.9."
            )
        total = self.chars
        cut = int(total * fraction)
        newline = self._find_line_end(max(cut - 1, 0), total - 1)
        if newline != -1:
            cut = newline + 1
        if cut <= 0 or cut >= total:
            raise ElmanError(
                f"a text of {total} characters is too short to split at fraction {fraction}; "
                "give a longer text or a separate validation file."
            )
        return Source(self.files, 0, cut), Source(self.files, cut, None)

    def _find_line_end(self, start: int, stop: int) -> int:
        """The position of the first "\\n" in characters ``start`` to ``stop`` (-1: none)."""
        for piece, at in self.pieces():
            if at + piece.chars <= start:
                continue
            if at >= stop:
                break
            found = piece.text().find("\n", max(start - at, 0), stop - at)
            if found != -1:
                return at + found
        return -1


@dataclass(frozen=True)
class Reported:
    """A ``Source``'s text pieces, iterable again and again (subword pieces are learned
    from two passes), each reported read to ``progress``."""

    source: Source
    progress: Progress | None

    def __iter__(self) -> Iterator[str]:
        return self.source.texts(self.progress)


def scan(paths: Sequence[str | os.PathLike], progress: Progress | None = None) -> Source:
    """The text of ``paths`` one after another, cut into pieces at line ends; each file's
    sha256 (of the text as read), refusing a missing, empty or binary file. One pass over
    the bytes; the text is decoded (and refused if it is not UTF-8) when it is read."""
    files = []
    for i, path in enumerate(paths):
        files.append(_scan_file(os.fspath(path), i == len(paths) - 1, progress))
    return Source(tuple(files))


def _scan_file(name: str, last: bool, progress: Progress | None) -> SourceFile:
    if os.path.isdir(name):
        raise ElmanError(f"{name} is a directory, not a text file; give the path of a file.")
    try:
        f = open(name, "rb")  # noqa: SIM115 (closed below, whatever happens)
    except FileNotFoundError:
        raise ElmanError(f"{name} does not exist; check the path.") from None
    except PermissionError:
        raise ElmanError(
            f"{name} cannot be read (permission denied); make it readable (chmod +r) or copy it."
        ) from None
    except OSError as e:
        raise ElmanError(f"{name} cannot be read ({e.strerror}); check the path.") from None
    digest, pieces, start, held = hashlib.sha256(), [], 0, b""
    with f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise ElmanError(f"{name} is empty (0 bytes); give a file that contains text.")
        while True:
            block = f.read(CHUNK_BYTES)
            data = held + block
            # A piece ends just after its last line end: "\n", or a "\r" not at the end of
            # what was read (a "\n" may follow it in the next block).
            cut = len(data) if not block else _last_line_end(data) + 1
            if cut == 0 and block:
                held = data  # no line end yet: read on
                continue
            piece, held = data[:cut], data[cut:]
            if piece:
                nul = piece.find(b"\x00")
                if nul != -1:
                    raise ElmanError(
                        f"{name} looks binary (NUL byte at byte offset {start + nul}); give a "
                        "UTF-8 text file, or convert UTF-16 text with iconv -f UTF-16 -t UTF-8."
                    )
                text = piece[3:] if start == 0 and piece.startswith(BOM_BYTES) else piece
                text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
                ends = not block and not last and not text.endswith(b"\n")
                if ends:
                    text += b"\n"
                digest.update(text)
                # In UTF-8 every character has one byte that does not continue another.
                chars = int(np.count_nonzero((np.frombuffer(text, np.uint8) & 0xC0) != 0x80))
                pieces.append(Piece(name, start, start + cut, chars, start == 0, ends))
                if progress is not None:
                    progress.advance(cut)
                start += cut
            if not block:
                break
    return SourceFile(name, size, digest.hexdigest(), tuple(pieces))


def _last_line_end(data: bytes) -> int:
    """The position of the last line end of ``data`` that surely ends a line (-1: none)."""
    return max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1))


def text_files(path: str | os.PathLike) -> list[str]:
    """A file, or the files of a folder (not those whose names start with a dot), in the
    order of their paths."""
    path = Path(path)
    if path.is_dir():
        found = sorted(
            str(p) for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))
        )
        if not found:
            raise ElmanError(f"{path} holds no files; give a folder of text files, or a file.")
        return found
    return [str(path)]


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


# Working in several processes ------------------------------------------------------------

# A piece's tokens are split, counted and looked up in Python and NumPy under one
# interpreter lock, so a second core helps only as another process: each worker is
# handed a slice (where its text is, not the text), reads and tokenises it, and sends
# back the piece's counts or ids, which the parent adds or writes in the pieces' order
# (``in_order``). Starting a worker costs some 0.3 s (it imports NumPy), so they work
# only on a text of at least ``PARALLEL_BYTES`` (``workers_for``); at most ``AHEAD``
# slices per worker are in flight, which bounds the memory the results take.
PARALLEL_BYTES = 4 * CHUNK_BYTES
AHEAD = 2
_worker: dict[str, Any] = {}  # in a worker: the tokenizer it encodes with


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for(source: Source, tokenizer: Tokenizer | type[Tokenizer], workers: int = 0) -> int:
    """How many processes tokenise ``source``: ``workers``, or for 0 one per available
    core (at most 4) when that pays (``Tokenizer.parallel``: words) and the text has
    several pieces; 1 (this process) for a tokenizer made from more than counts
    (subword pieces, ``growable``) or a short text."""
    if workers < 0:
        raise ElmanError(f"--workers must be 0 (as many as pay) or more, got {workers}.")
    if not tokenizer.growable or source.size < PARALLEL_BYTES:
        return 1
    if workers == 0:
        return min(available_cores(), 4) if tokenizer.parallel else 1
    return workers


def in_order(
    work: Any,
    slices: Iterator[Slice],
    workers: int,
    progress: Progress | None = None,
    tokenizer: Tokenizer | None = None,
) -> Iterator[Any]:
    """``work(slice)`` for each slice, in order; in ``workers`` processes when more than
    one (each given ``tokenizer`` once, as ``_worker["tokenizer"]``), reporting each
    slice's bytes to ``progress`` as its result is taken."""
    if workers <= 1:
        if tokenizer is not None:
            _worker["tokenizer"] = tokenizer
        for part in slices:
            result = work(part)
            if progress is not None:
                progress.advance(part.size)
            yield result
        return
    setup = None if tokenizer is None else tokenizer.to_json()
    # spawn, not fork: a fork copies the parent's threads' locks (BLAS's, tqdm's) as they are.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=_start_worker,
                             initargs=(setup,)) as pool:  # fmt: skip
        pending: deque[tuple[Future[Any], int]] = deque()
        for part in slices:
            pending.append((pool.submit(work, part), part.size))
            if len(pending) >= AHEAD * workers:
                yield _taken(pending, progress)
        while pending:
            yield _taken(pending, progress)


def _taken(pending: deque[tuple[Future[Any], int]], progress: Progress | None) -> Any:
    future, size = pending.popleft()
    result = future.result()
    if progress is not None:
        progress.advance(size)
    return result


def _start_worker(setup: dict[str, Any] | None) -> None:
    if setup is not None:
        _worker["tokenizer"] = tokenizer_from_json(setup, "the tokenizer handed to a worker")


@dataclass(frozen=True)
class _Count:
    """Count a slice's tokens as ``cls.fit`` counts them (``Tokenizer.count``)."""

    cls: type[Tokenizer]
    normalize: str | None

    def __call__(self, part: Slice) -> Counter[str]:
        return self.cls.count(part.text(), self.normalize)


def count_tokens(
    source: Source,
    cls: type[Tokenizer],
    normalize: str | None = "NFC",
    progress: Progress | None = None,
    workers: int = 1,
) -> Counter[str]:
    """The tokens of ``source`` counted as ``cls.fit`` counts a text, in order of first
    appearance, a piece at a time in ``workers`` processes: each piece's counts added in
    the pieces' order (a token new in a piece comes after those of the pieces before)."""
    counts: Counter[str] = Counter()
    for piece_counts in in_order(_Count(cls, normalize), source.slices(), workers, progress):
        counts.update(piece_counts)
    return counts


def _encode(dtype: np.dtype, part: Slice) -> tuple[bytes, TextCounts, bool]:
    """A slice's ids (as bytes of ``dtype``), what they write, and whether it holds more
    than whitespace; with the worker's tokenizer."""
    text = part.text()
    ids, counts = _worker["tokenizer"].encode_counted(text, dtype)
    return ids.tobytes(), counts, bool(text) and not text.isspace()


# Writing -----------------------------------------------------------------------------------


@dataclass
class PartFile:
    """One part of a prepared corpus: its ids' file and what the header says of it."""

    name: str
    path: Path
    dtype: np.dtype
    counts: TextCounts
    sha256: str

    def record(self) -> dict[str, Any]:
        c = self.counts
        return {
            "file": self.path.name,
            "tokens": c.tokens,
            "chars": c.chars,
            "bytes": c.bytes,
            "unknown": c.unknown,
            "first_chars": c.first_chars,
            "first_bytes": c.first_bytes,
            "sha256": self.sha256,
        }

    def check(self) -> None:
        """Refuse a file whose size or content is not what the header records."""
        expected = self.counts.tokens * self.dtype.itemsize
        try:
            size = self.path.stat().st_size
        except OSError as e:
            raise ElmanError(
                f"{self.path} cannot be read ({e.strerror or e}); restore it, or prepare the "
                "corpus again."
            ) from None
        if size != expected:
            raise ElmanError(
                f"{self.path} holds {size:,} bytes but its header ({HEADER}) records "
                f"{self.counts.tokens:,} tokens of {self.dtype.itemsize} bytes ({expected:,}): "
                "it was truncated or changed, so prepare the corpus again."
            )
        if file_sha256(self.path) != self.sha256:
            raise ElmanError(
                f"{self.path} is not the file its header ({HEADER}) records: its sha256 "
                "differs, so it was changed after it was prepared; prepare the corpus again."
            )

    def ids(self) -> np.ndarray:
        """The ids, from a read-only memory map of the file (nothing read until used)."""
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.counts.tokens,))


def write_corpus(
    out: str | os.PathLike,
    tokenizer: Tokenizer,
    parts: dict[str, Source],
    info: dict[str, Any] | None = None,
    progress: Progress | None = None,
    overwrite: bool = False,
    workers: int = 0,
) -> PreparedCorpus:
    """Tokenise ``parts`` (role -> text) with ``tokenizer`` into a prepared corpus in
    ``out``, written beside it under a temporary name and renamed into place when whole,
    so that ``out`` holds a whole corpus or what it held before. ``info``: what else the
    header records (how the vocabulary was made). An ``out`` that holds anything is
    refused unless ``overwrite`` and it holds a prepared corpus. ``workers``: processes
    that tokenise (``workers_for``; 0: as many as pay)."""
    out = Path(out)
    check_out(out, overwrite)
    progress = progress or Silent()
    dtype = ids_dtype(len(tokenizer)).newbyteorder("<")
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        save_vocab(tokenizer, staging / VOCAB)
        for name, content in tokenizer.files().items():
            (staging / f"vocab.{name}").write_bytes(content)
        written = {}
        for role, source in parts.items():
            progress.start(f"writing {role}.bin", source.size)
            written[role] = _write_part(staging / f"{role}.bin", role, tokenizer, source,
                                        dtype, progress, workers)  # fmt: skip
        header = {
            "format": FORMAT,
            "version": VERSION,
            "vocabulary": {
                "file": VOCAB,
                "sha256": file_sha256(staging / VOCAB),
                "level": tokenizer.level,
                "size": len(tokenizer),
            },
            "dtype": dtype.name,
            "parts": {role: part.record() for role, part in written.items()},
            "sources": {
                role: {
                    "files": [f.record() for f in s.files],
                    "chars": [s.begin, s.end],
                    "sha256": s.sha256,
                }
                for role, s in parts.items()
            },
            **(info or {}),
        }
        _write_json(staging / HEADER, header)
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return open_corpus(out, check=False)


def _write_part(
    path: Path,
    role: str,
    tokenizer: Tokenizer,
    source: Source,
    dtype: np.dtype,
    progress: Progress,
    workers: int = 0,
) -> PartFile:
    digest, counts, text_seen = hashlib.sha256(), NO_TEXT, False
    workers = workers_for(source, tokenizer, workers)
    with open(path, "wb") as f:
        encode = partial(_encode, dtype)
        for data, piece_counts, seen in in_order(encode, source.slices(), workers, progress,
                                                 tokenizer):  # fmt: skip
            text_seen = text_seen or seen
            digest.update(data)
            f.write(data)
            counts = counts + piece_counts
        f.flush()
        os.fsync(f.fileno())
    if not text_seen:
        names = ", ".join(f.path for f in source.files)
        raise ElmanError(f"{names} contains only whitespace; give a file that contains text.")
    return PartFile(role, path, dtype, counts, digest.hexdigest())


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that holds anything, unless ``overwrite`` and it is a prepared
    corpus (whose files are then replaced whole)."""
    if out.exists() and not out.is_dir():
        raise ElmanError(f"--out {out} is a file, not a directory; choose another --out.")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / HEADER).is_file():
        raise ElmanError(
            f"{out} holds files and no prepared corpus; choose another --out (an empty or new "
            "directory)."
        )
    if not overwrite:
        raise ElmanError(
            f"{out} already holds a prepared corpus; choose another --out, or pass --overwrite "
            "to replace it."
        )


def _replace(staging: Path, out: Path) -> None:
    """Put the finished corpus in ``staging`` where ``out`` is, the old one moved aside
    first and removed last."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    _sync_directory(out.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())


# Reading -----------------------------------------------------------------------------------


@dataclass
class PreparedCorpus:
    """A prepared corpus as read from its directory: the vocabulary, each part, and the
    header's other records."""

    directory: Path
    tokenizer: Tokenizer
    parts: dict[str, PartFile]
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def sources(self) -> dict[str, Any]:
        return self.header.get("sources", {})

    def check_vocabulary(self, tokenizer: Tokenizer, where: str | os.PathLike) -> None:
        """Refuse to read this corpus's ids (``where``) with another vocabulary than its
        own: they would mean other tokens."""
        ours = self.tokenizer
        if ours != tokenizer:
            raise ElmanError(
                f"{where} was prepared with another vocabulary ({len(ours):,} {ours.level} "
                f"tokens) than the model's ({len(tokenizer):,} {tokenizer.level} tokens), so "
                "its ids mean other tokens; prepare it with the model's vocabulary (elman "
                "prepare --vocab MODEL ...), or give its text."
            )

    def part(self, role: str, given: str | os.PathLike | None = None) -> PartFile:
        """The part ``role``, refused with a sentence when the corpus has none."""
        if role not in self.parts:
            has = ", ".join(self.parts)
            raise ElmanError(
                f"{given or self.directory} has no {role} part (it has: {has}); prepare it "
                f"with --{role}, or give its parts by name ({self.directory}/PART.bin)."
            )
        return self.parts[role]


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a prepared corpus: its directory, or a part's file in one."""
    path = Path(path)
    if path.is_dir():
        return (path / HEADER).is_file()
    return path.suffix == ".bin" and (path.parent / HEADER).is_file()


def open_corpus(path: str | os.PathLike, check: bool = True) -> PreparedCorpus:
    """The prepared corpus at ``path`` (its directory, or a part's file in it), its
    header and vocabulary checked; with ``check``, every part's file too (its size and
    sha256 against the header's: a file changed or cut short since it was prepared is
    refused)."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    where = directory / HEADER
    try:
        header = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ElmanError(
            f"{directory} is not a prepared corpus (it has no {HEADER}); prepare one with "
            "elman prepare, or give a text file."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _damaged(where, f"cannot read it as JSON: {e}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _damaged(where, "it is not the header of an elman corpus")
    if header.get("version") != VERSION:
        raise ElmanError(
            f"{where} has corpus format version {header.get('version')!r}, but this elman reads "
            f"version {VERSION}; prepare the corpus again with this elman."
        )
    vocabulary = header.get("vocabulary", {})
    vocab_file = directory / VOCAB
    try:
        if file_sha256(vocab_file) != vocabulary.get("sha256"):
            raise _damaged(where, f"{VOCAB} does not match the sha256 it records")
    except FileNotFoundError:
        raise _damaged(where, f"its {VOCAB} is missing") from None
    tokenizer = load_vocab(vocab_file)
    try:
        dtype = np.dtype(header["dtype"]).newbyteorder("<")
        if dtype not in (np.dtype("<u2"), np.dtype("<u4")) or len(tokenizer) > 1 << (
            8 * dtype.itemsize
        ):
            raise ValueError(header["dtype"])
        parts = {}
        for role, record in header["parts"].items():
            counts = TextCounts(*(int(record[k]) for k in COUNTS))
            parts[role] = PartFile(role, directory / record["file"], dtype, counts,
                                   str(record["sha256"]))  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:
        raise _damaged(where, f"its parts are not as elman writes them ({e!r})") from None
    corpus = PreparedCorpus(directory, tokenizer, parts, header)
    if check:
        for part in parts.values():
            part.check()
    return corpus


COUNTS = ("tokens", "chars", "bytes", "unknown", "first_chars", "first_bytes")


def part_named(path: str | os.PathLike) -> str | None:
    """The part a path names: ``corpus/valid.bin`` names valid; a directory, none."""
    path = Path(path)
    return None if path.is_dir() else path.stem


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read a block at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


def _damaged(where: Path, problem: str) -> ElmanError:
    return ElmanError(
        f"{where} is damaged ({problem}); prepare the corpus again with elman prepare."
    )
