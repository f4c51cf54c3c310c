"""Parsers read with a size limit and raise bounded messages (RELIABILITY C8)."""

from __future__ import annotations

import tracemalloc

import pytest

import uqkit
from uqkit import parsers


def test_a_file_over_max_bytes_fails_before_it_is_read(tmp_path):
    (tmp_path / "stdout.txt").write_text("1.5\n" * 2000)
    with pytest.raises(uqkit.EvaluationFailure) as info:
        parsers.numbers("stdout.txt", max_bytes=1000)(tmp_path)
    assert info.value.kind == "output_too_large"
    assert "8000 bytes" in str(info.value) and "max_bytes" in str(info.value)
    assert parsers.numbers("stdout.txt", max_bytes=8000)(tmp_path).shape == (2000,)


def test_200_mb_without_newlines_costs_no_memory(tmp_path):
    # a sparse file: 200 MB of NUL bytes, no newline, nothing written to disk
    with open(tmp_path / "stdout.txt", "wb") as f:
        f.truncate(200 * 2**20)
    tracemalloc.start()
    try:
        with pytest.raises(uqkit.EvaluationFailure) as info:
            parsers.numbers("stdout.txt")(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.kind == "output_too_large"
    assert peak < 2**20
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("make", [
    lambda: parsers.numbers("stdout.txt"),
    lambda: parsers.regex(r"y = (\S+)", "stdout.txt"),
    lambda: parsers.table("stdout.txt", header=False, delimiter="|"),
], ids=["numbers", "regex", "table"])
def test_a_long_token_gives_a_short_message(tmp_path, make):
    junk = "x" * 2_000_000
    (tmp_path / "stdout.txt").write_text(f"1 {junk}\ny = {junk}\n")
    with pytest.raises(uqkit.EvaluationFailure) as info:
        make()(tmp_path)
    message = str(info.value)
    assert info.value.kind == "parse_error"
    assert len(message) <= parsers.MAX_MESSAGE
    assert "characters" in message  # says the token was longer than shown


def test_table_header_of_a_huge_line_gives_a_short_message(tmp_path):
    (tmp_path / "out.csv").write_text(",".join(["a"] * 500_000) + "\n1\n")
    with pytest.raises(uqkit.EvaluationFailure) as info:
        parsers.table("out.csv")(tmp_path)
    assert len(str(info.value)) <= parsers.MAX_MESSAGE


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "1"])
def test_max_bytes_is_validated(bad):
    with pytest.raises(uqkit.InvalidParameterError, match="max_bytes"):
        parsers.json("out.json", max_bytes=bad)


def test_max_bytes_enters_the_repr_only_when_set():
    assert repr(parsers.numbers("stdout.txt")) == "numbers('stdout.txt')"
    assert repr(parsers.numbers("stdout.txt", max_bytes=10)) == (
        "numbers('stdout.txt', max_bytes=10)")


def test_a_user_parsers_huge_message_is_cut(tmp_path):
    import sys

    def parse(workdir):
        raise ValueError("x" * 1_000_000)

    model = uqkit.CommandModel([sys.executable, "-c", "print(1)"], inputs=["a"],
                               outputs=["y"], files={"in.txt": "{{ a }}"}, parse=parse,
                               workdir=tmp_path)
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([[1.0]])
    assert info.value.kind == "parse_error" and len(str(info.value)) < 2200
