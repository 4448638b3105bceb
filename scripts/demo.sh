#!/usr/bin/env bash
# demo.sh - the main job on the bundled sample: installs slapd if missing,
# builds aaf-sync, starts a throwaway OpenLDAP with the project's schema on
# 127.0.0.1:$DEMO_PORT (default: 3890, or the first free port after it;
# files in target/demo), syncs the sample extraction (samples/1d-complet)
# into it and prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
echo "demo: building aaf-sync (release; the first build takes a few minutes)" >&2
cargo build --release --bin aaf-sync
# where cargo put it (CARGO_TARGET_DIR moves the build)
bin=${CARGO_TARGET_DIR:-$(pwd)/target}/release/aaf-sync
dir=$(pwd)/target/demo
mkdir -p "$dir"
[ -f "$dir/ldap/slapd.pid" ] && bash scripts/slapd-test-instance.sh stop "$dir/ldap" 2>/dev/null || true
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${DEMO_PORT:-}" ]; then
  port=$DEMO_PORT
  busy "$port" && { echo "demo: port $port (DEMO_PORT) is in use: pick another" >&2; exit 2; }
else
  port=3890
  while busy "$port"; do port=$((port + 1)); done
fi
echo "demo: starting slapd on 127.0.0.1:$port" >&2
url=$(MDB_FAST=1 bash scripts/slapd-test-instance.sh start "$dir/ldap" "$port")
umask 077
printf 'secret\n' > "$dir/ldap.secret"
sed -e "s|ldap://127.0.0.1:3890|$url|" -e "s|/etc/aaf-sync/ldap.secret|$dir/ldap.secret|" \
    -e "s|/var/lib/aaf-sync|$dir/work|" config/demo.toml > "$dir/aaf-sync.toml"
set +e
"$bin" sync --config "$dir/aaf-sync.toml" --report "$dir/report.json" samples/1d-complet
rc=$?
set -e
cat <<EOT

exit code $rc; JSON report: $dir/report.json
slapd is still running at $url (admin cn=admin,dc=example,dc=org / secret):
  ldapsearch -x -H $url -D cn=admin,dc=example,dc=org -w secret -b ou=people,dc=example,dc=org -LLL '(ENTPersonProfils=National_DIR)'
run again (nothing to change):  $bin sync --config $dir/aaf-sync.toml samples/1d-complet
stop it:                        bash scripts/slapd-test-instance.sh stop $dir/ldap
EOT
exit $rc
