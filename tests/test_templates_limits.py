"""Template sizes are capped and format specs checked without rendering (RELIABILITY C8)."""

from __future__ import annotations

import sys
import textwrap
import tracemalloc

import pytest

import uqkit
from uqkit import parsers
from uqkit.cli import main


def _model(files, **kw):
    return uqkit.CommandModel([sys.executable, "-c", "print(1)"], inputs=["P"],
                              outputs=["y"], files=files, parse=parsers.numbers("stdout.txt"),
                              **kw)


@pytest.mark.parametrize("spec", [">3000000000", ".3000000000f", "0300000e"])
def test_a_huge_format_spec_fails_fast_at_build_time(spec):
    tracemalloc.start()
    try:
        with pytest.raises(uqkit.InvalidParameterError) as info:
            _model({"in.txt": f"P = {{{{ P:{spec} }}}}\n"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # nothing was rendered (a 3e9 width would take 3 GB)
    assert "larger than 256" in str(info.value) and "'files'" in str(info.value)


def test_a_reasonable_fixed_layout_is_accepted(tmp_path):
    model = _model({"in.txt": "P = {{ P:>24.17e }}\n"}, workdir=tmp_path)
    assert model([[0.5]]).tolist() == [[1.0]]


def test_the_rendered_size_cap_is_configurable():
    text = "x" * 5000 + " {{ P }}"
    with pytest.raises(uqkit.InvalidParameterError, match="max_input_size=4096"):
        _model({"in.txt": text}, max_input_size=4096)
    _model({"in.txt": text}, max_input_size=10_000)
    with pytest.raises(uqkit.InvalidParameterError, match="max_input_size"):
        _model({"in.txt": text}, max_input_size=0)


def test_check_of_a_study_with_a_huge_spec_exits_2_with_a_clear_message(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text(textwrap.dedent(f"""\
        [study]
        name = "huge"
        [model]
        command = ["{sys.executable}", "-c", "print(1)"]
        inputs = ["P"]
        outputs = ["y"]
        files = {{ "in.txt" = "{{{{ P:>3000000000 }}}}" }}
        parse = {{ format = "numbers" }}
        [parameters]
        P = {{ dist = "Uniform", low = 0, high = 1 }}
        [analyses.sobol]
        n = 8
        """))
    assert main(["run", "--check", str(study)]) == 2
    err = capsys.readouterr().err
    assert "larger than 256" in err and "Traceback" not in err
