"""_common.py - shared helpers of the figure scripts: find or build libposenc, load the posenc package, save PNGs."""

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIGURES = os.path.join(REPO, "docs", "figures")
DEFAULT_BUILD = os.path.join(REPO, "build-figures")

# One look for every figure: small fonts, thin lines, ~100 dpi PNGs (each well under 150 KB).
STYLE = {
    "figure.dpi": 100, "savefig.dpi": 100, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
    "legend.fontsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8, "lines.linewidth": 1.4,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
}
# The two encodings keep their colours in every figure.
ROPE_COLOR, ALIBI_COLOR, ROOF_COLOR, BOTH_COLOR = "#1f77b4", "#d62728", "#7f7f7f", "#9467bd"


def build_library(build_dir=None, need_bench=True):
    """The build directory holding libposenc.so (and bench/position_cost when need_bench).

    With build_dir: use it (compiling the missing targets if it is a configured meson build). Without: configure
    build-figures/ (release, benchmark programs on, tests off) the first time, then compile what is needed."""
    build = os.path.abspath(build_dir or DEFAULT_BUILD)
    if build_dir is None and not os.path.exists(os.path.join(build, "build.ninja")):
        subprocess.run(["meson", "setup", build, "-Dbuildtype=release", "-Dtests=disabled", "-Dbench=enabled"],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    lib = os.path.join(build, "libposenc.so")
    cost = os.path.join(build, "bench", "position_cost")
    wanted = [lib] + ([cost] if need_bench else [])
    if os.path.exists(os.path.join(build, "build.ninja")):
        targets = ["posenc"] + (["position_cost"] if need_bench else [])
        subprocess.run(["meson", "compile", "-C", build] + targets, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    for path in wanted:
        if not os.path.exists(path):
            sys.exit("%s is missing: build it (meson compile -C %s) or pass --build DIR" % (path, build))
    return build


def load_posenc(build):
    """Import the posenc package from the source tree (python/) against build's libposenc.so."""
    os.environ["POSENC_LIBRARY"] = os.path.join(build, "libposenc.so")
    python_dir = os.path.join(REPO, "python")
    if python_dir not in sys.path:
        sys.path.insert(0, python_dir)
    import posenc
    posenc.load(os.environ["POSENC_LIBRARY"])
    return posenc


def pyplot():
    """matplotlib.pyplot on the Agg backend with the shared style."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update(STYLE)
    return plt


def save(fig, out_dir, name):
    """Write fig as out_dir/name (PNG, 100 dpi) and return the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path
