#!/bin/sh
# debian/symbols.sh - keep debian/libposenc0.symbols equal to the functions libposenc exports (docs/versioning.md).
# Usage: sh debian/symbols.sh check  LIB.so SYMBOLS VERSION [LIB.a]
#            every symbol LIB.so exports is listed in SYMBOLS and every listed one is exported (versions aside);
#            with LIB.a, its global definitions are exactly the same names. On a mismatch it prints the lines
#            to add or remove. Exit 0 pass, 1 fail, 77 skip (no nm).
#        sh debian/symbols.sh update LIB.so SYMBOLS VERSION
#            rewrite SYMBOLS: listed symbols keep their version, new ones get VERSION, vanished ones go.
# VERSION is the upstream version that first ships a new symbol (meson.build's project version).
# NM may name another nm (e.g. aarch64-linux-gnu-nm for a cross build).
set -u
mode=${1:-}
lib=${2:-}
symbols=${3:-}
version=${4:-}
archive=${5:-}
case "$mode" in check | update) ;; *) mode= ;; esac
if [ -z "$mode" ] || [ -z "$lib" ] || [ -z "$symbols" ] || [ -z "$version" ]; then
    echo "usage: symbols.sh check|update LIB.so SYMBOLS VERSION [LIB.a]" >&2
    exit 2
fi
NM=${NM:-nm}
command -v "$NM" >/dev/null 2>&1 || { echo "SKIP: $NM not found" >&2; exit 77; }
for f in "$lib" "$symbols" ${archive:+"$archive"}; do
    [ -f "$f" ] || { echo "FAIL: $f does not exist" >&2; exit 1; }
done

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# Exported: defined dynamic symbols, version suffix stripped.
if ! "$NM" -D --defined-only "$lib" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
    echo "FAIL: $NM -D --defined-only $lib:" >&2
    cat "$tmp/nm.err" >&2
    exit 1
fi
awk 'NF >= 2 { name = $NF; sub(/@.*/, "", name); print name }' "$tmp/nm.out" | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || { echo "FAIL: $lib exports nothing" >&2; exit 1; }

# Listed: " name@Base version" lines (an optional "(tag)" prefix is allowed), after the header lines.
sed -n 's/^ \{1,\}\(([^)]*)\)\{0,1\}\([^@ ]*\)@[^ ]* \{1,\}\([^ ]*\).*/\2 \3/p' "$symbols" | sort -u >"$tmp/listed_versions"
cut -d' ' -f1 "$tmp/listed_versions" | sort -u >"$tmp/listed"

if [ "$mode" = update ]; then
    {
        grep -v '^ ' "$symbols"
        while read -r name; do
            v=$(awk -v n="$name" '$1 == n { print $2; exit }' "$tmp/listed_versions")
            echo " $name@Base ${v:-$version}"
        done <"$tmp/exported"
    } >"$tmp/new"
    if cmp -s "$tmp/new" "$symbols"; then
        echo "$symbols is up to date ($(wc -l <"$tmp/exported") symbols)"
    else
        diff -u "$symbols" "$tmp/new" | sed -n '/^[-+] /p'
        cat "$tmp/new" >"$symbols"
        echo "updated $symbols"
    fi
    exit 0
fi

status=0
added=$(comm -23 "$tmp/exported" "$tmp/listed")
removed=$(comm -13 "$tmp/exported" "$tmp/listed")
if [ -n "$added" ]; then
    echo "FAIL: $lib exports symbols that $symbols does not list. Add these lines to it (keep it sorted):" >&2
    echo "$added" | sed "s/.*/ &@Base $version/" >&2
    status=1
fi
if [ -n "$removed" ]; then
    echo "FAIL: $symbols lists symbols that $lib no longer exports:" >&2
    echo "$removed" | sed 's/^/  /' >&2
    echo "Removing an exported function breaks the ABI: it needs a new SONAME (docs/versioning.md)." >&2
    status=1
fi
if [ "$status" -ne 0 ]; then
    echo "Or regenerate the file: sh debian/symbols.sh update $lib $symbols $version" >&2
fi

if [ -n "$archive" ]; then
    # Global definitions in the static archive: the same names, nothing else (see meson.build, packaging).
    if ! "$NM" --defined-only -g "$archive" >"$tmp/ar.out" 2>"$tmp/ar.err"; then
        echo "FAIL: $NM --defined-only -g $archive:" >&2
        cat "$tmp/ar.err" >&2
        exit 1
    fi
    awk 'NF >= 3 { print $3 }' "$tmp/ar.out" | sort -u >"$tmp/archive"
    if ! cmp -s "$tmp/archive" "$tmp/exported"; then
        echo "FAIL: the global symbols of $archive differ from the exports of $lib:" >&2
        diff "$tmp/exported" "$tmp/archive" | sed -n 's/^</  only in the .so:/p; s/^>/  only in the .a:/p' >&2
        status=1
    fi
fi

if [ "$status" -eq 0 ]; then
    echo "symbols ok: $(wc -l <"$tmp/exported") exported functions, all in $symbols${archive:+, and the only globals of $archive}" >&2
fi
exit "$status"
