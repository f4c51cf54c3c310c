"""Study files are trusted like scripts, but ``--check`` runs no user code, names the
right keys and keeps paths inside the study folder (RELIABILITY security 9; issue 14
items 5-8)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import subprocess_env

import uqkit
from uqkit.cli import main
from uqkit.cli._study import parse_study

PARAMS = """
[parameters]
a = { dist = "Uniform", low = 0, high = 1 }
b = { dist = "Uniform", low = 1, high = 2 }
[analyses.sobol]
n = 8
"""

MODULE = '''
import math
from pathlib import Path


def factory(marker):
    Path(marker).write_text("factory ran")
    import uqkit
    return uqkit.as_model(lambda a, b: a + b, outputs=["y"])


def beam(a, b):
    return a * b


def fragile(a, b):
    if a > 0.5:
        raise ValueError("a too large")
    return math.nan if b > 1.75 else a + b
'''


def _study(tmp_path, model: str, extra: str = PARAMS, name: str = "study.toml"):
    (tmp_path / "mymodels.py").write_text(MODULE)
    path = tmp_path / name
    path.write_text(f'[study]\nname = "s"\nseed = 1\n[model]\n{model}\n{extra}')
    return path


def test_entry_point_cannot_reach_os_system_through_a_module(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = _study(tmp_path, 'entry_point = "uqkit.models._process:os.system"\n'
                            f'kwargs = {{ command = "touch {marker}" }}')
    for args in (["run", "--check", str(path)], ["run", "-q", str(path)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "model.entry_point" in err and "os" in err and "Traceback" not in err
    assert not marker.exists()


def test_entry_point_must_be_defined_in_the_named_module(tmp_path, capsys):
    path = _study(tmp_path, 'entry_point = "uqkit.models._process:run_process"')
    path.write_text(path.read_text().replace(":run_process", ":Path"))
    assert main(["run", "--check", str(path)]) == 2
    assert "defined in 'pathlib'" in capsys.readouterr().err


def test_check_calls_no_factory(tmp_path, capsys):
    marker = tmp_path / "factory.txt"
    path = _study(tmp_path, f'entry_point = "mymodels:factory"\nkwargs = {{ marker = '
                            f'"{marker}" }}')
    assert main(["run", "--check", str(path)]) == 0
    out = capsys.readouterr().out
    assert not marker.exists()
    assert "not run" in out and "--probe" in out
    assert main(["run", "--check", "--probe", "2", str(path)]) == 0
    assert marker.exists()  # --probe builds and runs the model


def test_plain_function_takes_inputs_from_its_signature(tmp_path, capsys):
    path = _study(tmp_path, 'entry_point = "mymodels:beam"\noutputs = ["y"]')
    assert main(["run", "--check", str(path)]) == 0
    assert "model inputs a, b" in capsys.readouterr().out
    path = _study(tmp_path, 'entry_point = "mymodels:beam"', name="bare.toml")
    assert main(["run", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "outputs = [" in err and "TypeError" not in err and "'a', 'b'" in err


def test_probe_reports_failures_and_nonfinite_outputs(tmp_path, capsys):
    path = _study(tmp_path, 'entry_point = "mymodels:fragile"\noutputs = ["y"]')
    assert main(["run", "--check", "--probe", "8", str(path)]) == 1
    out = capsys.readouterr().out
    assert "a too large" in out and "non-finite y" in out
    assert "of 8 design points gave finite outputs" in out
    assert not list(tmp_path.glob("*.db"))  # the probe uses no store


def test_failure_messages_use_the_study_files_terms(tmp_path, capsys):
    path = _study(tmp_path, 'entry_point = "mymodels:fragile"\noutputs = ["y"]')
    assert main(["run", "-q", str(path)]) == 1
    err = capsys.readouterr().err
    assert 'on_failure = "skip"' in err and "[runner]" in err
    assert "allow_nonfinite=True" not in err and "on_failure='skip'" not in err


def test_wrong_case_distribution_names_are_refused_with_the_list(tmp_path):
    with pytest.raises(uqkit.InvalidParameterError) as info:
        parse_study(textwrap.dedent("""\
            [model]
            entry_point = "uqkit.examples:ishigami"
            [parameters]
            x1 = { dist = "Lognormal", mu = 0, sigma = 1 }
            """))
    message = str(info.value)
    assert "parameters.x1.dist" in message and "'LogNormal'" in message
    assert "Uniform" in message  # the documented names are listed


@pytest.mark.parametrize("key", [".", "a\\u0000b", "../x", "/etc/passwd", "sub/../x"])
def test_bad_file_names_are_refused_naming_the_key(tmp_path, key):
    text = textwrap.dedent(f"""\
        [model]
        command = ["{sys.executable}", "-c", "print(1)"]
        inputs = ["a", "b"]
        outputs = ["y"]
        parse = {{ format = "numbers" }}
        [model.files]
        "{key}" = "{{{{ a }}}} {{{{ b }}}}"
        """)
    with pytest.raises(uqkit.InvalidParameterError) as info:
        parse_study(text + PARAMS, tmp_path / "study.toml")
    assert "model.files." in str(info.value)


@pytest.mark.parametrize("name", [".", "a\x00b"])
def test_command_model_refuses_dot_and_nul_file_names(name):
    with pytest.raises(uqkit.InvalidParameterError, match="'files'"):
        uqkit.CommandModel([sys.executable, "-c", "print(1)"], inputs=["a"], outputs=["y"],
                           files={name: "{{ a }}"}, parse=uqkit.parsers.numbers("stdout.txt"))


def test_report_path_cannot_leave_the_study_folder(tmp_path):
    base = ('[model]\nentry_point = "uqkit.examples:ishigami"\n[analyses.sobol]\nn = 8\n'
            '[report]\npath = "{}"\n')
    with pytest.raises(uqkit.InvalidParameterError, match="report.path"):
        parse_study(base.format("../../evil.html"), tmp_path / "study.toml")
    parse_study(base.format("out/report.html"), tmp_path / "study.toml")
    parse_study(base.format(str(tmp_path.parent / "abs.html")), tmp_path / "study.toml")


def test_copy_files_refuses_a_folder_with_a_link_out_of_the_project(tmp_path, monkeypatch):
    (tmp_path / "mesh").mkdir()
    os.symlink("/etc", tmp_path / "mesh" / "etc")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(uqkit.InvalidParameterError, match="symbolic links"):
        uqkit.CommandModel([sys.executable, "-c", "print(1)"], inputs=["a"], outputs=["y"],
                           files={"in.txt": "{{ a }}"}, copy_files=["mesh"],
                           parse=uqkit.parsers.numbers("stdout.txt"))


def test_python_dash_m_uqkit_works():
    done = subprocess.run([sys.executable, "-m", "uqkit", "--help"], capture_output=True,
                          env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert b"run" in done.stdout
