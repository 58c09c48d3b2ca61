"""test_loading.py - where the library comes from, the errors when it cannot be found, python -m posenc, ISA queries."""
import ctypes.util
import os
import shutil
import subprocess
import sys

import pytest

import posenc
from conftest import PACKAGE_DIR, REPO


def run_python(code, env_changes, cwd=None, pythonpath=PACKAGE_DIR):
    # meson points LD_LIBRARY_PATH at the build directory; these children see the loader a user would
    env = {k: v for k, v in os.environ.items()
           if k not in ("POSENC_LIBRARY", "POSENC_ISA", "PYTHONPATH", "LD_LIBRARY_PATH")}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    env["PYTHONPATH"] = pythonpath
    return subprocess.run([sys.executable, "-c", code] if code else [sys.executable, "-m", "posenc"],
                          capture_output=True, text=True, env=env, cwd=cwd or REPO)


def system_has_libposenc():
    """Asked in a fresh process: this one has libposenc loaded already, and dlopen matches loaded SONAMEs."""
    code = ("import ctypes, ctypes.util\ntry:\n    ctypes.CDLL('libposenc.so.0'); print(1)\n"
            "except OSError:\n    print(int(ctypes.util.find_library('posenc') is not None))")
    return run_python(code, {}, cwd="/").stdout.strip() == "1"


def test_environment_variable_wins():
    path = posenc.library().path
    done = run_python("import posenc; print(posenc.library().path)", {"POSENC_LIBRARY": path})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == path


def test_bad_environment_variable_is_an_error_not_a_fallback(tmp_path):
    bogus = str(tmp_path / "nothing.so")
    done = run_python("import posenc\ntry:\n    posenc.library()\nexcept posenc.LibraryError as e:\n"
                      "    print('ERR', e)", {"POSENC_LIBRARY": bogus})
    assert "ERR" in done.stdout and "POSENC_LIBRARY=" + bogus in done.stdout


def test_source_tree_build_directory_is_found():
    if system_has_libposenc():
        pytest.skip("a system libposenc is installed: the loader finds it before the build tree")
    under_test = os.environ.get("POSENC_LIBRARY", "")
    if under_test and not os.path.relpath(under_test, REPO).startswith("build"):
        pytest.skip("the library under test is not in a build*/ directory of this checkout (e.g. the Debian "
                    "package build's obj-<triplet>/): the package searches build*/ only")
    done = run_python("import posenc; print(posenc.library().path)", {})
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.startswith(os.path.join(REPO, "build")) and "libposenc.so" in path


def test_not_found_lists_everything_tried(tmp_path):
    if system_has_libposenc():
        pytest.skip("a system libposenc is installed")
    shutil.copytree(os.path.join(PACKAGE_DIR, "posenc"), tmp_path / "posenc")
    done = run_python("import posenc\ntry:\n    posenc.library()\nexcept posenc.LibraryError as e:\n"
                      "    print(e)", {}, cwd=str(tmp_path), pythonpath=str(tmp_path))
    message = done.stdout
    assert "libposenc not found" in message
    assert "libposenc.so.0" in message and "build tree" in message and "POSENC_LIBRARY" in message
    done = run_python(None, {}, cwd=str(tmp_path), pythonpath=str(tmp_path))       # python -m posenc
    assert done.returncode == 1 and "libposenc not found" in done.stderr


def test_load_explicit_paths(tmp_path):
    current = posenc.library()
    try:
        lib = posenc.load(current.path)
        assert posenc.library() is lib and lib.version == current.version
        not_a_library = tmp_path / "libposenc.so"
        not_a_library.write_text("not an ELF file")
        with pytest.raises(posenc.LibraryError, match="could not load libposenc from the path given"):
            posenc.load(str(not_a_library))
        libm = ctypes.util.find_library("m")
        if libm:
            with pytest.raises(posenc.LibraryError, match="missing posenc_"):
                posenc.load(libm)
        fake_asan = tmp_path / "libasan-built.so"
        fake_asan.write_bytes(b"\x7fELF ... NEEDED libasan.so.8 ...")
        with open("/proc/self/maps") as maps:
            asan_loaded = "libasan.so" in maps.read()
        if not asan_loaded:
            with pytest.raises(posenc.LibraryError, match="AddressSanitizer"):
                posenc.load(str(fake_asan))
    finally:
        posenc.load(current.path)
    # plans keep the library they were created with
    assert posenc.RopePlan(head_dim=8).library.path == current.path


def test_python_m_posenc_prints_version_variants_and_active():
    done = run_python(None, {"POSENC_LIBRARY": posenc.library().path})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "libposenc %s" % posenc.version() in out
    for name, _ in posenc.isas():
        assert name in out
    assert out.count("<- active") == 1 and "POSENC_ISA unset" in out


@pytest.mark.parametrize("value", ["AVX2", "Scalar", "scalar", "bogus", ""])
def test_posenc_isa_environment(value):
    code = "import posenc; print(posenc.isa(), posenc.isa_forced())"
    done = run_python(code, {"POSENC_LIBRARY": posenc.library().path, "POSENC_ISA": value})
    assert done.returncode == 0, done.stderr
    active, forced = done.stdout.split()
    supported = dict(posenc.isas())
    best = next(name for name, ok in posenc.isas() if ok)
    if value == "":
        assert (active, forced) == (best, "unset")
    elif supported.get(value.lower()):
        assert (active, forced) == (value.lower(), "forced")
    else:
        assert (active, forced) == (best, "refused")
    if value.lower() == "scalar":
        assert (active, forced) == ("scalar", "forced")
    done = run_python(None, {"POSENC_LIBRARY": posenc.library().path, "POSENC_ISA": value})
    assert done.returncode == 0
    assert {"forced": "selected", "refused": "was refused", "unset": "POSENC_ISA unset"}[forced] in done.stdout


def test_isa_queries():
    variants = posenc.isas()
    assert variants[-1] == ("scalar", True)
    assert posenc.isa() in [name for name, ok in variants if ok]
    for name, ok in variants:
        if ok:
            posenc.set_isa(name.upper())
            assert posenc.isa() == name
    with pytest.raises(TypeError):
        posenc.set_isa(None)
    assert posenc.isa_forced() in ("forced", "unset", "refused")
    lib = posenc.library()
    assert posenc.version() == lib.version == "%d.%d.%d" % (lib.version_number // 10000,
                                                             lib.version_number // 100 % 100,
                                                             lib.version_number % 100)
    assert posenc.__version__
