"""test_readme.py - the ```python blocks of python/README.md run, in order, in one namespace, as written."""
import os
import re

from conftest import REPO

README = os.path.join(REPO, "python", "README.md")


def python_blocks():
    with open(README) as f:
        text = f.read()
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"^```python\n(.*?)^```$", text,
                                                                                 re.S | re.M)]


def test_readme_examples_run():
    blocks = python_blocks()
    assert len(blocks) >= 4
    namespace = {"__name__": "readme"}
    for line, code in blocks:
        exec(compile(code, "%s:%d" % (README, line), "exec"), namespace)
