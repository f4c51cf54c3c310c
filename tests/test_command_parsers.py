"""uqkit.parsers: strict numbers (D4) and errors that name file, line and column (D5)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import uqkit
from uqkit import parsers


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return tmp_path


def _error(parser, workdir):
    with pytest.raises(uqkit.EvaluationFailure) as info:
        parser(workdir)
    return info.value


# ---------------------------------------------------------------- D4: strict numbers
@pytest.mark.parametrize("token,value", [
    ("1", 1.0), ("-2.5", -2.5), (".5", 0.5), ("5.", 5.0), ("1e-3", 1e-3), ("+1E+300", 1e300),
    ("nan", None), ("-inf", -np.inf), ("Infinity", np.inf), ("4.9406564584124654e-324", 5e-324),
])
def test_accepted_numbers(token, value):
    got = parsers.parse_number(token)
    assert np.isnan(got) if value is None else got == value


@pytest.mark.parametrize("token", ["1,0", "1_000", "0x10", "", "1.2.3", "e5", "--1", "1e",
                                   "1.0D+00", "nan1", "1 2", "½"])
def test_rejected_numbers(token):
    with pytest.raises(uqkit.EvaluationFailure) as info:
        parsers.parse_number(token, where="out.txt, line 3, column 7")
    assert info.value.kind == "parse_error" and "line 3, column 7" in str(info.value)


def test_decimal_comma_hint_and_fortran_opt_in(tmp_path):
    exc = _error(parsers.numbers("o.txt"), _write(tmp_path, "o.txt", "1.5 1,0\n"))
    assert "decimal comma" in str(exc) and "line 1, column 5" in str(exc)
    _write(tmp_path, "f.txt", "1.0D+00 -2.5d-3\n")
    exc = _error(parsers.numbers("f.txt"), tmp_path)
    assert "fortran=True" in str(exc)
    np.testing.assert_array_equal(parsers.numbers("f.txt", fortran=True)(tmp_path),
                                  [1.0, -2.5e-3])


def test_json_values_must_be_numbers(tmp_path):
    for text in ('{"y": "1.0"}', '{"y": null}', '{"y": true}', '{"y": [1, "a"]}'):
        exc = _error(parsers.json("o.json"), _write(tmp_path, "o.json", text))
        assert exc.kind == "wrong_type"
    assert parsers.json("o.json")(_write(tmp_path, "o.json", '{"y": NaN}'))["y"] != 0


def test_wrong_types_fail_through_the_model(tmp_path):
    import sys

    for out, kind in (('"abc"', "wrong_type"), ("null", "wrong_type"),
                      ('[1, 2]', "shape_mismatch"), ("[[1, 2]]", "shape_mismatch"),
                      ('{"re": 1, "im": 2}', "shape_mismatch")):
        code = f"open('o.json', 'w').write({out!r})#{{{{a}}}}"
        model = uqkit.CommandModel([sys.executable, "-c", code], inputs=["a"], outputs=["y"],
                                   parse=parsers.json("o.json"), workdir=tmp_path)
        with pytest.raises(uqkit.EvaluationFailure) as info:
            model([[1.0]])
        assert info.value.kind == kind, (out, info.value)


# ---------------------------------------------------------------- D5: malformed files
def test_json_error_names_line_and_column(tmp_path):
    exc = _error(parsers.json("o.json"), _write(tmp_path, "o.json", '{\n  "a": 1,\n  "b": }'))
    assert exc.kind == "parse_error" and "o.json, line 3, column 8" in str(exc)
    exc = _error(parsers.json("o.json", keys=["a", "c.d"]),
                 _write(tmp_path, "o.json", '{"a": 1, "c": {"e": 2}}'))
    assert "'c.d' not found" in str(exc)
    assert parsers.json("o.json", keys=["c.e", "a"])(tmp_path) == [2, 1]


@pytest.mark.parametrize("text,where", [
    ("t,V\n0,1\n1,2,3\n", "line 3: 3 columns, expected 2"),        # extra column
    ("t,V\n0,1\n1\n", "line 3: 1 columns, expected 2"),            # ragged
    ("t,V\n0,1\n1,x\n", "line 3, column 2 ('V')"),                  # bad cell
    ("0,1\n1,2\n", "line 1: expected a header"),                   # missing header
    ("# comment\nt V\n0 1\n1 1,5\n", "line 4, column 2 ('V')"),    # decimal comma
])
def test_table_errors_name_line_and_column(tmp_path, text, where):
    exc = _error(parsers.table("o.csv"), _write(tmp_path, "o.csv", text))
    assert exc.kind == "parse_error" and f"o.csv, {where}" in str(exc), str(exc)


def test_table_missing_column_and_reading(tmp_path):
    _write(tmp_path, "o.csv", "t, V, Ca\n0, -80, 1e-4\n1, 20, 2e-4\n")
    exc = _error(parsers.table("o.csv", ["V", "Na"]), tmp_path)
    assert "column 'Na' not in header ['t', 'V', 'Ca']" in str(exc) and "line 1" in str(exc)
    cols = parsers.table("o.csv", ["Ca", "V"])(tmp_path)
    np.testing.assert_array_equal(cols["V"], [-80.0, 20.0])
    assert parsers.table("o.csv", ["V"], row=-1)(tmp_path) == {"V": 20.0}
    _write(tmp_path, "w.txt", "1 2 3\n")
    np.testing.assert_array_equal(parsers.table("w.txt", header=False)(tmp_path), [1, 2, 3])


def test_missing_and_empty_files_are_missing_output(tmp_path):
    for parser in (parsers.json("x"), parsers.table("x"), parsers.numbers("x"),
                   parsers.regex("y", file="x")):
        assert _error(parser, tmp_path).kind == "missing_output"
        _write(tmp_path, "x", "  \n")
        assert _error(parser, tmp_path).kind == "missing_output"
        (tmp_path / "x").unlink()


def test_regex_groups(tmp_path):
    _write(tmp_path, "stdout.txt", "step 1 err=0.5\nstep 2 err=0.25\nAPD90 = 251.5 ms\n")
    assert parsers.regex(r"APD90 = (\S+)")(tmp_path) == [251.5]
    assert parsers.regex(r"err=(?P<err>\S+)", last=True)(tmp_path) == {"err": 0.25}
    assert parsers.regex(r"err=(?P<err>\S+)")(tmp_path) == {"err": 0.5}
    exc = _error(parsers.regex(r"CV = (\S+)"), tmp_path)
    assert "stdout.txt: pattern" in str(exc) and "not found" in str(exc)
    _write(tmp_path, "stdout.txt", "\n\nAPD90 = 2,5 ms\n")
    assert "stdout.txt, line 3" in str(_error(parsers.regex(r"APD90 = (\S+)"), tmp_path))


def test_parsers_validate_arguments_and_pickle():
    for bad in (lambda: parsers.json("../o.json"), lambda: parsers.json("/etc/passwd"),
                lambda: parsers.regex("("), lambda: parsers.table("o", ["a"], header=False),
                lambda: parsers.json("o", keys=[]), lambda: parsers.table("o", delimiter="x")):
        with pytest.raises(uqkit.InvalidParameterError):
            bad()
    for p in (parsers.json("o.json", keys=["a"]), parsers.table("o.csv", ["V"], row=-1),
              parsers.regex(r"y = (\S+)", last=True), parsers.numbers("o", fortran=True)):
        clone = pickle.loads(pickle.dumps(p))  # noqa: TID251 (our own objects, not stored data)
        assert repr(clone) == repr(p)
