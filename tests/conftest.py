import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

TESTS = Path(__file__).resolve().parent


def repo_root() -> Path:
    import uqkit

    return Path(uqkit.__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict:
    """Environment for child Python processes: the uqkit under test and tests/ importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo_root()), str(TESTS),
                                         env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def start_python(args, **popen) -> subprocess.Popen:
    env = popen.pop("env", None) or subprocess_env()
    return subprocess.Popen([sys.executable, *map(str, args)], env=env,
                            start_new_session=True, **popen)


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "study.db"
