"""Preparing corpora, in the library: ``elman prepare`` (``prepare``), and the cache where
a run prepares a text too large to hold in memory (``cached``).

What a prepared corpus is, and how a text is read a piece at a time, is
``elman.data.prepared``; here are the texts by role (as ``elman train`` takes them), the
vocabulary (fitted on the training text as a run fits it, or a model's, grown by the new
text's tokens or not) and the progress bar.

A run given a text file larger than ``prepare_above()`` (100 MB; the environment
variable ELMAN_PREPARE_ABOVE, in MB, changes it) does not read it into memory: it
counts its vocabulary a piece at a time, writes the ids once into the cache
(``cache_directory()``: $ELMAN_CACHE, else $XDG_CACHE_HOME/elman, else ~/.cache/elman),
under a name made of the text's sha256 and the vocabulary's, and trains from a memory
map of them; a later run on the same text with the same vocabulary finds them there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from elman import kinds
from elman.checkpoint import CONFIG_FILE
from elman.config import TokenizerConfig
from elman.data.prepared import (
    HEADER,
    PARTS,
    PreparedCorpus,
    Progress,
    Source,
    check_out,
    count_tokens,
    open_corpus,
    scan,
    text_files,
    workers_for,
    write_corpus,
)
from elman.data.tokenizers import TOKENIZERS, Tokenizer, load_vocab
from elman.errors import ElmanError

PREPARE_ABOVE_MB = 100.0
CACHE_VERSION = 1  # part of every cache entry's name: a new format starts a new entry
SPLIT = 0.9  # --data FILE: its first 90% trains, the last 10% validates (as elman train)


def prepare_above() -> int:
    """The size in bytes above which a run prepares a text file instead of reading it
    into memory: 100 MB, or ELMAN_PREPARE_ABOVE megabytes."""
    given = os.environ.get("ELMAN_PREPARE_ABOVE")
    if given is None:
        return int(PREPARE_ABOVE_MB * 1e6)
    try:
        megabytes = float(given)
    except ValueError:
        megabytes = -1.0
    if not megabytes >= 0:
        raise ElmanError(
            f"ELMAN_PREPARE_ABOVE must be a size in megabytes (0 or more), got {given!r}; "
            f"unset it for the default, {PREPARE_ABOVE_MB:g}."
        )
    return int(megabytes * 1e6)


def cache_directory() -> Path:
    """Where runs keep the corpora they prepare: $ELMAN_CACHE, $XDG_CACHE_HOME/elman, or
    ~/.cache/elman."""
    if os.environ.get("ELMAN_CACHE"):
        return Path(os.environ["ELMAN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "elman"


class Bar:
    """A ``Progress`` shown as a tqdm bar in bytes, with the rate (MB/s) tqdm reckons."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar: tqdm | None = None

    def start(self, stage: str, total: int) -> None:
        self.close()
        self.bar = tqdm(total=total, desc=stage, unit="B", unit_scale=True, unit_divisor=1000,
                        disable=not self.enabled, dynamic_ncols=True, mininterval=0.5)  # fmt: skip

    def advance(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# The texts, by role ---------------------------------------------------------------------


def read_sources(
    inputs: Mapping[str, Any], progress: Progress | None = None, split: float = SPLIT
) -> dict[str, Source]:
    """The texts of ``inputs`` by role, scanned (``elman.data.prepared.scan``): "train",
    "valid" and "test", each a path or a list of paths (files, or folders of files); or
    "data" as ``elman train --data`` takes it, a folder holding train.txt, valid.txt and
    test.txt, or one file of which the first ``split`` trains and the rest validates."""
    given = {role: value for role, value in inputs.items() if value}
    if "data" in given:
        if any(role in given for role in PARTS):
            raise ElmanError("--data replaces --train, --valid and --test; give one or the other.")
        return _data_sources(Path(given["data"]), progress, split)
    if "train" not in given:
        raise ElmanError("give the training text: --train PATH (a file or a folder) or --data.")
    sources = {}
    for role in PARTS:
        if role in given:
            value = given[role]
            paths = [value] if isinstance(value, (str, os.PathLike)) else list(value)
            sources[role] = scan([f for p in paths for f in text_files(p)], progress)
    return sources


def _data_sources(path: Path, progress: Progress | None, split: float) -> dict[str, Source]:
    if path.is_dir():
        files = {role: path / f"{role}.txt" for role in PARTS}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise ElmanError(
                f"--data {path} should hold train.txt, valid.txt and test.txt, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; add "
                "them, or give one text file to split 90/10."
            )
        return {role: scan([f], progress) for role, f in files.items()}
    if not path.exists():
        raise ElmanError(
            f"--data {path} does not exist; give a directory holding train.txt, valid.txt and "
            "test.txt, or one text file to split 90/10."
        )
    train, valid = scan([path], progress).split(split)
    return {"train": train, "valid": valid}


# The vocabulary -------------------------------------------------------------------------


@dataclass
class Vocabulary:
    """How a prepared corpus's vocabulary is made: fitted on the training text with
    ``config`` (as a run fits it), or ``base`` (a model's, or another corpus's) as it is,
    or grown by the training text's new tokens (``grow``; ``config``'s min_count and
    max_vocab limit what is added)."""

    config: TokenizerConfig
    base: Tokenizer | None = None
    grow: bool = False
    base_from: str | None = None  # where base came from, for messages and the header

    def make(self, train: Source, progress: Progress | None = None, workers: int = 0) -> Tokenizer:
        """The vocabulary, counting ``train`` in ``workers`` processes (0: as many as pay)."""
        if self.base is None:
            return fitted(self.config, train, progress, workers)
        if not self.grow:
            return self.base
        check_growable(self.base, self.base_from)
        return grown(self.base, train, self.config, progress, workers)

    def record(self) -> dict[str, Any]:
        """What the corpus's header says of how its vocabulary was made."""
        if self.base is None:
            return {"fitted": dataclasses.asdict(self.config)}
        return {"from": self.base_from, "grown": self.grow}


def fitted(
    config: TokenizerConfig, train: Source, progress: Progress | None = None, workers: int = 0
) -> Tokenizer:
    """The vocabulary ``config`` fits on the text ``train``, read a piece at a time: the
    one ``config.fit`` gives for the text in memory (``Tokenizer.fit_chunks``), its pieces
    counted in several processes when that pays (``workers_for``)."""
    cls = TOKENIZERS[config.level]
    if progress is not None:
        progress.start("counting tokens", train.size)
    workers = workers_for(train, cls, workers)
    if workers == 1:
        return config.fit_chunks(train.reported(progress))
    counts = count_tokens(train, cls, progress=progress, workers=workers)  # in NFC, as fit
    return config.fit_counts(counts)


def grown(
    base: Tokenizer,
    train: Source,
    config: TokenizerConfig,
    progress: Progress | None = None,
    workers: int = 0,
) -> Tokenizer:
    """``base`` grown by the tokens of ``train`` it lacks (``Tokenizer.grown``; ``config``'s
    min_count and max_vocab limit them), counted a piece at a time."""
    if progress is not None:
        progress.start("counting tokens", train.size)
    workers = workers_for(train, base, workers)
    counts = count_tokens(train, type(base), base.normalize, progress, workers)
    return base.grown(counts, config.min_count, config.max_vocab)


def vocabulary_for(
    config: TokenizerConfig, given: set[str], vocab: str | None = None, grow: bool = False
) -> Vocabulary:
    """How ``elman prepare`` makes the vocabulary: fitted with ``config``, or the one in
    ``vocab`` (``load_vocabulary``), grown or not; ``given``: the settings of ``config`` the
    user gave, refused when ``vocab`` makes them moot (but min_count and max_vocab, which
    limit what ``grow`` adds)."""
    if grow and vocab is None:
        raise ElmanError("--grow-vocab adds tokens to the vocabulary of --vocab; give --vocab.")
    if vocab is None:
        return Vocabulary(config)
    base = load_vocabulary(vocab)
    if "level" in given and config.level != base.level:
        raise ElmanError(
            f"--vocab {vocab} is a {base.level}-level vocabulary; drop --level {config.level}."
        )
    limits = {"min_count", "max_vocab"} if grow else set()
    moot = sorted(given - {"level"} - limits)
    if moot:
        flag = "--" + moot[0].replace("_", "-")
        raise ElmanError(
            f"{flag} says how a vocabulary is fitted, and --vocab {vocab} gives one; drop {flag}"
            + (
                "."
                if grow
                else " (with --grow-vocab, --min-count and --max-vocab limit what it adds)."
            )
        )
    if grow:
        check_growable(base, f"--vocab {vocab}")
    kept = TokenizerConfig(level=base.level, **{k: getattr(config, k) for k in sorted(limits)})
    return Vocabulary(kept, base, grow, os.fspath(vocab))


def check_growable(tokenizer: Tokenizer, where: str | None) -> None:
    """Refuse to grow a vocabulary that cannot (``Tokenizer.growable``: not subword pieces,
    which sentencepiece learns as a whole)."""
    if not tokenizer.growable:
        raise ElmanError(
            f"--grow-vocab adds a new text's characters or words to a vocabulary, but "
            f"{where or 'this vocabulary'} is of {tokenizer.level} pieces, which sentencepiece "
            "learns as a whole; fine-tune without --grow-vocab (every text has pieces), or "
            "train a new model."
        )


def load_vocabulary(path: str | os.PathLike) -> Tokenizer:
    """The vocabulary in ``path``: a checkpoint's (its --out directory), a prepared
    corpus's, or a vocabulary file (vocab.json)."""
    path = Path(path)
    if path.is_dir() and (path / HEADER).is_file():
        return open_corpus(path, check=False).tokenizer
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        found = kinds.load(path)
        tokenizer = getattr(found, "tokenizer", None)
        if tokenizer is None:
            raise ElmanError(
                f"--vocab {path} holds a {found.kind} checkpoint, which has no single "
                "vocabulary; give a language model's or a classifier's."
            )
        return tokenizer
    if path.is_file():
        return load_vocab(path)
    raise ElmanError(
        f"--vocab {path} is neither a checkpoint, a prepared corpus nor a vocabulary file; "
        "give a trained model's --out directory."
    )


# Preparing -------------------------------------------------------------------------------


def prepare(
    inputs: Mapping[str, Any],
    out: str | os.PathLike,
    vocabulary: Vocabulary,
    overwrite: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
    workers: int = 0,
) -> PreparedCorpus:
    """``elman prepare``: the texts of ``inputs`` (``read_sources``) tokenised into a
    prepared corpus in ``out`` (refused if it holds anything, unless ``overwrite`` and it
    holds a corpus), with a vocabulary made by ``vocabulary`` on the training text;
    ``workers`` processes count and encode (0: as many as pay, ``workers_for``)."""
    out = Path(out)
    check_out(out, overwrite)
    bar = Bar(progress)
    try:
        sources = {}
        for role, source in _scanned(inputs, bar).items():
            sources[role] = source
        tokenizer = vocabulary.make(sources["train"], bar, workers)
        corpus = write_corpus(out, tokenizer, sources, {"made": vocabulary.record()}, bar,
                              overwrite, workers)  # fmt: skip
    finally:
        bar.close()
    say(summary(corpus))
    return corpus


def _scanned(inputs: Mapping[str, Any], bar: Bar) -> dict[str, Source]:
    paths = [p for value in inputs.values() if value for p in _listed(value)]
    total = sum(_size(f) for p in paths for f in _files_quietly(p))
    bar.start("reading (sha256)", total)
    return read_sources(inputs, bar)


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, (str, os.PathLike)) else list(value)


def _files_quietly(path: Any) -> list[str]:
    try:
        return text_files(path)
    except ElmanError:
        return []


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def summary(corpus: PreparedCorpus) -> str:
    """One line on a prepared corpus: its parts and vocabulary."""
    parts = ", ".join(
        f"{role} {part.counts.tokens:,} tokens ({part.counts.chars:,} characters"
        + (f", {part.counts.unknown:,} <unk>" if part.counts.unknown else "")
        + ")"
        for role, part in corpus.parts.items()
    )
    tokenizer = corpus.tokenizer
    dtype = next(iter(corpus.parts.values())).dtype.name if corpus.parts else "?"
    return (
        f"prepared {corpus.directory}: {parts}; vocabulary: {len(tokenizer):,} "
        f"{tokenizer.level} tokens, ids as {dtype}"
    )


def cached(
    sources: Mapping[str, Source],
    tokenizer: Tokenizer,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> PreparedCorpus:
    """``sources`` (role -> text) tokenised with ``tokenizer``, prepared into the cache
    once (``cache_directory``) and read from there, under a name made of the texts' and
    the vocabulary's sha256. A cached corpus that fails its check is prepared again."""
    key = _cache_key(sources, tokenizer)
    entry = cache_directory() / "corpora" / key[:32]
    names = ", ".join(dict.fromkeys(f.path for source in sources.values() for f in source.files))
    if (entry / HEADER).is_file():
        try:
            corpus = open_corpus(entry)
        except ElmanError as e:
            say(f"the prepared copy of {names} in {entry} is damaged ({e}); preparing it again")
        else:
            say(f"reading {names} from its prepared copy in {entry}")
            return corpus
    size = sum(f.size for f in {f.path: f for s in sources.values() for f in s.files}.values())
    say(
        f"preparing {names} ({size / 1e6:,.0f} MB) once into {entry}: texts above "
        f"{prepare_above() / 1e6:g} MB are trained from a memory map of their ids (the cache "
        "is $ELMAN_CACHE; ELMAN_PREPARE_ABOVE sets the size)"
    )
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElmanError(
            f"cannot create the cache {entry.parent}: {e.strerror or e}; set ELMAN_CACHE to "
            "a directory you can write to."
        ) from e
    bar = Bar(progress)
    try:
        return write_corpus(entry, tokenizer, dict(sources), {"made": {"cache": key}}, bar,
                            overwrite=True)  # fmt: skip
    finally:
        bar.close()


def _cache_key(sources: Mapping[str, Source], tokenizer: Tokenizer) -> str:
    vocabulary = json.dumps(tokenizer.to_json(), sort_keys=True, ensure_ascii=False)
    record = {
        "version": CACHE_VERSION,
        "texts": {role: source.sha256 for role, source in sources.items()},
        "vocabulary": hashlib.sha256(vocabulary.encode("utf-8")).hexdigest(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode("utf-8")).hexdigest()


def large(paths: Sequence[str | os.PathLike]) -> bool:
    """Whether any of the text files ``paths`` is above ``prepare_above()``."""
    limit = prepare_above()
    return any(os.path.isfile(p) and os.path.getsize(p) > limit for p in paths)
