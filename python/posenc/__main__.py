"""python -m posenc: the library's version and path, the kernel variants, and which one runs."""

import os
import sys

import posenc


def main():
    try:
        lib = posenc.library()
    except posenc.LibraryError as exc:
        print("posenc %s: %s" % (posenc.__version__, exc), file=sys.stderr)
        return 1
    print("libposenc %s (posenc package %s)" % (lib.version, posenc.__version__))
    print("library: %s" % lib.path)
    if lib.tensor_api:
        names = ", ".join(d.name for d in posenc.DTYPES)
        print("element types: RoPE %s; softmax float32 (tensor-view calls)" % names)
    else:
        print("element types: float32 (a 0.1 library: no tensor-view calls)")
    active = posenc.isa()
    print("variants (best first):")
    for name, supported in posenc.isas():
        note = "runs here" if supported else "not supported by this CPU"
        print("  %-8s %s%s" % (name, note, "  <- active" if name == active else ""))
    env = os.environ.get("POSENC_ISA")
    try:
        forced = posenc.isa_forced()
    except NotImplementedError:
        forced = None
    if forced == "forced":
        print("POSENC_ISA=%s selected %s" % (env, active))
    elif forced == "refused":
        print("POSENC_ISA=%s was refused (unknown or unsupported here): running the best variant, %s"
              % (env, active))
    elif forced == "unset":
        print("POSENC_ISA unset: the dispatcher picked %s" % active)
    else:
        print("active: %s (this library cannot say whether POSENC_ISA=%s was honoured)" % (active, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
