#!/bin/sh
# Check the packages packaging/build.sh made: contents and modes as
# docs/admin.md lists them, the maintainer scripts' shell syntax, the units
# (systemd-analyze verify and security, against the unpacked .deb), then a
# real install on this machine (user, config owner and mode, unit enabled
# but not started) and a purge that leaves nothing of specdrop's behind.
#
# Run as root on a throwaway machine (CI): it installs and purges the
# package. Usage: packaging/check.sh [--no-install]
set -eu
cd "$(dirname "$0")/.."

fail() { echo "packaging/check.sh: FAIL: $*" >&2; exit 1; }
say() { echo "packaging/check.sh: $*"; }

deb=$(ls -t target/debian/specdrop_*.deb 2>/dev/null | head -n1)
rpm=$(ls -t target/generate-rpm/specdrop-*.rpm 2>/dev/null | head -n1)
[ -n "$deb" ] || fail "no target/debian/specdrop_*.deb: run packaging/build.sh first"
[ -n "$rpm" ] || fail "no target/generate-rpm/specdrop-*.rpm: run packaging/build.sh first"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "contents of $deb"
dpkg-deb -c "$deb" | tee "$work/list"
expect() { # mode path
    grep -Eq "^$1 (root/root|0/0) +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" "$work/list" || fail "$2 with mode $1 not in the .deb"
}
expect -rwxr-xr-x usr/bin/specdrop
expect -rw-r----- etc/specdrop/specdrop.toml
expect -rw-r--r-- usr/lib/systemd/system/specdrop.service
expect -rw-r--r-- usr/lib/systemd/system/specdrop@.service
expect -rw-r--r-- usr/share/doc/specdrop/admin.md
expect -rw-r--r-- usr/share/doc/specdrop/imaging-team.md

say "control files and maintainer scripts"
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/specdrop/specdrop.toml "$work/control/conffiles" || fail "the config is not a conffile"
for script in postinst prerm postrm; do
    [ -x "$work/control/$script" ] || fail "no $script in the .deb"
    sh -n "$work/control/$script" || fail "$script: shell syntax"
    grep -q '#DEBHELPER#' "$work/control/$script" && fail "$script: #DEBHELPER# not replaced"
done
grep -q 'deb-systemd-helper enable' "$work/control/postinst" || fail "postinst does not enable the unit"
if grep -Eq 'deb-systemd-invoke (start|restart) .*specdrop.service' "$work/control/postinst" \
    && ! grep -q 'restart-after-upgrade\|_dh_action' "$work/control/postinst"; then
    fail "postinst starts the unit on a fresh install"
fi
for script in packaging/rpm/*.sh; do
    sh -n "$script" || fail "$script: shell syntax"
done

say "units in the unpacked package"
dpkg-deb -x "$deb" "$work/root"
# The root is the package on top of what every systemd system has: the
# base units (sysinit.target...) and kill(1) for ExecReload=.
cp -rn /lib/systemd/system/. "$work/root/usr/lib/systemd/system/"
mkdir -p "$work/root/bin" "$work/units"
cp /bin/kill "$work/root/bin/kill"
for unit in specdrop.service specdrop@.service; do
    # A template is verified through an instance.
    name=$unit
    [ "$unit" = specdrop@.service ] && name=specdrop@portal.service
    cp "$work/root/usr/lib/systemd/system/$unit" "$work/units/$name"
    systemd-analyze verify --root="$work/root" "$work/units/$name" >"$work/verify" 2>&1 || true
    cat "$work/verify"
    [ -s "$work/verify" ] && fail "systemd-analyze verify $unit is not clean"
    say "$unit: systemd-analyze verify --root: clean"
    score=$(systemd-analyze security --offline=true --root="$work/root" "$work/units/$name" 2>/dev/null \
        | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
    [ -n "$score" ] || fail "no security score for $unit"
    say "$unit: systemd-analyze security --offline=true: $score"
    awk "BEGIN { exit !($score <= 2.0) }" || fail "$unit scores $score, more than 2.0"
done

if command -v rpm >/dev/null; then
    say "contents of $rpm"
    rpm -qlvp "$rpm"
    rpm -qp --scripts "$rpm" | grep -q 'useradd --system' || fail "the RPM does not make the specdrop user"
    rpm -qlvp "$rpm" | grep -Eq '^-rw-r----- .*root +specdrop .* /etc/specdrop/specdrop.toml$' \
        || fail "the RPM's config is not 0640 root:specdrop"
else
    say "rpm is not installed: the RPM's contents are not listed (apt-get install rpm to see them)"
fi

[ "${1:-}" = "--no-install" ] && { say "ok (not installed: --no-install)"; exit 0; }
[ "$(id -u)" = 0 ] || fail "installing needs root; pass --no-install to skip it"
dpkg -s specdrop >/dev/null 2>&1 && fail "specdrop is already installed here; not touching it"

say "installing $deb on this machine"
dpkg -i "$deb"
getent passwd specdrop >/dev/null || fail "no specdrop user"
[ "$(stat -c '%a %U:%G' /etc/specdrop/specdrop.toml)" = "640 root:specdrop" ] \
    || fail "config is $(stat -c '%a %U:%G' /etc/specdrop/specdrop.toml), not 640 root:specdrop"
[ "$(stat -c '%a %U:%G' /etc/specdrop)" = "750 root:specdrop" ] || fail "/etc/specdrop is not 750 root:specdrop"
[ "$(stat -c '%a %U:%G' /var/lib/specdrop)" = "750 specdrop:specdrop" ] || fail "/var/lib/specdrop is not 750 specdrop:specdrop"
[ -L /etc/systemd/system/multi-user.target.wants/specdrop.service ] || fail "the unit is not enabled"
pgrep -x specdrop >/dev/null && fail "specdrop was started by the install"
/usr/bin/specdrop --version
# The packaged config, as installed, is all comments: specdrop says what is missing.
if /usr/bin/specdrop check >"$work/check" 2>&1; then fail "check passed on an unedited config"; fi
grep -q 'storage.root' "$work/check" || fail "check on the unedited config does not name storage.root"

say "purging"
dpkg --purge specdrop
for gone in /usr/bin/specdrop /etc/specdrop /var/lib/specdrop /var/log/specdrop \
    /usr/lib/systemd/system/specdrop.service /etc/systemd/system/multi-user.target.wants/specdrop.service; do
    [ -e "$gone" ] && fail "$gone is still there after purge"
done
dpkg-statoverride --list | grep -q specdrop && fail "a dpkg-statoverride is left after purge"
say "ok"
