#!/usr/bin/env bash
# The Debian package as an operator uses it, on this machine, as root:
# lintian, the files it holds, `apt install`, the installed command, man
# pages, unit and configuration, the daemon started as the unit would start
# it (systemd is not PID 1 here), a call and a push, a conffile edit kept
# across an upgrade, `apt remove` keeping the state, `dpkg --purge` removing
# it. Every check looks at something an earlier step made.
#
#   tests/package.sh OLD.deb NEW.deb   (two versions, for the upgrade; CI
#                                       builds them with `cargo deb`)
#
# It installs and purges the package system-wide: it runs only where
# CI=true or CALLSCREEN_PACKAGE_TEST=1 says so.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" != true ] && [ "${CALLSCREEN_PACKAGE_TEST:-}" != 1 ]; then
  echo "tests/package.sh installs and purges callscreen system-wide; set CALLSCREEN_PACKAGE_TEST=1 to run it here" >&2
  exit 2
fi
[ "$(id -u)" = 0 ] || { echo "tests/package.sh must run as root" >&2; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
finish() {
  echo "package: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
trap 'echo "package: $passed passed, $((failed + 1)) failed (stopped at line $LINENO)"' ERR

work=$(mktemp -d)
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Start from nothing: an earlier run's leftovers would make checks pass.
dpkg --purge callscreen >/dev/null 2>&1 || true
rm -rf /etc/callscreen /var/lib/callscreen /var/lib/private/callscreen

# --- the package file ---------------------------------------------------
lintian_out=$(lintian --fail-on error "$new" 2>&1) && ok "lintian: no errors" || fail "lintian: errors: $lintian_out"
echo "$lintian_out" | sed 's/^/  lintian: /'

contents=$(dpkg-deb -c "$new")
for f in \
  ./usr/bin/callscreen \
  ./etc/callscreen/callscreen.toml \
  ./etc/callscreen/lists/scam-origins.txt \
  ./etc/callscreen/lists/acm-withdrawn.txt \
  ./etc/callscreen/lists/allowlist.txt \
  ./etc/callscreen/lists/bad-networks.txt \
  ./etc/callscreen/lists/protected.toml \
  ./etc/callscreen/lists/fake-helpdesks.txt \
  ./etc/callscreen/lists/callback-ranges.txt \
  ./usr/lib/systemd/system/callscreen.service \
  ./usr/share/man/man1/callscreen.1.gz \
  ./usr/share/man/man1/callscreen-run.1.gz \
  ./usr/share/man/man1/callscreen-check.1.gz \
  ./usr/share/man/man1/callscreen-config-check.1.gz \
  ./usr/share/man/man1/callscreen-lists-push.1.gz \
  ./usr/share/man/man1/callscreen-api-keygen.1.gz \
  ./usr/share/man/man5/callscreen.toml.5.gz \
  ./usr/share/bash-completion/completions/callscreen \
  ./usr/share/zsh/vendor-completions/_callscreen \
  ./usr/share/fish/vendor_completions.d/callscreen.fish \
  ./usr/share/doc/callscreen/copyright; do
  check "the package holds $f" grep -q " $f\$" <<<"$contents"
done
conffiles=$(dpkg-deb -I "$new" conffiles)
for f in /etc/callscreen/callscreen.toml /etc/callscreen/lists/scam-origins.txt /etc/callscreen/lists/protected.toml; do
  check "$f is a conffile" grep -qx "$f" <<<"$conffiles"
done
check "the installed config has no API client" bash -c "dpkg-deb --fsys-tarfile '$new' | tar -xO ./etc/callscreen/callscreen.toml | grep -q '^# \[\[api.clients\]\]' && ! dpkg-deb --fsys-tarfile '$new' | tar -xO ./etc/callscreen/callscreen.toml | grep -q '^\[\[api.clients\]\]'"

# --- installed ----------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$old" >"$work/apt.log" 2>&1 \
  && ok "apt install $(basename "$old")" || { fail "apt install: $(cat "$work/apt.log")"; finish; }
check "callscreen --version" bash -c "callscreen --version | grep -qx 'callscreen [0-9.]*'"
check "man -w callscreen" man -w callscreen
check "man -w 5 callscreen.toml" man -w 5 callscreen.toml
check "man -w callscreen-lists-push" man -w callscreen-lists-push
check "callscreen.toml(5) documents [proxy] next_hops" bash -c "man 5 callscreen.toml 2>/dev/null | grep -q 'next_hops'"
check "systemd-analyze verify on the installed unit" systemd-analyze verify /usr/lib/systemd/system/callscreen.service
check "the unit is enabled (multi-user.target.wants)" test -L /etc/systemd/system/multi-user.target.wants/callscreen.service
exposure=$(systemd-analyze security --offline=yes /usr/lib/systemd/system/callscreen.service 2>/dev/null | sed -n 's/.*Overall exposure level for callscreen.service: \([0-9.]*\).*/\1/p')
echo "  systemd-analyze security (installed unit): ${exposure:-unknown}"
check "the installed unit's exposure is at most 1.5" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 1.5) }'
check "callscreen config check on the installed config" bash -c "callscreen config check /etc/callscreen/callscreen.toml | grep -q 'scam-origins@'"

# --- the operator edits a conffile: an API client for its tooling ---------
token=package-test-ops-token
printf '%s' "$token" >"$work/token"
chmod 644 "$work/token"
hash=$(printf '%s' "$token" | callscreen api hash-token)
cat >>/etc/callscreen/callscreen.toml <<EOF

[[api.clients]]
name = "package-test-ops"
token_sha256 = "$hash"
lists = ["*"]
operations = ["read", "replace"]
EOF
check "the edited config checks" callscreen config check /etc/callscreen/callscreen.toml >/dev/null
# A NOC client, made as the README says (its token to a file of its own).
check "api add-client makes a NOC client" callscreen api add-client noc --operations read,calls --token-file "$work/noc.token"
check "its drop-in is in /etc/callscreen/conf.d" grep -q 'name = "noc"' /etc/callscreen/conf.d/noc.toml

# --- started as the unit starts it ----------------------------------------
# DynamicUser= and StateDirectory=callscreen: an unprivileged user, the state
# in /var/lib/private/callscreen behind /var/lib/callscreen. Inside the
# service's namespace systemd makes the private directory reachable; here
# /var/lib/private is opened for traversal instead.
mkdir -p /var/lib/private/callscreen
chmod 0711 /var/lib/private
chown nobody:nogroup /var/lib/private/callscreen
chmod 0750 /var/lib/private/callscreen
ln -sfn private/callscreen /var/lib/callscreen
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
  env STATE_DIRECTORY=/var/lib/callscreen \
  /usr/bin/callscreen run --config /etc/callscreen/callscreen.toml \
  >"$work/noc.log" 2>"$work/stderr.log" &
daemon_pid=$!
for _ in $(seq 1 200); do
  grep -q "callscreen ready" "$work/stderr.log" && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.05
done
check "the daemon says it is ready" grep -q "callscreen ready: mode=redirect" "$work/stderr.log" || cat "$work/stderr.log" >&2

# callscreen tail with the NOC client's token follows the service's daemon.
callscreen tail --once --token-file "$work/noc.token" >"$work/tail.out" 2>"$work/tail.err" &
tail_pid=$!
for _ in $(seq 1 100); do grep -q "^following" "$work/tail.err" && break; sleep 0.05; done
check "callscreen tail follows the daemon with the new client's token" grep -q "^following http://127.0.0.1:8080" "$work/tail.err"

# A call from the SBC on loopback, trunk kpn, from a listed scam number: 608.
answer=$(python3 - <<'EOF'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(5)
port = s.getsockname()[1]
msg = (
    "INVITE sip:+31104567890@127.0.0.1;user=phone SIP/2.0\r\n"
    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-pkg-1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:+31201234567@127.0.0.1;user=phone>;tag=pkg1\r\n"
    "To: <sip:+31104567890@127.0.0.1>\r\n"
    "Call-ID: package-test-1@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Ingress-Trunk: kpn\r\n"
    f"Contact: <sip:caller@127.0.0.1:{port}>\r\n"
    "Content-Length: 0\r\n\r\n"
)
s.sendto(msg.encode(), ("127.0.0.1", 5060))
print(s.recv(65535).decode(errors="replace").split("\r\n")[0])
EOF
) || answer="no answer"
check "a call from a listed number is answered 608 ($answer)" test "$answer" = "SIP/2.0 608 Rejected"
for _ in $(seq 1 100); do grep -q "call_id=package-test-1" "$work/noc.log" && break; sleep 0.05; done
check "its NOC line is written" grep -q "verdict=reject code=608 reasons=blocklist:scam-origins.*call_id=package-test-1" "$work/noc.log"
for _ in $(seq 1 100); do grep -q "call_id=package-test-1" "$work/tail.out" && break; sleep 0.05; done
check "callscreen tail printed its line" grep -q "verdict=reject code=608 .*call_id=package-test-1" "$work/tail.out"

# A replacement of the example list (it removes most of it: said with --allow-shrink).
printf '# callscreen list v1 name=scam-origins version=900\n+31201234567\n+31201234599\n' >"$work/push.txt"
check "a list push is accepted" bash -c "callscreen lists push scam-origins '$work/push.txt' --token-file '$work/token' --allow-shrink | grep -q '\"version\":900'"
check "the pushed list is in the state directory" test -s /var/lib/private/callscreen/scam-origins.900.list
check "config check now serves the pushed version" bash -c "callscreen config check /etc/callscreen/callscreen.toml | grep -q 'scam-origins@900 (blocklist, 2 entries, pushed'"
kill -TERM "$daemon_pid"
wait "$daemon_pid" && ok "the daemon stops on SIGTERM" || fail "the daemon's exit status on SIGTERM"
daemon_pid=
# At stop the staging log is sealed, by the daemon's sealing process
# (callscreen calls seal, run as the service's user).
check "the call records were sealed into a Parquet segment at stop" bash -c "ls /var/lib/private/callscreen/records/seg-*.parquet"
check "calls export finds the test call in the records" bash -c "STATE_DIRECTORY=/var/lib/callscreen callscreen calls export --config /etc/callscreen/callscreen.toml --since 1h | grep -q package-test-1"
tail_status=0
wait "$tail_pid" || tail_status=$?
check "callscreen tail --once ends when the daemon stops (status 3, saying so)" bash -c "[ $tail_status = 3 ] && grep -q 'the daemon is stopping' '$work/tail.err'"

# --- upgrade: the edited conffile is kept ---------------------------------
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Options::=--force-confold "$new" >"$work/apt.log" 2>&1 \
  && ok "apt install $(basename "$new") (upgrade)" || fail "upgrade: $(cat "$work/apt.log")"
check "the upgrade kept the edited config" grep -q 'name = "package-test-ops"' /etc/callscreen/callscreen.toml
check "the new version is installed" bash -c "dpkg-query -W -f='\${Version}' callscreen | grep -qx '$(dpkg-deb -f "$new" Version)'"

# --- remove keeps the state and the configuration; purge removes them -----
DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq callscreen >"$work/apt.log" 2>&1 \
  && ok "apt remove" || fail "apt remove: $(cat "$work/apt.log")"
check "remove took the binary" test ! -e /usr/bin/callscreen
check "remove kept the state" test -s /var/lib/private/callscreen/scam-origins.900.list
check "remove kept the configuration" test -f /etc/callscreen/callscreen.toml
dpkg --purge callscreen >"$work/apt.log" 2>&1 && ok "dpkg --purge" || fail "purge: $(cat "$work/apt.log")"
check "purge removed /etc/callscreen" test ! -e /etc/callscreen
check "purge removed /var/lib/callscreen" test ! -e /var/lib/callscreen
check "purge removed /var/lib/private/callscreen" test ! -e /var/lib/private/callscreen
chmod 0700 /var/lib/private

trap - ERR
finish
