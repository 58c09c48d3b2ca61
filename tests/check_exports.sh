#!/bin/sh
# check_exports.sh - the .so exports exactly the functions declared in posenc.h, nothing else, with SONAME libposenc.so.0.
# Usage: check_exports.sh path/to/libposenc.so path/to/posenc.h
# NM and READELF may name cross binutils (e.g. aarch64-linux-gnu-nm); plain nm/readelf otherwise.
# Exit: 0 pass, 1 fail, 77 skip (no binutils).
set -u
lib=${1:?usage: check_exports.sh LIB HEADER}
header=${2:?usage: check_exports.sh LIB HEADER}
NM=${NM:-nm}
READELF=${READELF:-readelf}
for tool in "$NM" "$READELF"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool not found" >&2; exit 77; }
done
[ -f "$lib" ] || { echo "FAIL: $lib does not exist" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0

# Declared functions: the line after each `POSENC_API` line is `<type> posenc_name(...`.
sed -n '/^POSENC_API$/{n;s/^[^(]*[ *]\(posenc_[A-Za-z0-9_]*\)(.*/\1/p;}' "$header" | sort -u >"$tmp/declared"
declared_count=$(wc -l <"$tmp/declared")
if [ "$declared_count" -lt 10 ]; then
    echo "FAIL: parsed only $declared_count declarations from $header" >&2
    exit 1
fi

# Defined dynamic symbols as "TYPE NAME" (version suffixes stripped).
if ! "$NM" -D --defined-only "$lib" >"$tmp/nm.out" 2>"$tmp/nm.err"; then
    echo "FAIL: $NM -D --defined-only $lib:" >&2
    cat "$tmp/nm.err" >&2
    exit 1
fi
awk 'NF >= 2 { name = $NF; sub(/@.*/, "", name); print $(NF-1), name }' "$tmp/nm.out" | sort -u -k2 >"$tmp/defined"
cut -d' ' -f2 "$tmp/defined" | sort -u >"$tmp/exported"

not_posenc=$(grep -v '^posenc_' "$tmp/exported")
if [ -n "$not_posenc" ]; then
    echo "FAIL: exported symbols without the posenc_ prefix:" >&2
    echo "$not_posenc" | sed 's/^/  /' >&2
    status=1
fi
extra=$(comm -13 "$tmp/declared" "$tmp/exported" | grep '^posenc_')
if [ -n "$extra" ]; then
    echo "FAIL: exported but not declared in posenc.h:" >&2
    echo "$extra" | sed 's/^/  /' >&2
    status=1
fi
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$missing" ]; then
    echo "FAIL: declared in posenc.h but not exported:" >&2
    echo "$missing" | sed 's/^/  /' >&2
    status=1
fi
# Every export is code (T), not data: the kernel tables and the dispatcher state stay private.
not_code=$(awk '$1 != "T" { print "  " $0 }' "$tmp/defined")
if [ -n "$not_code" ]; then
    echo "FAIL: exported symbols that are not functions:" >&2
    echo "$not_code" >&2
    status=1
fi

soname=$("$READELF" -d "$lib" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libposenc.so.0" ]; then
    echo "FAIL: SONAME is '$soname', want libposenc.so.0" >&2
    status=1
fi

if [ "$status" -eq 0 ]; then
    echo "exports ok: $declared_count functions, SONAME $soname" >&2
fi
exit "$status"
