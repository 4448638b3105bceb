#!/usr/bin/env bash
# slapd-test-instance.sh - throwaway OpenLDAP server for integration tests and
# the README's demo (adapted from shared/tools: loads the project's schema).
#
# Starts a private slapd (Debian package `slapd`, OpenLDAP 2.5) whose config
# (cn=config built with `slapadd -n0`), database (back_mdb), pid file, log and
# ldapi socket all live in one temp directory, listening on loopback only.
# Nothing under /etc/ldap or /var/lib/ldap is touched; the system slapd service
# is not needed (and may stay stopped).  Works as root or as any user, since
# the port is > 1024 and every file is in DIR.
#
# Usage:
#   slapd-test-instance.sh start DIR [PORT]   # prints the ldap:// URL on stdout
#   slapd-test-instance.sh stop  DIR          # kill by PID from DIR/slapd.pid, wait
#   slapd-test-instance.sh restart DIR        # start again on the same data and port
#   slapd-test-instance.sh resume DIR [PORT]  # restart when DIR holds a server
#                                             # already, else start (keeps data)
#   slapd-test-instance.sh url   DIR          # print the URL of a running instance
#
# Environment (all optional):
#   LDAP_SUFFIX     default dc=example,dc=org  (base entry + ou=people are created)
#   LDAP_ROOTPW     default secret  -> rootdn cn=admin,$LDAP_SUFFIX and cn=config
#   LDAP_NO_BASE=1  do not create the base entry and ou=people
#   LISTEN_HOST     default 127.0.0.1 (0.0.0.0 only inside a container)
#   MDB_NOSYNC=1    olcDbNoSync TRUE (no fsync per commit; a crash of the OS
#                   or power loss can lose the last commits, slapd crash cannot)
#   MDB_ENVFLAGS    olcDbEnvFlags values, space separated, e.g. "writemap nometasync"
#   MDB_FAST=1      shorthand: MDB_NOSYNC=1 MDB_ENVFLAGS="writemap nometasync"
#                   (measured here: ldapadd 100k ~7k entries/s vs ~1.7k/s with the
#                   default per-commit fsync; "writemap mapasync" without nosync
#                   ~9k/s; "writemap nometasync" WITHOUT nosync is the slowest,
#                   ~1k/s.)
#   MDB_CHECKPOINT  olcDbCheckpoint value, default "512 30"
#   MDB_MAXSIZE     olcDbMaxSize in bytes, default 4 GiB
#   SLAPD_LOGLEVEL  olcLogLevel, default none (use "stats" to log every op)
#   SLAPD_DEBUG     slapd -d level, default 0; "stats" writes every operation
#                   to DIR/slapd.log (olcLogLevel only goes to syslog)
#   SLAPD_THREADS   olcThreads, default 16 (slapd default)
#   LDAP_TLS=1      make a self-signed CA + server cert (openssl) in DIR/tls,
#                   enable StartTLS on the ldap:// port and add an ldaps://
#                   listener on LDAPS_PORT (default PORT+1); CA is DIR/tls/ca.pem
#
#   EXTRA_SCHEMA    cn=config schema LDIF files loaded after the stock ones,
#                   space separated (default: the project's schema/*.ldif;
#                   any other schema works too, e.g. a deployed SDET's files:
#                   the indexes below are only set on attributes it defines)
#
# Replication (scripts/slapd-replicated.sh builds a whole topology with these):
#   SERVER_ID       olcServerID of this server (1-4095; required by
#                   MULTI_PROVIDER, unique per provider)
#   SYNCPROV=1      a provider: load syncprov, put its overlay on the database
#                   (checkpoint 100 ops or 1 min, session log 1000), index
#                   entryCSN and entryUUID, and write the contextCSN of what
#                   slapadd loads (-w)
#   SYNC_FROM       space separated ldap:// URLs this server replicates the
#                   suffix from (one olcSyncrepl each, refreshAndPersist, bound
#                   as the rootdn: every server of a topology shares LDAP_ROOTPW,
#                   retried every second for ever)
#   MULTI_PROVIDER=1  olcMultiProvider TRUE (OpenLDAP 2.5's name of 2.4's
#                   olcMirrorMode): with SYNC_FROM and SYNCPROV, a provider that
#                   takes writes and replicates them to and from the others
#   UPDATE_REF      a consumer's olcUpdateRef: writes are answered with a
#                   referral to this URL (a read-only consumer)
#   Only one server of a topology may hold the base entries: start the others
#   with LDAP_NO_BASE=1, they receive everything by replication.
#
# Schemas loaded: core, cosine, nis, inetorgperson (from /etc/ldap/schema),
# then EXTRA_SCHEMA (aaf-sync's SDET + sync-state schema).
# Indexes: Debian defaults (objectClass eq; cn,uid eq; uidNumber,gidNumber eq;
# member,memberUid eq).
# Binds that work:  -x -D cn=admin,$LDAP_SUFFIX -w $LDAP_ROOTPW   (data)
#                   -x -D cn=config -w $LDAP_ROOTPW                (cn=config)
#                   -Y EXTERNAL -H ldapi://<DIR/ldapi url-encoded> (manage, as the
#                   uid that started slapd)  -> tests SASL EXTERNAL
#
# Example:
#   url=$(./slapd-test-instance.sh start /tmp/ldap1 3890)
#   ldapsearch -x -H "$url" -D cn=admin,dc=example,dc=org -w secret \
#              -b dc=example,dc=org -LLL dn
#   ./slapd-test-instance.sh stop /tmp/ldap1
#
# Measured on a 2-core Debian 12 VM: start (config + slapadd + first answered
# search) 0.10-0.16 s (about 1 s with LDAP_TLS=1, for the RSA key generation);
# stop 0.02-0.04 s.
set -euo pipefail

SLAPD=${SLAPD:-/usr/sbin/slapd}
SLAPADD=${SLAPADD:-/usr/sbin/slapadd}
SCHEMA_DIR=${SCHEMA_DIR:-/etc/ldap/schema}
MODULE_DIR=${MODULE_DIR:-/usr/lib/ldap}

die() { echo "slapd-test-instance: $*" >&2; exit 1; }
# alive PID: running and not a zombie (a stopped daemon stays a zombie until
# PID 1 reaps it, which in some sandboxes takes ~1-2 s)
alive() { local st; st=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }

urlencode_path() { # minimal encoding for an ldapi:// socket path
  local s=$1; s=${s//%/%25}; s=${s//\//%2F}; s=${s// /%20}; printf '%s' "$s"
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,/^set -e/{/^set -e/!p}' "$0" >&2; exit 2; }

# Starts slapd on DIR's configuration and listeners, waits for its first
# answer and prints the URL.
launch() {
  local sock url listen
  sock=$(urlencode_path "$dir/ldapi")
  url=$(cat "$dir/url"); listen=$(cat "$dir/listen")
  # -d 0: stay in the foreground (no fork), so $! is slapd's own PID; errors
  # still go to DIR/slapd.log.  setsid detaches it from the caller's job control.
  setsid "$SLAPD" -d "${SLAPD_DEBUG:-0}" -F "$dir/slapd.d" -h "$listen ldapi://$sock/" \
    >>"$dir/slapd.log" 2>&1 </dev/null &
  echo $! > "$dir/slapd.pid"
  for _ in $(seq 1 200); do            # wait up to 10 s for the first answer
    if ldapsearch -x -H "$url" -s base -b "" -LLL 1.1 >/dev/null 2>&1; then
      t1=$(date +%s%N)
      echo "slapd pid $(cat "$dir/slapd.pid") ready in $(( (t1 - t0) / 1000000 )) ms" >&2
      [ -n "$ldaps" ] && echo "ldaps: ${ldaps%/}  CA: $dir/tls/ca.pem" >&2
      echo "$url"; exit 0
    fi
    alive "$(cat "$dir/slapd.pid")" || { cat "$dir/slapd.log" >&2; die "slapd exited"; }
    sleep 0.05
  done
  cat "$dir/slapd.log" >&2; die "slapd did not answer within 10 s"
}

case "$cmd" in
start)
  port=${3:-${SLAPD_PORT:-3890}}
  suffix=${LDAP_SUFFIX:-dc=example,dc=org}
  pw=${LDAP_ROOTPW:-secret}
  loglevel=${SLAPD_LOGLEVEL:-none}
  threads=${SLAPD_THREADS:-16}
  checkpoint=${MDB_CHECKPOINT:-512 30}
  maxsize=${MDB_MAXSIZE:-4294967296}
  [ -x "$SLAPD" ] || die "slapd not found (apt-get install slapd ldap-utils)"
  server_id=${SERVER_ID:-}; syncprov=${SYNCPROV:-0}; sync_from=${SYNC_FROM:-}
  multi=${MULTI_PROVIDER:-0}; update_ref=${UPDATE_REF:-}
  if [ "$multi" = 1 ] && { [ -z "$server_id" ] || [ -z "$sync_from" ]; }; then
    die "MULTI_PROVIDER=1 needs SERVER_ID and SYNC_FROM"
  fi
  here=$(cd "$(dirname "$0")/.." && pwd)
  extra_schema=${EXTRA_SCHEMA-$(ls "$here"/schema/*.ldif 2>/dev/null | sort)}
  mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
  [ -e "$dir/slapd.pid" ] && alive "$(cat "$dir/slapd.pid")" \
    && die "already running in $dir (pid $(cat "$dir/slapd.pid"))"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port busy"; fi
  rm -rf "$dir/slapd.d" "$dir/data"; mkdir -p "$dir/slapd.d" "$dir/data"
  t0=$(date +%s%N)
  hash=$(/usr/sbin/slappasswd -s "$pw")
  me="gidNumber=$(id -g)+uidNumber=$(id -u),cn=peercred,cn=external,cn=auth"
  nosync=${MDB_NOSYNC:-0}; envflags=${MDB_ENVFLAGS:-}
  if [ "${MDB_FAST:-0}" = 1 ]; then nosync=1; envflags=${MDB_ENVFLAGS:-writemap nometasync}; fi
  # docs/schema.md's recommended indexes, on those of their attributes the
  # loaded schemas define (slapadd refuses an index on an unknown one)
  extra_index=""
  for a in ENTPersonLogin ENTPersonJointure ENTStructureJointure aafSyncSource ENTEleveParents ENTAuxPersRelEleveEleve; do
    # shellcheck disable=SC2086
    if [ -n "$extra_schema" ] && grep -qi "NAME '$a'" $extra_schema; then
      extra_index+="olcDbIndex: $a eq"$'\n'
    fi
  done
  # the sync's saved passwords are read by no one but the rootdn, when the
  # loaded schema has them (slapd refuses an ACL on an unknown attribute)
  saved_acl=""
  # shellcheck disable=SC2086
  if [ -n "$extra_schema" ] && grep -qi "NAME 'aafSyncSavedPassword'" $extra_schema; then
    saved_acl=$'olcAccess: {2}to attrs=aafSyncSavedPassword by * none\n'
  fi
  # replication: cn=config lines, module, database lines, overlay entry
  replcfg=""; replmod=""; repldb=""; replovl=""
  [ -n "$server_id" ] && replcfg="olcServerID: $server_id"$'\n'
  if [ "$syncprov" = 1 ]; then
    replmod=$'olcModuleLoad: syncprov\n'
    repldb+=$'olcDbIndex: entryCSN,entryUUID eq\n'
    replovl=$'\n'"dn: olcOverlay={0}syncprov,olcDatabase={1}mdb,cn=config"$'\n'
    replovl+=$'objectClass: olcOverlayConfig\nobjectClass: olcSyncProvConfig\n'
    replovl+=$'olcOverlay: {0}syncprov\nolcSpCheckpoint: 100 1\nolcSpSessionLog: 1000\n'
  fi
  rid=0
  for u in $sync_from; do
    rid=$((rid + 1))
    repldb+="olcSyncrepl: {$((rid - 1))}rid=$(printf %03d "$rid") provider=$u bindmethod=simple"
    repldb+=" binddn=\"cn=admin,$suffix\" credentials=$pw searchbase=\"$suffix\""
    repldb+=$' type=refreshAndPersist retry="1 +" timeout=3 network-timeout=3\n'
  done
  [ "$multi" = 1 ] && repldb+=$'olcMultiProvider: TRUE\n'
  [ -n "$update_ref" ] && repldb+="olcUpdateRef: $update_ref"$'\n'
  mdbfast=""
  [ "$nosync" = 1 ] && mdbfast+=$'olcDbNoSync: TRUE\n'
  for f in $envflags; do mdbfast+="olcDbEnvFlags: $f"$'\n'; done
  tlscfg=""; ldaps=""
  if [ "${LDAP_TLS:-0}" = 1 ]; then
    lport=${LDAPS_PORT:-$((port + 1))}
    mkdir -p "$dir/tls"
    ( cd "$dir/tls"
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=test-ca" \
        -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout server.key -out server.csr 2>/dev/null
      printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1\n' "$(hostname)" > san.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days 2 -extfile san.ext -out server.pem 2>/dev/null )
    tlscfg="olcTLSCACertificateFile: $dir/tls/ca.pem"$'\n'
    tlscfg+="olcTLSCertificateFile: $dir/tls/server.pem"$'\n'
    tlscfg+="olcTLSCertificateKeyFile: $dir/tls/server.key"$'\n'
    ldaps="ldaps://127.0.0.1:$lport/"
  fi
  {
    cat <<EOF
dn: cn=config
objectClass: olcGlobal
cn: config
${replcfg}${tlscfg}olcPidFile: $dir/slapd.pid.daemon
olcArgsFile: $dir/slapd.args
olcLogLevel: $loglevel
olcThreads: $threads
olcToolThreads: 1

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: $MODULE_DIR
olcModuleLoad: back_mdb
${replmod}
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

EOF
    for s in core cosine nis inetorgperson; do
      cat "$SCHEMA_DIR/$s.ldif"; echo
    done
    for f in $extra_schema; do
      grep -v '^#' "$f"; echo
    done
    cat <<EOF
dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited
olcAccess: {0}to * by dn.exact="$me" manage by * break
olcAccess: {1}to dn.exact="" by * read
olcAccess: {2}to dn.base="cn=Subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact="$me" manage by * break
olcRootDN: cn=config
olcRootPW: $hash

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: $suffix
olcRootDN: cn=admin,$suffix
olcRootPW: $hash
olcDbDirectory: $dir/data
olcDbMaxSize: $maxsize
olcDbCheckpoint: $checkpoint
olcLastMod: TRUE
olcSizeLimit: unlimited
olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: uidNumber,gidNumber eq
olcDbIndex: member,memberUid eq
${extra_index}${mdbfast}${repldb}olcAccess: {0}to * by dn.exact="$me" manage by * break
olcAccess: {1}to attrs=userPassword by self write by anonymous auth by * none
${saved_acl}olcAccess: {3}to * by * read
EOF
    printf '%s' "$replovl"
  } | sed '/^$/N;/^\n$/D' > "$dir/config.ldif"
  "$SLAPADD" -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" -q \
    >"$dir/slapadd.log" 2>&1 || { cat "$dir/slapadd.log" >&2; die "slapadd -n0 failed"; }
  if [ "${LDAP_NO_BASE:-0}" != 1 ]; then
    rdn=${suffix%%,*}; dcval=${rdn#*=}
    printf 'dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: %s\ndc: %s\n\ndn: ou=people,%s\nobjectClass: organizationalUnit\nou: people\n' \
      "$suffix" "$dcval" "$dcval" "$suffix" > "$dir/base.ldif"
    wflag=""; [ "$syncprov" = 1 ] && wflag=-w
    "$SLAPADD" -n1 -F "$dir/slapd.d" -l "$dir/base.ldif" -q $wflag \
      >>"$dir/slapadd.log" 2>&1 || { cat "$dir/slapadd.log" >&2; die "slapadd base failed"; }
  fi
  host=${LISTEN_HOST:-127.0.0.1}
  echo "ldap://$host:$port/ ${ldaps}" > "$dir/listen"
  echo "ldap://127.0.0.1:$port" > "$dir/url"
  launch
  ;;
restart)
  # same configuration, data, port and URL as the last start (a server
  # restart under a running client)
  [ -f "$dir/listen" ] || die "no $dir/listen: start it first"
  [ -e "$dir/slapd.pid" ] && alive "$(cat "$dir/slapd.pid")" && die "still running"
  t0=$(date +%s%N); ldaps=""
  launch
  ;;
resume)
  # a server whose data must outlive it (the Docker image's volume): the
  # same data when DIR holds it, a fresh start otherwise
  if [ -f "$dir/listen" ] && [ -d "$dir/slapd.d" ] && [ -d "$dir/data" ]; then
    echo "slapd-test-instance: keeping the data already in $dir" >&2
    [ -e "$dir/slapd.pid" ] && alive "$(cat "$dir/slapd.pid")" && die "still running"
    t0=$(date +%s%N); ldaps=""
    launch
  fi
  exec bash "$0" start "$dir" "${3:-}"
  ;;
stop)
  [ -f "$dir/slapd.pid" ] || die "no $dir/slapd.pid"
  pid=$(cat "$dir/slapd.pid")
  if alive "$pid"; then
    kill -TERM "$pid"                  # slapd shuts down cleanly on SIGTERM/SIGINT
    for _ in $(seq 1 500); do alive "$pid" || break; sleep 0.02; done   # up to 10 s
    alive "$pid" && { kill -KILL "$pid"; echo "killed -9 $pid" >&2; }
  fi
  rm -f "$dir/slapd.pid"
  echo "stopped $pid" >&2
  ;;
url)
  cat "$dir/url"
  ;;
*) die "unknown command $cmd (start|stop|restart|resume|url)";;
esac
