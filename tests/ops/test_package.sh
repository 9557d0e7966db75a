#!/usr/bin/env bash
# The .deb in a clean root: scripts/package builds it; a minimal Debian 12 root made with
# debootstrap (cached as a tarball in $HUB_TEST_CACHE, default /var/cache/hubnet-tests)
# installs it with apt (its dependencies come from Debian), hubd is started from it as the
# hubnet user, hubctl finds it with no flag, and a purge leaves nothing behind.
# Needs root (chroot, mount); exit 77 (skipped) otherwise or when Debian's mirror is unreachable.
# usage: test_package.sh SOURCE_DIR WORK_DIR
set -euo pipefail
src=$1 work=$2
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot and mount)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (scripts/deps installs it)"

rm -rf "$work"
mkdir -p "$work"
root=$work/root
cleanup() {
    if [ -n "${hubd_pid:-}" ]; then kill -TERM "$hubd_pid" 2>/dev/null || true; fi
    umount "$root/proc" 2>/dev/null || true
    umount "$root/dev" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT

deb=$("$src/scripts/package" "$work/pkg" | tail -n 1)
[ -f "$deb" ] || fail "scripts/package made no .deb"
echo "package: $deb"

cache=${HUB_TEST_CACHE:-/var/cache/hubnet-tests}
tarball=$cache/bookworm-minbase.tar.gz
mkdir -p "$cache" "$root"
if [ -f "$tarball" ]; then
    tar -C "$root" -xzf "$tarball"
else
    # The machine's own Debian mirror (deb822 "URIs:" or a "deb" line), not a commented one.
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
        2>/dev/null | sed -nE 's/^(URIs:[[:space:]]*|deb[[:space:]]+)(https?:[^[:space:]]*\/debian\/?)([[:space:]].*)?$/\2/p' |
        head -n 1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        skip "debootstrap could not make a root from $mirror (log: $work/debootstrap.log)"
    tar -C "$root" -czf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
in_root() { chroot "$root" "$@"; }

cp "$deb" "$root/tmp/hubnet.deb"
in_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$work/apt.log" 2>&1 ||
    skip "apt-get update failed in the clean root (log: $work/apt.log)"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    /tmp/hubnet.deb >>"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install"; }
echo "installed"

# What the package installed and made.
for f in /usr/sbin/hubd /usr/bin/hubctl /etc/hubnet/hubd.conf /lib/systemd/system/hubd.service \
    /lib/systemd/system/hubnet-metrics.service /usr/sbin/hubweb /lib/systemd/system/hubweb.service \
    /usr/share/man/man8/hubd.8 /usr/share/man/man1/hubctl.1 /usr/share/man/man5/hubd.conf.5 \
    /usr/share/bash-completion/completions/hubctl; do
    [ -e "$root$f" ] || fail "$f is not installed"
done
in_root getent passwd hubnet >/dev/null || fail "no hubnet user"
[ "$(in_root stat -c '%U %a' /var/lib/hubnet)" = "hubnet 750" ] || fail "/var/lib/hubnet: $(stat -c '%U %a' "$root/var/lib/hubnet")"
grep -q '^ExecStart=/usr/sbin/hubd --config /etc/hubnet/hubd.conf$' \
    "$root/lib/systemd/system/hubd.service" || fail "the unit does not start /usr/sbin/hubd"
in_root /usr/sbin/hubd -n -q --config /etc/hubnet/hubd.conf >"$work/check.out" 2>&1 ||
    { cat "$work/check.out"; fail "hubd -n -q rejects the installed config"; }
[ ! -s "$work/check.out" ] || { cat "$work/check.out"; fail "hubd -n -q printed something"; }

# Start hubd from the package as systemd would (user hubnet, /run/hubnet made for it), on a
# port of its own: the operator's one edit of the installed config.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s|^#listen = tcp://127.0.0.1:7400$|listen = tcp://127.0.0.1:$port|" "$root/etc/hubnet/hubd.conf"
grep -q "^listen = tcp://127.0.0.1:$port$" "$root/etc/hubnet/hubd.conf" || fail "no listen line to set"
install -d -o "$(in_root id -u hubnet)" -g "$(in_root id -g hubnet)" -m 0750 "$root/run/hubnet"
chroot --userspec=hubnet:hubnet "$root" /usr/sbin/hubd --config /etc/hubnet/hubd.conf \
    2>"$work/hubd.log" &
hubd_pid=$!
for _ in $(seq 1 200); do
    [ -S "$root/run/hubnet/hubd.sock" ] && break
    kill -0 "$hubd_pid" 2>/dev/null || { cat "$work/hubd.log"; fail "hubd exited"; }
    sleep 0.05
done
in_root /usr/bin/hubctl status >"$work/status.out" || { cat "$work/hubd.log"; fail "hubctl status"; }
grep -qE "^hub: +[0-9a-f]{64}$" "$work/status.out" || fail "status shows no hub key: $(cat "$work/status.out")"
echo '{"name":"Package test hub","country":"AT"}' | in_root /usr/bin/hubctl publish profile - >/dev/null ||
    fail "publish through the default socket"
[ -f "$root/var/lib/hubnet/identity.key" ] || fail "no identity in /var/lib/hubnet"
[ "$(in_root stat -c '%U %a' /var/lib/hubnet/identity.key)" = "hubnet 600" ] || fail "identity.key mode"
kill -TERM "$hubd_pid"
wait "$hubd_pid" || fail "hubd did not stop cleanly on SIGTERM (exit $?)"
hubd_pid=
echo "hubd ran from the package"

# Purge: nothing of hubnet is left.
in_root env DEBIAN_FRONTEND=noninteractive dpkg --purge hubnet >>"$work/apt.log" 2>&1 || fail "purge"
for f in /usr/sbin/hubd /usr/bin/hubctl /etc/hubnet /var/lib/hubnet /run/hubnet \
    /lib/systemd/system/hubd.service; do
    [ ! -e "$root$f" ] || fail "$f is left after purge"
done
! in_root getent passwd hubnet >/dev/null || fail "the hubnet user is left after purge"
! in_root getent group hubnet >/dev/null || fail "the hubnet group is left after purge"
echo "1 passed, 0 failed"
