#!/usr/bin/env bash
# slapd-replicated.sh - a throwaway replicated OpenLDAP on loopback: two
# providers in multi-provider replication and one read-only consumer, each
# with the project's schema (tests/replication.rs runs the same topology).
#
#   provider A  (olcServerID 1, syncprov, syncrepl from B, olcMultiProvider)
#   provider B  (olcServerID 2, syncprov, syncrepl from A, olcMultiProvider)
#   consumer C  (syncrepl from A and from B; writes get a referral to A)
#
# Each server is one slapd-test-instance.sh instance (read it for the files,
# binds and environment); only A is loaded with the base entries, B and C
# receive them by replication (refreshAndPersist, retried every second, so a
# provider killed and restarted catches up by itself).
#
# Usage:
#   slapd-replicated.sh start DIR [PORT_A PORT_B PORT_C]  # prints 3 URLs: A, B, C
#   slapd-replicated.sh stop DIR
#   slapd-replicated.sh status DIR       # contextCSN of each: in step or not
#   slapd-replicated.sh kill DIR a|b|c   # kill -9 one server by PID (a crash)
#   slapd-replicated.sh restart DIR a|b|c
#
# Ports default to 3890, 3891, 3892. The instances live in DIR/a, DIR/b and
# DIR/c, or in DIR_A, DIR_B, DIR_C when set. Other variables (LDAP_SUFFIX,
# LDAP_ROOTPW, MDB_FAST, SLAPD_LOGLEVEL, ...) go to every instance; every
# server shares LDAP_ROOTPW (replication binds as cn=admin,<suffix>).
#
# Then point aaf-sync at it:
#   [ldap]
#   url = ["ldap://127.0.0.1:3890", "ldap://127.0.0.1:3891"]   # A designated
#   read_url = "ldap://127.0.0.1:3892"
#
# Example:
#   bash scripts/slapd-replicated.sh start /tmp/aaf-repl
#   ldapsearch -x -H ldap://127.0.0.1:3892 -b dc=example,dc=org -s base contextCSN
#   bash scripts/slapd-replicated.sh stop /tmp/aaf-repl
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
instance="$here/slapd-test-instance.sh"
die() { echo "slapd-replicated: $*" >&2; exit 1; }

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,/^set -e/{/^set -e/!p}' "$0" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
dir_a=${DIR_A:-$dir/a}; dir_b=${DIR_B:-$dir/b}; dir_c=${DIR_C:-$dir/c}
suffix=${LDAP_SUFFIX:-dc=example,dc=org}
pw=${LDAP_ROOTPW:-secret}

node_dir() {
  case "$1" in a) echo "$dir_a";; b) echo "$dir_b";; c) echo "$dir_c";;
  *) die "unknown server $1 (a, b or c)";; esac
}

# contextCSN values of a server, one per line ("" when it does not answer)
csn() {
  ldapsearch -x -H "$1" -D "cn=admin,$suffix" -w "$pw" -b "$suffix" -s base \
    -LLL -o ldif-wrap=no contextCSN 2>/dev/null | sed -n 's/^contextCSN: //p' | sort || true
}

case "$cmd" in
start)
  pa=${3:-3890}; pb=${4:-3891}; pc=${5:-3892}
  ua="ldap://127.0.0.1:$pa"; ub="ldap://127.0.0.1:$pb"
  started=()
  cleanup() { for d in "${started[@]}"; do bash "$instance" stop "$d" >/dev/null 2>&1 || true; done; }
  trap 'cleanup' ERR
  SERVER_ID=1 SYNCPROV=1 MULTI_PROVIDER=1 SYNC_FROM="$ub" \
    bash "$instance" start "$dir_a" "$pa" >/dev/null
  started+=("$dir_a")
  SERVER_ID=2 SYNCPROV=1 MULTI_PROVIDER=1 SYNC_FROM="$ua" LDAP_NO_BASE=1 \
    bash "$instance" start "$dir_b" "$pb" >/dev/null
  started+=("$dir_b")
  SYNC_FROM="$ua $ub" UPDATE_REF="$ua" LDAP_NO_BASE=1 SERVER_ID= SYNCPROV=0 MULTI_PROVIDER=0 \
    bash "$instance" start "$dir_c" "$pc" >/dev/null
  started+=("$dir_c")
  uc=$(cat "$dir_c/url")
  # B and C hold nothing until their first refresh: wait for the base entry
  want=$(csn "$ua")
  for _ in $(seq 1 200); do
    if [ -n "$want" ] && [ "$(csn "$ub")" = "$want" ] && [ "$(csn "$uc")" = "$want" ]; then
      trap - ERR
      printf '%s\n%s\n%s\n' "$ua" "$ub" "$uc"
      echo "replicated: providers $ua (A, designated) and $ub (B), consumer $uc" >&2
      exit 0
    fi
    sleep 0.05
  done
  cleanup
  die "B and C did not replicate A's base entries within 10 s (see $dir_b/slapd.log, $dir_c/slapd.log)"
  ;;
stop)
  for d in "$dir_a" "$dir_b" "$dir_c"; do
    [ -f "$d/slapd.pid" ] && bash "$instance" stop "$d" || true
  done
  ;;
status)
  ref=""
  for n in a b c; do
    d=$(node_dir $n)
    [ -f "$d/url" ] || { echo "$n: not started"; continue; }
    u=$(cat "$d/url"); c=$(csn "$u" | tr '\n' ' ')
    if [ -z "$c" ]; then echo "$n $u: does not answer"; continue; fi
    [ -z "$ref" ] && ref=$c
    if [ "$c" = "$ref" ]; then echo "$n $u: contextCSN $c"; else echo "$n $u: contextCSN $c(differs from the first: not in step yet)"; fi
  done
  ;;
kill)
  d=$(node_dir "${3:-}")
  pid=$(cat "$d/slapd.pid") || die "no $d/slapd.pid"
  kill -KILL "$pid"
  for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$d/slapd.pid"
  echo "killed -9 $pid" >&2
  ;;
restart)
  d=$(node_dir "${3:-}")
  bash "$instance" restart "$d"
  ;;
*) die "unknown command $cmd (start|stop|status|kill|restart)";;
esac
