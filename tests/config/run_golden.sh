#!/usr/bin/env bash
# Config tests for ctest (tests/CMakeLists.txt), driving hubd -n only through its command line.
#
#   run_golden.sh golden HUBD DIR WORKDIR
#       hubd -n --config DIR/golden.conf must print DIR/golden.expected exactly, and
#       hubd -n --config on that printout must print it again unchanged.
#   run_golden.sh bad HUBD DIR FILE MESSAGE
#       hubd -n --config FILE (run inside DIR) must exit 1 with MESSAGE on stderr.
#   run_golden.sh example HUBD CONF WORKDIR
#       the example config CONF must give the built-in defaults, both as shipped (every key
#       commented out) and with every documented "#key = value" default uncommented, so
#       the defaults it documents cannot drift from the code. Peers, allow and anchor are examples,
#       not defaults, and stay commented.
set -euo pipefail

mode=${1:?mode}
hubd=${2:?hubd}
dir=${3:?dir}

case "$mode" in
golden)
    work=${4:?workdir}
    rm -rf "$work"
    mkdir -p "$work"
    # Run inside the source dir so that the relative paths of golden.conf stay as written.
    (cd "$dir" && "$hubd" -n --config golden.conf) >"$work/first.conf"
    if ! diff -u "$dir/golden.expected" "$work/first.conf"; then
        echo "FAIL: hubd -n output differs from golden.expected (diff above: - expected, + got)"
        exit 1
    fi
    "$hubd" -n --config "$work/first.conf" >"$work/second.conf"
    if ! diff -u "$work/first.conf" "$work/second.conf"; then
        echo "FAIL: the printed config does not read back to the same config"
        exit 1
    fi
    echo "PASS: golden.conf -> golden.expected -> same again"
    ;;
bad)
    file=${4:?file}
    message=${5:?message}
    rc=0
    err=$(cd "$dir" && "$hubd" -n --config "$file" 2>&1 >/dev/null) || rc=$?
    if [ "$rc" -ne 1 ]; then
        echo "FAIL: hubd -n --config $file exited $rc, expected 1; stderr: $err"
        exit 1
    fi
    if ! grep -qF -- "$message" <<<"$err"; then
        echo "FAIL: expected on stderr: $message"
        echo "      got: $err"
        exit 1
    fi
    echo "PASS: $file: $message"
    ;;
example)
    conf=$dir
    work=${4:?workdir}
    rm -rf "$work"
    mkdir -p "$work"
    "$hubd" -n >"$work/defaults.conf"
    "$hubd" -n --config "$conf" >"$work/shipped.conf"
    if ! diff -u "$work/defaults.conf" "$work/shipped.conf"; then
        echo "FAIL: $conf as shipped does not give the built-in defaults"
        exit 1
    fi
    sed -E '/^#(peer|allow|anchor) /!s/^#([a-z_]+ =)/\1/' "$conf" >"$work/uncommented.conf"
    n=$(grep -cE '^[a-z_]+ =' "$work/uncommented.conf" || true)
    if [ "$n" -lt 10 ]; then
        echo "FAIL: only $n documented keys found in $conf"
        exit 1
    fi
    "$hubd" -n --config "$work/uncommented.conf" >"$work/documented.conf"
    if ! diff -u "$work/defaults.conf" "$work/documented.conf"; then
        echo "FAIL: a default documented in $conf differs from the built-in one (diff above)"
        exit 1
    fi
    echo "PASS: $conf documents the built-in defaults ($n keys)"
    ;;
*)
    echo "usage: run_golden.sh golden|bad|example ..." >&2
    exit 2
    ;;
esac
