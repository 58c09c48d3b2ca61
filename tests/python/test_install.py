"""test_install.py - `pip install --no-build-isolation ./python` into a --system-site-packages venv works offline."""
import os
import shutil
import subprocess
import sys

import pytest

import posenc
from conftest import PACKAGE_DIR


def test_pip_install_offline_into_a_venv(tmp_path):
    try:
        import ensurepip  # noqa: F401
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError as exc:
        pytest.skip("cannot build a venv with pip here (%s; Debian: python3-venv python3-setuptools "
                    "python3-wheel)" % exc)
    source = tmp_path / "src"
    shutil.copytree(PACKAGE_DIR, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True,
                   capture_output=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "POSENC_ISA")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", POSENC_LIBRARY=posenc.library().path)
    done = subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", str(source)],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    code = ("import numpy as np, posenc; assert '/venv/' in posenc.__file__, posenc.__file__; "
            "p = posenc.RopePlan(head_dim=8); print(p.apply(np.ones((1, 8), np.float32), start=1).shape)")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(1, 8)"
    done = subprocess.run([python, "-m", "posenc"], capture_output=True, text=True, env=env, cwd=str(tmp_path))
    assert done.returncode == 0 and "<- active" in done.stdout
