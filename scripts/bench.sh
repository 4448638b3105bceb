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
# Writes are compared with the same operations: the first sync with
# ldapadd of the entries it creates, the next week's Complet with ldapmodify
# of its own plan (the LDIF its dry run prints) on a copy of the same
# directory (slapcat, slapadd). What bounds them is shown in CPU: slapd's
# (read from /proc) and aaf-sync's (the report's perf.apply_cpu_secs), per
# 1,000 operations and in cores busy while writing.
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
# CPU seconds slapd NAME has used so far (user and system, every thread)
tck=$(getconf CLK_TCK)
slapd_cpu() {
  local pid; pid=$(cat "$dir/ldap-$1/slapd.pid")
  [ "$(cat "/proc/$pid/comm")" = slapd ] || { echo "bench: pid $pid is not slapd" >&2; exit 1; }
  # utime and stime: fields 14 and 15, counted after the command's ")"
  python3 -c "import sys; f=open(f'/proc/{sys.argv[1]}/stat').read().rsplit(')',1)[1].split(); print((int(f[11]) + int(f[12])) / $tck)" "$pid"
}
# slapd's CPU, in cores busy on average, over a wall time
cores() { python3 -c "print(f'{$1 / max($2, 1e-9):.2f}')"; }
# CPU seconds per 1,000 operations
per_k() { python3 -c "print(f'{$1 * 1000 / max($2, 1):.3f}')"; }
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
c0=$(slapd_cpu ref)
t0=$(now); ldapadd $A -H "$ua" -f "$dir/init.ldif" >/dev/null; t1=$(now)
ldapadd_s=$(secs "$t0" "$t1")
ldapadd_cpu=$(python3 -c "print($(slapd_cpu ref) - $c0)")
grep '^dn: uid=' "$dir/init.ldif" | sed 's/$/\nchangetype: modify\nreplace: title\ntitle: bench\n/' >"$dir/mods.ldif"
mods=$(grep -c '^dn:' "$dir/mods.ldif")
t0=$(now); ldapmodify $A -H "$ua" -f "$dir/mods.ldif" >/dev/null; t1=$(now)
ldapmodify_s=$(secs "$t0" "$t1")
bash scripts/slapd-test-instance.sh stop "$dir/ldap-ref" >/dev/null 2>&1
rm -rf "$dir/ldap-ref" # its disk, for the next servers
# what the server can write at most: the same entries by 4 ldapadd at once
# (the base and the branches first, then every other entry dealt in turn)
python3 - "$dir/init.ldif" "$dir/par" <<'PY'
import sys
head, parts = [], [[], [], [], []]
n = 0
for rec in open(sys.argv[1]).read().strip().split('\n\n'):
    dn = rec.split('\n', 1)[0]
    if dn.count(',') - dn.count('\\,') <= 2:
        head.append(rec)
    else:
        parts[n % 4].append(rec)
        n += 1
open(sys.argv[2] + '.head', 'w').write('\n\n'.join(head) + '\n\n')
for i, p in enumerate(parts):
    open(f'{sys.argv[2]}.{i}', 'w').write('\n\n'.join(p) + '\n\n')
PY
up=$(start par empty)
ldapadd $A -H "$up" -f "$dir/par.head" >/dev/null
c0=$(slapd_cpu par)
t0=$(now)
pids=()
for i in 0 1 2 3; do ldapadd $A -H "$up" -f "$dir/par.$i" >/dev/null & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || { echo "bench: a parallel ldapadd failed" >&2; exit 1; }; done
t1=$(now)
par_s=$(secs "$t0" "$t1")
par_cpu=$(python3 -c "print($(slapd_cpu par) - $c0)")
bash scripts/slapd-test-instance.sh stop "$dir/ldap-par" >/dev/null 2>&1
rm -rf "$dir/ldap-par" "$dir"/par.*
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
c0=$(slapd_cpu sync)
first_s=$(run first --now 2025-09-04 "$dir/c1")
# slapd's CPU of the first sync is its writes': the tree it reads is empty
first_cpu=$(python3 -c "print($(slapd_cpu sync) - $c0)")
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
# the next week's plan, as its dry run prints it (the LDIF ldapmodify
# applies), applied by ldapmodify to a copy of the directory: the modify
# reference of the same operations on the same state. slapd's CPU of the
# real run's writes is that run's less its dry run's (same read, same plan)
c0=$(slapd_cpu sync)
"$bin/aaf-sync" sync --config "$dir/sync.toml" --now 2025-09-12 --dry-run --report "$dir/weekdry.json" \
  "$dir/c8" >"$dir/week-plan.ldif" 2>"$dir/weekdry.err" || [ $? -eq 1 ] || { cat "$dir/weekdry.err" >&2; exit 1; }
week_dry_cpu=$(python3 -c "print($(slapd_cpu sync) - $c0)")
week_plan_ops=$(grep -c '^dn:' "$dir/week-plan.ldif" || true)
/usr/sbin/slapcat -F "$dir/ldap-sync/slapd.d" -n 1 -l "$dir/state.ldif"
start copy empty >/dev/null
bash scripts/slapd-test-instance.sh stop "$dir/ldap-copy" >/dev/null 2>&1
/usr/sbin/slapadd -F "$dir/ldap-copy/slapd.d" -n 1 -q -l "$dir/state.ldif"
uw=$(bash scripts/slapd-test-instance.sh restart "$dir/ldap-copy" 2>/dev/null)
rm -f "$dir/state.ldif"
c0=$(slapd_cpu copy)
t0=$(now); ldapmodify $A -H "$uw" -f "$dir/week-plan.ldif" >/dev/null; t1=$(now)
week_ldapmodify_s=$(secs "$t0" "$t1")
week_ldapmodify_cpu=$(python3 -c "print($(slapd_cpu copy) - $c0)")
bash scripts/slapd-test-instance.sh stop "$dir/ldap-copy" >/dev/null 2>&1
rm -rf "$dir/ldap-copy"
c0=$(slapd_cpu sync)
week_s=$(run week --now 2025-09-12 "$dir/c8")
week_cpu=$(python3 -c "print(max($(slapd_cpu sync) - $c0 - $week_dry_cpu, 0))")

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
| write, first sync, beside the server's most (entries/s) | $(rate "$first_ops" "$first_apply") | 4 ldapadd at once $(rate "$entries" "$par_s") (slapd $(cores "$par_cpu" "$par_s") cores busy) | $(ratio "$(rate "$first_ops" "$first_apply" | tr -d ,)" "$(rate "$entries" "$par_s" | tr -d ,)") |
| read of the managed tree, alone (Delta dry run; entries/s; best of $repeat) | $(rate "$alone_n" "$alone_s") | ldapsearch paged $(rate "$entries" "$search_s") | $(ratio "$(rate "$alone_n" "$alone_s" | tr -d ,)" "$(rate "$entries" "$search_s" | tr -d ,)") |
| read of the managed tree, beside the parse (no-change Complet; entries/s; best of $repeat) | $(rate "$read_n" "$read_s") | ldapsearch paged $(rate "$entries" "$search_s") | $(ratio "$(rate "$read_n" "$read_s" | tr -d ,)" "$(rate "$entries" "$search_s" | tr -d ,)") |
| parse + map (MB/s, 1 core, beside the read) | $(python3 -c "print(f'{$parse_b / 1e6 / max($parse_s, 1e-9):.1f}')") | | |
| modify, next-week Complet (operations/s) | $(rate "$week_ops" "$week_apply") | ldapmodify of the same plan ($week_plan_ops operations), same state $(rate "$week_plan_ops" "$week_ldapmodify_s") | $(ratio "$(rate "$week_ops" "$week_apply" | tr -d ,)" "$(rate "$week_plan_ops" "$week_ldapmodify_s" | tr -d ,)") |
| modify, next-week Complet, beside a simpler reference (operations/s) | $(rate "$week_ops" "$week_apply") | ldapmodify of one attribute of each person $(rate "$mods" "$ldapmodify_s") | $(ratio "$(rate "$week_ops" "$week_apply" | tr -d ,)" "$(rate "$mods" "$ldapmodify_s" | tr -d ,)") |
| CPU of the first sync's writes, per 1,000 entries (s): slapd / aaf-sync | $(per_k "$first_cpu" "$first_ops") / $(per_k "$(p first apply_cpu_secs)" "$first_ops") | slapd under ldapadd $(per_k "$ldapadd_cpu" "$entries") | |
| cores busy while writing the first sync: slapd / aaf-sync ($(nproc) cores) | $(cores "$first_cpu" "$first_apply") / $(cores "$(p first apply_cpu_secs)" "$first_apply") | slapd under ldapadd $(cores "$ldapadd_cpu" "$ldapadd_s") | |
| CPU of the next week's writes, per 1,000 operations (s): slapd / aaf-sync | $(per_k "$week_cpu" "$week_ops") / $(per_k "$(p week apply_cpu_secs)" "$week_ops") | slapd under ldapmodify of the same plan $(per_k "$week_ldapmodify_cpu" "$week_plan_ops") | |
| cores busy while writing the next week: slapd / aaf-sync ($(nproc) cores) | $(cores "$week_cpu" "$week_apply") / $(cores "$(p week apply_cpu_secs)" "$week_apply") | slapd under ldapmodify $(cores "$week_ldapmodify_cpu" "$week_ldapmodify_s") | |
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
