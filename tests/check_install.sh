#!/bin/sh
# check_install.sh - `meson install` into a temporary DESTDIR, then build and run a client against only what was installed.
# Usage: check_install.sh BUILDDIR [SOURCEDIR]
# CC picks the compiler (default cc). Exit: 0 pass, 1 fail, 77 skip (no pkg-config or compiler).
set -u
builddir=${1:?usage: check_install.sh BUILDDIR [SOURCEDIR]}
srcdir=${2:-}
CC=${CC:-cc}
command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: pkg-config not found" >&2; exit 77; }
command -v meson >/dev/null 2>&1 || { echo "SKIP: meson not found" >&2; exit 77; }
# CC may carry arguments ("ccache cc"): test its first word.
set -- $CC
command -v "$1" >/dev/null 2>&1 || { echo "SKIP: compiler $1 not found" >&2; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
dest="$tmp/dest"
fail() { echo "FAIL: $*" >&2; exit 1; }

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
if [ -n "$srcdir" ]; then
    cmp -s "$header" "$srcdir/include/posenc.h" || fail "installed posenc.h differs from include/posenc.h"
fi
libdir=$(dirname "$so_real")
# SONAME link (what the loader looks for) and the development link (what -lposenc finds).
[ -L "$libdir/libposenc.so.0" ] || fail "SONAME symlink libposenc.so.0 missing in $libdir"
[ -L "$libdir/libposenc.so" ] || fail "development symlink libposenc.so missing in $libdir"
[ "$(readlink -f "$libdir/libposenc.so.0")" = "$(readlink -f "$so_real")" ] || fail "libposenc.so.0 points elsewhere"
[ "$(readlink -f "$libdir/libposenc.so")" = "$(readlink -f "$so_real")" ] || fail "libposenc.so points elsewhere"
for f in $(find "$dest" -type f -o -type l); do
    case "$f" in
        *posenc.h | *libposenc.so* | *posenc.pc) ;;
        *) echo "note: also installed: ${f#"$dest"}" >&2 ;;
    esac
done

# pkg-config sees only the destdir: its .pc paths are prefixed with the sysroot.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
version=$(pkg-config --modversion posenc) || fail "pkg-config --modversion posenc"
cflags=$(pkg-config --cflags posenc) || fail "pkg-config --cflags posenc"
libs=$(pkg-config --libs posenc) || fail "pkg-config --libs posenc"
echo "pkg-config: posenc $version, cflags '$cflags', libs '$libs'" >&2
case "$libs" in *"-L$dest"*) ;; *) fail "pkg-config --libs does not point into the destdir: $libs" ;; esac
case "$cflags" in *"-I$dest"*) ;; *) fail "pkg-config --cflags does not point into the destdir: $cflags" ;; esac

cat >"$tmp/client.c" <<'CLIENT'
/* client.c - the smallest real user of the installed libposenc: RoPE one head, softmax one row. */
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
if ! $CC -std=c99 -Wall -Wextra -Werror $cflags "$tmp/client.c" -o "$tmp/client" $libs -lm >"$tmp/cc.log" 2>&1; then
    cat "$tmp/cc.log" >&2
    fail "client does not compile and link against the installed header and library"
fi
# Resolve the library from the destdir only; prove it with the loader's own trace.
LD_LIBRARY_PATH=$libdir
export LD_LIBRARY_PATH
# An ASan-built library needs the runtime that it links; the client itself is not instrumented.
ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0:detect_leaks=0
export ASAN_OPTIONS
loaded=$(LD_TRACE_LOADED_OBJECTS=1 "$tmp/client" 2>/dev/null | sed -n 's/.*libposenc\.so\.0 => \([^ ]*\).*/\1/p')
[ "$(readlink -f "$loaded")" = "$(readlink -f "$so_real")" ] || fail "client loads libposenc from '$loaded', not $libdir"
"$tmp/client" "$version" >&2 || fail "client run against the installed library"
echo "install ok: ${header#"$dest"}, ${so_real#"$dest"}, ${pc#"$dest"}" >&2
exit 0
