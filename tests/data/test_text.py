"""read_text and split_text against hand-written files and expected strings."""

from __future__ import annotations

import pytest

import elman.data.text as text_module
from elman.data import read_text, split_text, tiny_shakespeare
from elman.data.text import read_lines
from elman.errors import ElmanError

KOREAN = "안녕하세요, 세계!\n한국어 문장입니다.\n"


def write(tmp_path, data: bytes, name: str = "corpus.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_reads_utf8_korean_as_written(tmp_path):
    """The decoded text equals the string that was encoded."""
    assert read_text(write(tmp_path, KOREAN.encode())) == KOREAN


def test_accepts_str_path(tmp_path):
    assert read_text(str(write(tmp_path, b"hello\n"))) == "hello\n"


def test_strips_bom(tmp_path):
    """A UTF-8 BOM is dropped: the text equals the file without its first 3 bytes."""
    assert read_text(write(tmp_path, b"\xef\xbb\xbfhello\n")) == "hello\n"


def test_normalises_crlf_and_lone_cr(tmp_path):
    """Windows and old-Mac line ends become the same text as Unix ones."""
    assert read_text(write(tmp_path, b"a\r\nb\rc\n\r\n")) == "a\nb\nc\n\n"


def test_missing_file(tmp_path):
    with pytest.raises(ElmanError, match=r"nope\.txt does not exist"):
        read_text(tmp_path / "nope.txt")


def test_directory(tmp_path):
    with pytest.raises(ElmanError, match="is a directory"):
        read_text(tmp_path)


def test_permission_denied(tmp_path, monkeypatch):
    """open() is replaced, since chmod 0 does not stop root (tests may run as root)."""
    path = write(tmp_path, b"secret\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(text_module, "open", refuse, raising=False)
    with pytest.raises(ElmanError, match=r"corpus\.txt cannot be read \(permission denied\)"):
        read_text(path)


def test_empty_file(tmp_path):
    with pytest.raises(ElmanError, match=r"corpus\.txt is empty"):
        read_text(write(tmp_path, b""))


@pytest.mark.parametrize("data", [b" \n\t\r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf \n"])
def test_whitespace_only(tmp_path, data):
    with pytest.raises(ElmanError, match="only whitespace"):
        read_text(write(tmp_path, data))


def test_nul_bytes_look_binary(tmp_path):
    with pytest.raises(ElmanError, match=r"looks binary \(NUL byte at byte offset 3\)"):
        read_text(write(tmp_path, b"abc\x00def"))


def test_utf16_looks_binary(tmp_path):
    with pytest.raises(ElmanError, match="looks binary.*UTF-16"):
        read_text(write(tmp_path, "hello\n".encode("utf-16")))


def test_invalid_utf8_names_byte_and_offset(tmp_path):
    """The offset is counted in bytes: 안 is 3 bytes, so 0xff after "안a" is at offset 4."""
    path = write(tmp_path, "안a".encode() + b"\xffrest\n")
    with pytest.raises(ElmanError) as info:
        read_text(path)
    message = str(info.value)
    assert message == (
        f"{path} is not valid UTF-8: invalid byte 0xff at byte offset 4; "
        "convert it with iconv -t UTF-8."
    )


def test_invalid_utf8_latin1_offset(tmp_path):
    """Latin-1 é (0xe9) followed by ASCII is an invalid start of a UTF-8 sequence."""
    data = b"x" * 1234 + "café".encode("latin-1")
    with pytest.raises(ElmanError, match="invalid byte 0xe9 at byte offset 1237;"):
        read_text(write(tmp_path, data))


def test_truncated_utf8_at_end(tmp_path):
    """A multi-byte sequence cut short is reported at its first byte."""
    data = b"ok " + "한".encode()[:2]
    with pytest.raises(ElmanError, match="invalid byte 0xed at byte offset 3;"):
        read_text(write(tmp_path, data))


def test_split_matches_nanogpt_when_cut_is_at_a_line_end():
    """With the cut right after a newline, the parts are nanoGPT's data[:int(n*0.9)]."""
    text = "abcd\n" * 10  # n = 50, cut 45 follows a newline
    assert split_text(text, 0.9) == (text[:45], text[45:])


def test_split_moves_cut_to_the_next_line_end():
    text = "one two\nthree four\nfive six\n"
    train, valid = split_text(text, 0.5)  # raw cut 14 is inside "three four"
    assert (train, valid) == ("one two\nthree four\n", "five six\n")


def test_split_without_usable_newline_cuts_characters():
    """No newline after the cut (or only the final one): the plain character cut."""
    assert split_text("abcdefghij", 0.7) == ("abcdefg", "hij")
    assert split_text("ab\ncdefghij\n", 0.5) == ("ab\ncde", "fghij\n")


def test_split_parts_concatenate_to_the_text():
    text = KOREAN * 7
    train, valid = split_text(text)
    assert train + valid == text and train.endswith("\n") and valid


def test_split_tiny_shakespeare_within_a_line_of_nanogpt():
    """nanoGPT cuts at 1,003,854; the next line end is 2 characters later."""
    text = tiny_shakespeare()
    assert len(text) == 1_115_394
    train, valid = split_text(text)
    assert len(train) == 1_003_856 and train + valid == text


@pytest.mark.parametrize(("text", "fraction"), [("", 0.9), ("a", 0.9), ("ab", 0.1)])
def test_split_too_short(text, fraction):
    """Either part would be empty."""
    with pytest.raises(ElmanError, match="too short to split"):
        split_text(text, fraction)


def test_split_two_characters():
    assert split_text("a\n") == ("a", "\n")


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5, 2.0])
def test_split_fraction_out_of_range(fraction):
    with pytest.raises(ElmanError, match="between 0 and 1"):
        split_text("abc\ndef\n", fraction)


def test_read_lines_keeps_blank_lines_so_answers_stay_aligned(tmp_path):
    """Lines end at "\\n" only, a final newline starts no line, blank lines are kept."""
    path = tmp_path / "lines.txt"
    path.write_text("a b\n\n \nc\fd\n", encoding="utf-8")
    assert read_lines(path) == ["a b", "", " ", "c\fd"]


def test_read_lines_reads_standard_input(monkeypatch):
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("한 줄\n둘\n".encode())))
    assert read_lines(None) == ["한 줄", "둘"]
