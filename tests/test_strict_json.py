"""Strict JSON out, and the one reader of the JSON lines elman appends: its rule for a last
line cut short, against files written by hand."""

import pytest

from elman.errors import ElmanError
from elman.strict_json import dumps, read_json_lines

RECORDS = [{"event": "step", "step": 1, "loss": 2.5}, {"event": "save", "step": 1}]


def jsonl(tmp_path, tail: bytes = b"") -> str:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes("".join(dumps(r) + "\n" for r in RECORDS).encode() + tail)
    return path


def test_non_finite_numbers_are_null():
    assert dumps({"a": float("inf"), "b": [float("nan"), 1.5]}) == '{"a": null, "b": [null, 1.5]}'


def test_whole_lines_are_read_and_blank_ones_skipped(tmp_path):
    read = read_json_lines(jsonl(tmp_path, b"\n  \n"))
    assert read.records == RECORDS and not read.torn


@pytest.mark.parametrize(
    "tail",
    [b'{"event": "step", "st', b"[1, 2", b"7", b'"x"', '{"a": "한'.encode()[:-1], b"\0\0\0\0"],
    ids=["cut-object", "cut-array", "number", "string", "cut-utf8", "nul-bytes"],
)
def test_a_last_line_cut_short_is_left_out_and_said(tmp_path, tail):
    """What a full disk or a kill leaves: part of the last record (a cut multi-byte
    character, or the zeros some file systems leave, included)."""
    read = read_json_lines(jsonl(tmp_path, tail))
    assert read.records == RECORDS and read.torn


@pytest.mark.parametrize("line", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_line_elsewhere_is_refused_naming_it(tmp_path, line):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(dumps(RECORDS[0]).encode() + b"\n" + line + b"\n" + dumps(RECORDS[1]).encode())
    with pytest.raises(ElmanError, match="line 2 of .* is damaged"):
        read_json_lines(path)


def test_a_record_the_check_refuses_is_damage_even_last(tmp_path):
    path = jsonl(tmp_path)
    with pytest.raises(ElmanError, match=r"line 2 of .* is damaged \(no saves\)"):
        read_json_lines(path, lambda r: "no saves" if r["event"] == "save" else None)
