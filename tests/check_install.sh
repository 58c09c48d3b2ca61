#!/bin/sh
# check_install.sh - `meson install` checks, then the README's "Install and link" steps run as a new user would.
# Usage: check_install.sh BUILDDIR SOURCEDIR
#   1. BUILDDIR (the build under test) installs into a temporary DESTDIR exactly the header, the library with its
#      SONAME and development links, and posenc.pc.
#   2. README.md's custom-prefix block, run as written in a copy of SOURCEDIR with HOME in a temporary directory
#      (so $HOME/.local is a fresh prefix): configure, build, install, pkg-config through PKG_CONFIG_PATH, compile
#      the README's example with the rpath the README gives, and run it with no LD_LIBRARY_PATH. Then a client
#      checking results and version is built and run the same way, and the loader must resolve libposenc.so.0
#      inside the prefix. The one change to the block: -Dbench=disabled, so the benchmark is not compiled too.
# CC picks the compiler for the client (default cc). Exit: 0 pass, 1 fail, 77 skip (no pkg-config or compiler).
set -u
builddir=${1:?usage: check_install.sh BUILDDIR SOURCEDIR}
srcdir=${2:?usage: check_install.sh BUILDDIR SOURCEDIR}
CC=${CC:-cc}
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not found" >&2; exit 77; }
command -v meson >/dev/null 2>&1 || { echo "SKIP: meson not found" >&2; exit 77; }
# CC may carry arguments ("ccache cc"): test its first word.
# shellcheck disable=SC2086 # CC is a word list
set -- $CC
command -v "$1" >/dev/null 2>&1 || { echo "SKIP: compiler $1 not found" >&2; exit 77; }
command -v cc >/dev/null 2>&1 || { echo "SKIP: the README's compiler, cc, not found" >&2; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- 1. what `meson install` puts where ------------------------------------------------------------------------
dest="$tmp/dest"
if ! meson install -C "$builddir" --destdir "$dest" --no-rebuild --quiet >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "meson install -C $builddir --destdir $dest"
fi
header=$(find "$dest" -path '*/include/posenc.h' | head -n 1)
pc=$(find "$dest" -name posenc.pc | head -n 1)
so_real=$(find "$dest" -name 'libposenc.so.*.*.*' | head -n 1)
[ -n "$header" ] || fail "posenc.h not installed"
[ -n "$pc" ] || fail "posenc.pc not installed"
[ -n "$so_real" ] || fail "libposenc.so.MAJOR.MINOR.PATCH not installed"
cmp -s "$header" "$srcdir/include/posenc.h" || fail "installed posenc.h differs from include/posenc.h"
libdir=$(dirname "$so_real")
# SONAME link (what the loader looks for) and the development link (what -lposenc finds).
[ -L "$libdir/libposenc.so.0" ] || fail "SONAME symlink libposenc.so.0 missing in $libdir"
[ -L "$libdir/libposenc.so" ] || fail "development symlink libposenc.so missing in $libdir"
[ "$(readlink -f "$libdir/libposenc.so.0")" = "$(readlink -f "$so_real")" ] || fail "libposenc.so.0 points elsewhere"
[ "$(readlink -f "$libdir/libposenc.so")" = "$(readlink -f "$so_real")" ] || fail "libposenc.so points elsewhere"
find "$dest" -type f -o -type l | while read -r f; do
    case "$f" in
        *posenc.h | *libposenc.so* | *posenc.pc) ;;
        *) echo "note: also installed: ${f#"$dest"}" >&2 ;;
    esac
done
echo "install layout ok: ${header#"$dest"}, ${so_real#"$dest"}, ${pc#"$dest"}" >&2

# ---- 2. the README's steps, as written ---------------------------------------------------------------------------
# They build an ordinary (unsanitized) library and program, as a user does; a sanitizer build checks the install
# layout above, and the plain build runs these steps.
if [ -n "${POSENC_SANITIZED:-}" ]; then
    echo "README steps not run in this ${POSENC_SANITIZED} build: they build a plain library and program (the plain build runs them)" >&2
    exit 0
fi
readme="$srcdir/README.md"
[ -f "$readme" ] || fail "README.md not found in $srcdir"
# The ```sh block of the install section that uses a prefix of one's own, and the first C block with a main().
awk '/^```sh$/ { inblock = 1; block = ""; next }
     inblock && /^```$/ { inblock = 0; if (block ~ /--prefix=/) { printf "%s", block; exit } next }
     inblock { block = block $0 "\n" }' "$readme" >"$tmp/steps.sh"
awk '/^```c$/ { inblock = 1; block = ""; next }
     inblock && /^```$/ { inblock = 0; if (block ~ /int main\(/) { printf "%s", block; exit } next }
     inblock { block = block $0 "\n" }' "$readme" >"$tmp/example.c"
[ -s "$tmp/steps.sh" ] || fail "README.md has no sh block with --prefix= (the install section)"
[ -s "$tmp/example.c" ] || fail "README.md has no C example with main()"
grep -q -- '-Dtests=false' "$tmp/steps.sh" || fail "README's install block no longer passes -Dtests=false"
sed 's/-Dtests=false/-Dtests=false -Dbench=disabled/' "$tmp/steps.sh" >"$tmp/steps-run.sh"
echo "README steps:" >&2
sed 's/^/  | /' "$tmp/steps.sh" >&2

# A copy of the source tree without build directories, and a fresh HOME: $HOME/.local is the prefix.
mkdir "$tmp/src" "$tmp/home" || exit 1
(cd "$srcdir" && find . -path './build*' -prune -o -path './.git' -prune -o -type f -print | tar -cf - -T -) |
    tar -xf - -C "$tmp/src" || fail "copying $srcdir"
cp "$tmp/example.c" "$tmp/src/example.c"
prefix="$tmp/home/.local"
if ! (cd "$tmp/src" && env -u LD_LIBRARY_PATH -u PKG_CONFIG_PATH -u PKG_CONFIG_LIBDIR -u PKG_CONFIG_SYSROOT_DIR \
          -u LD_PRELOAD HOME="$tmp/home" sh -e "$tmp/steps-run.sh") >"$tmp/steps.log" 2>&1; then
    cat "$tmp/steps.log" >&2
    fail "the README's install steps"
fi
tail -n 1 "$tmp/steps.log" | sed 's/^/README example: /' >&2
[ -x "$tmp/src/example" ] || fail "the README's steps did not build ./example"

# The same environment a user has after those steps: pkg-config through PKG_CONFIG_PATH, no LD_LIBRARY_PATH.
unset LD_LIBRARY_PATH LD_PRELOAD PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
PKG_CONFIG_PATH="$prefix/lib/$(cc -print-multiarch)/pkgconfig"
export PKG_CONFIG_PATH
[ -f "$PKG_CONFIG_PATH/posenc.pc" ] || fail "posenc.pc is not where the README says: $PKG_CONFIG_PATH"
version=$(pkg-config --modversion posenc) || fail "pkg-config --modversion posenc"
cflags=$(pkg-config --cflags posenc) || fail "pkg-config --cflags posenc"
libs=$(pkg-config --libs posenc) || fail "pkg-config --libs posenc"
pc_libdir=$(pkg-config --variable=libdir posenc) || fail "pkg-config --variable=libdir posenc"
echo "pkg-config: posenc $version, cflags '$cflags', libs '$libs', libdir $pc_libdir" >&2
case "$pc_libdir" in "$prefix"/*) ;; *) fail "pkg-config's libdir is outside the prefix: $pc_libdir" ;; esac
# The loader resolves the library inside the prefix through the rpath alone.
loaded=$(LD_TRACE_LOADED_OBJECTS=1 "$tmp/src/example" 2>/dev/null | sed -n 's/.*libposenc\.so\.0 => \([^ ]*\).*/\1/p')
[ "$(readlink -f "$loaded")" = "$(readlink -f "$pc_libdir/libposenc.so.0")" ] ||
    fail "the README's example loads libposenc from '$loaded', not $pc_libdir"

cat >"$tmp/client.c" <<'CLIENT'
/* client.c - a real user of the installed libposenc: version, RoPE on one head, softmax on one row. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <posenc.h>

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], posenc_version()) != 0) {
        fprintf(stderr, "version %s, pkg-config says %s\n", posenc_version(), argc > 1 ? argv[1] : "?");
        return 1;
    }
    posenc_rope_config cfg;
    posenc_rope_plan *plan = NULL;
    if (posenc_rope_config_init(&cfg, sizeof cfg) != POSENC_OK)
        return 1;
    cfg.head_dim = 4;
    if (posenc_rope_plan_create(&cfg, &plan) != POSENC_OK)
        return 1;
    float x[4] = { 1.0f, 0.0f, 0.0f, 0.0f };   /* half pairing: pair 0 is (x0, x2), rotated by p * 1 rad */
    posenc_status st = posenc_rope_apply(plan, x, 1, 1, 4, 4, NULL, 1, 0);
    posenc_rope_plan_destroy(plan);
    if (st != POSENC_OK || fabs(x[0] - cos(1.0)) > 1e-6 || fabs(x[2] - sin(1.0)) > 1e-6 || x[1] != 0.0f) {
        fprintf(stderr, "rope: %s, x = %g %g %g %g\n", posenc_strerror(st), x[0], x[1], x[2], x[3]);
        return 1;
    }
    posenc_softmax_desc desc;
    float s[3] = { 0.0f, 0.0f, 0.0f }, y[3];
    if (posenc_softmax_desc_init(&desc, sizeof desc) != POSENC_OK)
        return 1;
    st = posenc_softmax(&desc, s, 3, 3, y, 3, 3, 1, 1, 3);
    if (st != POSENC_OK || fabs(y[0] - 1.0 / 3.0) > 1e-7 || fabs(y[2] - 1.0 / 3.0) > 1e-7) {
        fprintf(stderr, "softmax: %s\n", posenc_strerror(st));
        return 1;
    }
    printf("installed libposenc %s ok (%s)\n", posenc_version(), posenc_isa());
    return 0;
}
CLIENT
# shellcheck disable=SC2086 # word splitting of the flags is intended
if ! $CC -std=c99 -Wall -Wextra -Werror $cflags "$tmp/client.c" -o "$tmp/client" $libs -lm \
        -Wl,-rpath,"$pc_libdir" >"$tmp/cc.log" 2>&1; then
    cat "$tmp/cc.log" >&2
    fail "client does not compile and link against the installed header and library"
fi
"$tmp/client" "$version" >&2 || fail "client run against the installed library"
echo "install ok: the README's steps work; prefix ${prefix#"$tmp"/}, libdir ${pc_libdir#"$tmp"/}" >&2
exit 0
