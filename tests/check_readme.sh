#!/bin/sh
# check_readme.sh - every ```c block of README.md compiles against the build; a block with main() also runs.
# Usage: check_readme.sh README.md INCLUDEDIR LIBDIR
#   INCLUDEDIR holds posenc.h, LIBDIR the built libposenc.so (linked with an rpath to it).
# CC picks the compiler (default cc); CFLAGS_EXTRA adds flags (the sanitizer flags of the build under test).
# Exit: 0 pass, 1 fail, 77 skip (no compiler, or README.md has no C block).
set -u
readme=${1:?usage: check_readme.sh README.md INCLUDEDIR LIBDIR}
incdir=${2:?usage: check_readme.sh README.md INCLUDEDIR LIBDIR}
libdir=${3:?usage: check_readme.sh README.md INCLUDEDIR LIBDIR}
CC=${CC:-cc}
CFLAGS_EXTRA=${CFLAGS_EXTRA:-}
# shellcheck disable=SC2086 # CC is a word list
set -- $CC
command -v "$1" >/dev/null 2>&1 || { echo "SKIP: compiler $1 not found" >&2; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Split the blocks into snippet-1.c, snippet-2.c, ... and note each one's first line in README.md.
awk -v dir="$tmp" '
    /^```c[[:space:]]*$/ { n++; file = sprintf("%s/snippet-%d.c", dir, n); printf "" > file
                           printf "%d %d\n", n, NR + 1 > (dir "/lines"); inblock = 1; next }
    inblock && /^```[[:space:]]*$/ { inblock = 0; close(file); next }
    inblock { print > file }
    END { if (inblock) { print "unterminated ```c block" > "/dev/stderr"; exit 1 } }' "$readme" ||
    { echo "FAIL: cannot split $readme" >&2; exit 1; }
[ -s "$tmp/lines" ] || { echo "SKIP: $readme has no \`\`\`c block" >&2; exit 77; }

status=0
while read -r n line; do
    snippet="$tmp/snippet-$n.c"
    where="README.md line $line"
    if grep -q 'int main(' "$snippet"; then
        # shellcheck disable=SC2086 # CC and CFLAGS_EXTRA are word lists
        if ! $CC -std=c11 -Wall -Wextra -Werror $CFLAGS_EXTRA -I"$incdir" "$snippet" -o "$tmp/program-$n" \
                -L"$libdir" -lposenc -Wl,-rpath,"$libdir" -lm >"$tmp/cc.log" 2>&1; then
            sed "s|$snippet|$where|" "$tmp/cc.log" >&2
            echo "FAIL: the program at $where does not compile and link" >&2
            status=1
            continue
        fi
        if ! "$tmp/program-$n" >"$tmp/run.log" 2>&1; then
            cat "$tmp/run.log" >&2
            echo "FAIL: the program at $where exits with an error" >&2
            status=1
            continue
        fi
        echo "ok: the program at $where compiles and runs: $(head -n 1 "$tmp/run.log")" >&2
    else
        # No main(): link it as a shared object, so every call it makes must exist in the library (the check of
        # undefined symbols is left out under sanitizers, whose runtime a shared object does not link).
        no_undefined=-Wl,--no-undefined
        [ -z "$CFLAGS_EXTRA" ] || no_undefined=
        # shellcheck disable=SC2086
        if ! $CC -std=c11 -Wall -Wextra -Werror $CFLAGS_EXTRA -I"$incdir" -fPIC -shared "$snippet" \
                -o "$tmp/snippet-$n.so" -L"$libdir" -lposenc $no_undefined -lm >"$tmp/cc.log" 2>&1; then
            sed "s|$snippet|$where|" "$tmp/cc.log" >&2
            echo "FAIL: the snippet at $where does not compile and link" >&2
            status=1
            continue
        fi
        echo "ok: the snippet at $where compiles and links" >&2
    fi
done <"$tmp/lines"
exit $status
