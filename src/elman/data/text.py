"""Reading a text corpus from disk and cutting it into training and validation parts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from elman.errors import ElmanError

BOM = "\ufeff"


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 text file, strip a leading BOM and turn "\\r\\n" and "\\r" into "\\n".

    Raises ElmanError, naming the file and the fix, when the file is missing, a
    directory, unreadable, empty or only whitespace, binary (has NUL bytes) or not
    valid UTF-8 (the message gives the offending byte and its byte offset).
    """
    name = os.fspath(path)
    if os.path.isdir(name):
        raise ElmanError(f"{name} is a directory, not a text file; give the path of a file.")
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ElmanError(f"{name} does not exist; check the path.") from None
    except PermissionError:
        raise ElmanError(
            f"{name} cannot be read (permission denied); make it readable (chmod +r) or copy it."
        ) from None
    except OSError as e:
        raise ElmanError(f"{name} cannot be read ({e.strerror}); check the path.") from None

    return decode_text(raw, name)


def decode_text(raw: bytes, name: str) -> str:
    """The text in ``raw`` (UTF-8 bytes from ``name``, a file or standard input), checked
    and normalised as ``read_text`` describes."""
    if not raw:
        raise ElmanError(f"{name} is empty (0 bytes); give a file that contains text.")
    nul = raw.find(b"\x00")
    if nul != -1:
        # UTF-16 text is full of NUL bytes too, hence the second suggestion.
        raise ElmanError(
            f"{name} looks binary (NUL byte at byte offset {nul}); give a UTF-8 text file, "
            "or convert UTF-16 text with iconv -f UTF-16 -t UTF-8."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        # e.start indexes the raw bytes, so it is the offset a hex editor or `cmp` shows.
        raise ElmanError(
            f"{name} is not valid UTF-8: invalid byte 0x{raw[e.start]:02x} at byte offset "
            f"{e.start}; convert it with iconv -t UTF-8."
        ) from None

    if text.startswith(BOM):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.isspace():
        raise ElmanError(f"{name} contains only whitespace; give a file that contains text.")
    return text


def split_text(text: str, fraction: float = 0.9) -> tuple[str, str]:
    """Split text into its first ``fraction`` of characters and the rest.

    This is the char-rnn / nanoGPT convention for Tiny Shakespeare (first 90% to
    train, last 10% to validate), with one change: the cut moves forward to just
    after the first newline at or after the last character of the first part, so
    the first part ends with a whole line and word-level lines are never broken in
    half. When no such newline leaves a non-empty rest, the cut stays where the
    fraction puts it. On Tiny Shakespeare the cut moves by 2 characters.

    >>> split_text("ab\\ncd\\nef\\ngh\\n", 0.4)  # the cut moves from 4 to 6
    ('ab\\ncd\\n', 'ef\\ngh\\n')
    """
    if not 0.0 < fraction < 1.0:
        raise ElmanError(
            f"the split fraction must be between 0 and 1, got {fraction}; use e.g. 0.9."
        )
    cut = int(len(text) * fraction)
    # Search text[cut-1 : len-1]: a newline as the very last character would leave
    # nothing to validate on.
    newline = text.find("\n", max(cut - 1, 0), len(text) - 1)
    if newline != -1:
        cut = newline + 1
    if cut <= 0 or cut >= len(text):
        raise ElmanError(
            f"a text of {len(text)} characters is too short to split at fraction {fraction}; "
            "give a longer text or a separate validation file."
        )
    return text[:cut], text[cut:]


def read_lines(path: str | os.PathLike[str] | None) -> list[str]:
    """The lines of a UTF-8 file, or of standard input when ``path`` is None, for the
    commands that answer line by line (``score``, ``classify predict``, ``tag predict``).

    Lines end at "\\n" only (``str.splitlines`` would also break at form feeds and
    Unicode separators), and a final "\\n" does not start another line. Blank lines are
    kept, as "", so that each command can answer a blank line with a blank line and its
    output stays aligned with its input.
    """
    if path is None:
        text = decode_text(sys.stdin.buffer.read(), "standard input")
    else:
        text = read_text(path)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file, or two files with the same bytes (False when
    either cannot be read: reading it later says why)."""
    try:
        return os.path.samefile(a, b) or Path(a).read_bytes() == Path(b).read_bytes()
    except OSError:
        return False
