#!/usr/bin/env bash
# bench.sh - end-to-end figures of aaf-sync against a local slapd, each beside
# the reference OpenLDAP tool measured in the same run on the same server
# configuration (mdb, dbnosync + writemap, loopback):
#
#   bash scripts/bench.sh [SCHOOLS [PUPILS_PER_SCHOOL]]     (default 400 100: ~100k entries)
#   bash scripts/bench.sh 4000 150                          (~1.5 million entries)
#   BENCH_DEGREE=2d bash scripts/bench.sh 960 600           (2D: ~1.5 million entries)
#
# It generates a Complet, the Delta of the next day and the Complet of a
# week later (aaf-gen --days), and times aaf-sync on each; the pure stages
# have their own benchmark (`cargo bench --bench stages`). The Delta reads
# only what its plan needs (docs/scale.md, "Targeted Delta"); its dry run is
# also timed over the whole tree (`targeted_delta = false`), which gives the
# full read's figure beside ldapsearch.
#
# The same tree is then loaded (slapadd -w) into a server with the syncprov
# overlay, where runs read incrementally (docs/scale.md, "Incremental
# read"): the no-change Complet and the Delta are timed there too, beside
# the plain server's (whose runs read the whole tree).
#
# Every repeatable figure (the reads, the no-change Complet, the dry run of
# the Delta) is measured BENCH_REPEAT times (default 5) and reported best of
# N with its spread (min–max): noise on a shared machine only slows a run
# down, so the best is the closest to what the code costs. Each read of
# aaf-sync is interleaved with an ldapsearch of the same tree on the same
# server, so both see the same state of the machine. Figures that change the
# directory (first load, Delta, next week) are measured once.
#
# Prints a Markdown table (the rows of BENCHMARKS.md). BENCH_DIR keeps the
# files (default: a temporary directory, removed at the end). The figures
# are not asserted anywhere: CI runs `bash scripts/bench.sh 4 20` to keep the
# script working.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
schools=${1:-400}
pupils=${2:-100}
degree=${BENCH_DEGREE:-1d}
export PATH="$HOME/.cargo/bin:$PATH"
# a 2D académie of 1.5 million entries holds more than the test instance's
# default 4 GiB map
export MDB_MAXSIZE=${MDB_MAXSIZE:-17179869184}
cargo build --release --quiet --bins --features generator
bin=${CARGO_TARGET_DIR:-$root/target}/release
dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"
keep=${BENCH_DIR:+1}
ports=()
cleanup() {
  for d in "$dir"/ldap-*; do
    [ -f "$d/slapd.pid" ] && bash scripts/slapd-test-instance.sh stop "$d" >/dev/null 2>&1 || true
  done
  [ -n "$keep" ] || rm -rf "$dir"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rate() { python3 -c "print(f'{$1 / max($2, 1e-9):,.0f}')"; }
ratio() { python3 -c "print(f'{$1 / max($2, 1e-9):.2f}')"; }
perf() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['perf'][sys.argv[2]])" "$1" "$2"; }
repeat=${BENCH_REPEAT:-5}
best() { python3 -c "import sys; print(f'{min(map(float, sys.argv[1:])):.2f}')" "$@"; }
spread() { python3 -c "import sys; v=sorted(map(float, sys.argv[1:])); print(f'{v[0]:.2f}–{v[-1]:.2f} s, n={len(v)}')" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # NAME [empty|syncprov]
  local p; p=$(free_port)
  local env=(MDB_FAST=1)
  case "${2:-}" in
    empty) env+=(LDAP_NO_BASE=1) ;;
    # empty too: the tree is loaded offline with slapadd -w (contextCSN)
    syncprov) env+=(SYNCPROV=1 LDAP_NO_BASE=1) ;;
  esac
  # its progress kept out of the table; its failure (no slapd) shown
  env "${env[@]}" bash scripts/slapd-test-instance.sh start "$dir/ldap-$1" "$p" 2>"$dir/slapd-$1.err" \
    || { cat "$dir/slapd-$1.err" >&2; exit 1; }
}
config() { # URL WORKDIR
  echo secret > "$dir/pw"; chmod 600 "$dir/pw"
  cat <<EOC
[ldap]
url = "$1"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password_file = "$dir/pw"
base_dn = "dc=example,dc=org"
connections = ${BENCH_CONNECTIONS:-4}
in_flight = ${BENCH_IN_FLIGHT:-64}
[source]
name = "AC-CRETEIL"
degree = "$degree"
[perimeter]
all = true
[paths]
work_dir = "$2"
[safety]
max_departures = 100000000
max_departures_percent = 100.0
# a day of a 2D académie renames more pupils than the default 500
max_renames = 100000000
max_renames_percent = 100.0
EOC
}
A="-x -D cn=admin,dc=example,dc=org -w secret"

echo "generating $schools schools x $pupils pupils ($degree)..." >&2
gen() { "$bin/aaf-gen" --degree "$degree" "$@"; }
gen --out "$dir/c1" --schools "$schools" --schools-outside 0 \
  --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null
gen --out "$dir/d1" --delta --days 1 --date 20250905 --schools "$schools" --schools-outside 0 \
  --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null
gen --out "$dir/c8" --days 8 --date 20250912 --schools "$schools" --schools-outside 0 \
  --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null
xml_mb=$(du -sm "$dir/c1" | cut -f1)

# the reference tools, on the tree aaf-sync would build
ua=$(start ref empty)
config "$ua" "$dir/w0" > "$dir/ref.toml"
"$bin/aaf-sync" export-ldif --config "$dir/ref.toml" --now 2025-09-04 --with-base \
  --out "$dir/init.ldif" "$dir/c1" 2>/dev/null
entries=$(grep -c '^dn:' "$dir/init.ldif")
t0=$(now); ldapadd $A -H "$ua" -f "$dir/init.ldif" >/dev/null; t1=$(now)
ldapadd_s=$(secs "$t0" "$t1")
grep '^dn: uid=' "$dir/init.ldif" | sed 's/$/\nchangetype: modify\nreplace: title\ntitle: bench\n/' >"$dir/mods.ldif"
mods=$(grep -c '^dn:' "$dir/mods.ldif")
t0=$(now); ldapmodify $A -H "$ua" -f "$dir/mods.ldif" >/dev/null; t1=$(now)
ldapmodify_s=$(secs "$t0" "$t1")
bash scripts/slapd-test-instance.sh stop "$dir/ldap-ref" >/dev/null 2>&1
rm -rf "$dir/ldap-ref" # its disk, for the next servers
# slapadd -q, offline, into an empty database
start slapadd empty >/dev/null
bash scripts/slapd-test-instance.sh stop "$dir/ldap-slapadd" >/dev/null 2>&1
t0=$(now); /usr/sbin/slapadd -F "$dir/ldap-slapadd/slapd.d" -n 1 -q -l "$dir/init.ldif"; t1=$(now)
slapadd_s=$(secs "$t0" "$t1")
rm -rf "$dir/ldap-slapadd"

# aaf-sync: first sync, no-change Complet, the next day's Delta, then the
# Complet of a week later
ub=$(start sync empty)
ldapadd $A -H "$ub" >/dev/null <<EOL
dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
dc: example
o: example
EOL
config "$ub" "$dir/w1" > "$dir/sync.toml"
# the same directory, every Delta planned over the whole tree (read whole):
# the reference of the targeted Delta, and the read-alone figure
sed 's/^\[source\]$/[source]\ntargeted_delta = false/' "$dir/sync.toml" > "$dir/whole.toml"
run() { # NAME ARGS... -> wall seconds; report in $dir/NAME.json
  local name=$1; shift
  local t0 t1
  t0=$(now)
  "$bin/aaf-sync" sync --config "${conf:-$dir/sync.toml}" --report "$dir/$name.json" "$@" >/dev/null 2>"$dir/$name.err" \
    || { cat "$dir/$name.err" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1"
}
search() { # the reference read, to /dev/null: the reference at its fastest
  # (writing the dump to a file made it up to 4x slower and noisy here)
  local t0 t1
  t0=$(now)
  ldapsearch $A -H "$ub" -b dc=example,dc=org -E pr=1000/noprompt -LLL '(objectClass=*)' >/dev/null
  t1=$(now)
  secs "$t0" "$t1"
}
perf_of() { perf "$dir/$1.json" "$2"; }
first_s=$(run first --now 2025-09-04 "$dir/c1")
# repeatable: the no-change Complet (read beside the parse), the Delta's
# dry run over the whole tree (the read alone), each interleaved with the
# reference read, and the Delta's dry run on its targeted read
same_all=(); search_all=(); read_all=(); alone_all=(); dry_all=(); tdry_all=()
for i in $(seq "$repeat"); do
  search_all+=("$(search)")
  same_all+=("$(run "same$i" --now 2025-09-04 "$dir/c1")")
  read_all+=("$(perf_of "same$i" read_secs)")
  search_all+=("$(search)")
  dry_all+=("$(conf=$dir/whole.toml run "dry$i" --now 2025-09-05 --dry-run "$dir/d1")")
  alone_all+=("$(perf_of "dry$i" read_secs)")
  tdry_all+=("$(run "tdry$i" --now 2025-09-05 --dry-run "$dir/d1")")
  [ "$(perf_of "tdry$i" read_mode)" = targeted ] \
    || { echo "bench: run tdry$i did a $(perf_of "tdry$i" read_mode) read" >&2; exit 1; }
done
dry_s=$(best "${dry_all[@]}"); tdry_s=$(best "${tdry_all[@]}")
same_s=$(best "${same_all[@]}"); search_s=$(best "${search_all[@]}")
read_s=$(best "${read_all[@]}"); alone_s=$(best "${alone_all[@]}")
# the report of the fastest no-change run gives the parse figures
for i in $(seq "$repeat"); do
  [ "$(best "${same_all[$((i - 1))]}")" = "$same_s" ] && { cp "$dir/same$i.json" "$dir/same.json"; break; }
done
delta_s=$(run delta --now 2025-09-05 "$dir/d1")
week_s=$(run week --now 2025-09-12 "$dir/c8")

# the incremental read: the first sync's tree (export-ldif) loaded into a
# syncprov server; its first run reads the whole tree and keeps the copy,
# the next ones read what changed (nothing: the control and lock entries
# are outside the read's scope)
uc=$(start inc syncprov)
bash scripts/slapd-test-instance.sh stop "$dir/ldap-inc" >/dev/null 2>&1
/usr/sbin/slapadd -F "$dir/ldap-inc/slapd.d" -n 1 -q -w -l "$dir/init.ldif"
bash scripts/slapd-test-instance.sh restart "$dir/ldap-inc" >/dev/null
config "$uc" "$dir/w2" > "$dir/inc.toml"
conf=$dir/inc.toml
inc_first_s=$(run incfirst --now 2025-09-04 "$dir/c1")
inc_all=(); inc_read_all=()
for i in $(seq "$repeat"); do
  inc_all+=("$(run "inc$i" --now 2025-09-04 "$dir/c1")")
  inc_read_all+=("$(perf_of "inc$i" read_secs)")
  [ "$(perf_of "inc$i" read_mode)" = incremental ] \
    || { echo "bench: run inc$i did a $(perf_of "inc$i" read_mode) read" >&2; exit 1; }
done
inc_s=$(best "${inc_all[@]}"); inc_read_s=$(best "${inc_read_all[@]}")
inc_delta_s=$(run incdelta --now 2025-09-05 "$dir/d1")
unset conf

p() { perf "$dir/$1.json" "$2"; }
first_ops=$(p first apply_operations); first_apply=$(p first apply_secs)
read_n=$(p same read_entries)
# a Delta reads the directory alone (it is played over what is read)
alone_n=$(p dry1 read_entries)
parse_b=$(p same parse_bytes); parse_s=$(p same parse_secs)
delta_ops=$(p delta apply_operations)
week_ops=$(p week apply_operations); week_apply=$(p week apply_secs)

cat <<EOT

| measure ($entries entries, ${xml_mb} MB of XML) | aaf-sync | reference (same run) | ratio |
|---|---|---|---|
| write, first sync (entries/s) | $(rate "$first_ops" "$first_apply") | ldapadd $(rate "$entries" "$ldapadd_s") | $(ratio "$(rate "$first_ops" "$first_apply" | tr -d ,)" "$(rate "$entries" "$ldapadd_s" | tr -d ,)") |
| read of the managed tree, alone (Delta dry run; entries/s; best of $repeat) | $(rate "$alone_n" "$alone_s") | ldapsearch paged $(rate "$entries" "$search_s") | $(ratio "$(rate "$alone_n" "$alone_s" | tr -d ,)" "$(rate "$entries" "$search_s" | tr -d ,)") |
| read of the managed tree, beside the parse (no-change Complet; entries/s; best of $repeat) | $(rate "$read_n" "$read_s") | ldapsearch paged $(rate "$entries" "$search_s") | $(ratio "$(rate "$read_n" "$read_s" | tr -d ,)" "$(rate "$entries" "$search_s" | tr -d ,)") |
| parse + map (MB/s, 1 core, beside the read) | $(python3 -c "print(f'{$parse_b / 1e6 / max($parse_s, 1e-9):.1f}')") | | |
| modify, next-week Complet (operations/s) | $(rate "$week_ops" "$week_apply") | ldapmodify $(rate "$mods" "$ldapmodify_s") | $(ratio "$(rate "$week_ops" "$week_apply" | tr -d ,)" "$(rate "$mods" "$ldapmodify_s" | tr -d ,)") |
| spread over $repeat runs (min–max) | read beside the parse $(spread "${read_all[@]}"); read alone $(spread "${alone_all[@]}"); no-change Complet $(spread "${same_all[@]}") | ldapsearch $(spread "${search_all[@]}") | |
| no-change Complet, whole run, syncprov server, incremental read (s; best of $repeat) | $inc_s | plain server, full read: $same_s | $(ratio "$inc_s" "$same_s") |
| read of the managed tree, incremental, no change (s; best of $repeat) | $inc_read_s | full read beside the parse: $read_s | $(ratio "$inc_read_s" "$read_s") |
| realistic Delta of a day ($(p incdelta apply_operations) operations), whole run, syncprov server ($(p incdelta read_mode) read; s) | $inc_delta_s (its read: $(secs 0 "$(p incdelta read_secs)") s, $(p incdelta read_entries) entries) | plain server: $delta_s (its read: $(secs 0 "$(p delta read_secs)") s) | $(ratio "$inc_delta_s" "$delta_s") |
| syncprov server: first run (full read, writes the copy; s) / spread of the incremental no-change Complet | $inc_first_s / $(spread "${inc_all[@]}") | | |
| first sync, whole run (s) | $first_s | ldapadd $ldapadd_s, slapadd -q $slapadd_s | |
| no-change Complet, whole run (s; best of $repeat) | $same_s | | |
| realistic Delta of a day ($delta_ops operations), whole run, targeted read (s) | $delta_s (read $(p delta read_entries) entries in $(secs 0 "$(p delta read_secs)") s, plan $(secs 0 "$(p delta plan_secs)") s, apply $(secs 0 "$(p delta apply_secs)") s) | | |
| the same Delta, dry run, targeted read (s; best of $repeat) | $tdry_s ($(spread "${tdry_all[@]}")) | over the whole tree: $dry_s ($(spread "${dry_all[@]}")) | $(ratio "$tdry_s" "$dry_s") |
| next-week Complet ($week_ops operations), whole run (s) | $week_s | | |
| peak RSS first / no-change / Delta / next week (MiB) | $(p first peak_rss_mib | cut -d. -f1) / $(p same peak_rss_mib | cut -d. -f1) / $(p delta peak_rss_mib | cut -d. -f1) / $(p week peak_rss_mib | cut -d. -f1) | | |
| entry store file, largest, first / no-change / Delta / next week (MiB) | $(p first store_peak_mib | cut -d. -f1) / $(p same store_peak_mib | cut -d. -f1) / $(p delta store_peak_mib | cut -d. -f1) / $(p week store_peak_mib | cut -d. -f1) | | |
EOT
