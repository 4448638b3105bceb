#!/usr/bin/env bash
# bench-delta.sh - what a day's Delta costs at a given size, against a local
# slapd loaded offline (export-ldif + slapadd -q: minutes even at 1.5 million
# entries, where bench.sh's online first load and reference tools take an
# hour):
#
#   bash scripts/bench-delta.sh [SCHOOLS [PUPILS_PER_SCHOOL]]   (default 400 100: ~100k entries)
#   bash scripts/bench-delta.sh 4000 150                        (~1.5 million entries)
#   BENCH_DEGREE=2d bash scripts/bench-delta.sh 960 600         (2D, ~1.5 million)
#   BENCH_ACADEMIES=2 bash scripts/bench-delta.sh 4000 150      (~3 million: a second
#                         académie, AC-VERSAILLES, its own population, in the same tree)
#
# It times, on the same server and tree: the Delta's dry run on its targeted
# read (the default) and over the whole tree (`targeted_delta = false`), best
# of BENCH_REPEAT (default 3) each, interleaved; then the Delta applied
# (targeted), once. Prints Markdown rows for BENCHMARKS.md. BENCH_DIR keeps
# the files (default: a temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
schools=${1:-400}
pupils=${2:-100}
degree=${BENCH_DEGREE:-1d}
academies=${BENCH_ACADEMIES:-1}
repeat=${BENCH_REPEAT:-3}
export PATH="$HOME/.cargo/bin:$PATH"
export MDB_MAXSIZE=${MDB_MAXSIZE:-17179869184}
cargo build --release --quiet --bins --features generator
bin=${CARGO_TARGET_DIR:-$root/target}/release
dir=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$dir"
keep=${BENCH_DIR:+1}
cleanup() {
  [ -f "$dir/ldap/slapd.pid" ] && bash scripts/slapd-test-instance.sh stop "$dir/ldap" >/dev/null 2>&1 || true
  [ -n "$keep" ] || rm -rf "$dir"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
best() { python3 -c "import sys; print(f'{min(map(float, sys.argv[1:])):.2f}')" "$@"; }
spread() { python3 -c "import sys; v=sorted(map(float, sys.argv[1:])); print(f'{v[0]:.2f}–{v[-1]:.2f} s')" "$@"; }
perf() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['perf'][sys.argv[2]])" "$1" "$2"; }
step() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['steps'][0]$2)" "$1"; }

echo "generating $schools schools x $pupils pupils ($degree)..." >&2
gen() { "$bin/aaf-gen" --degree "$degree" "$@"; }
gen --out "$dir/c1" --schools "$schools" --schools-outside 0 \
  --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null
gen --out "$dir/d1" --delta --days 1 --date 20250905 --schools "$schools" --schools-outside 0 \
  --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=$(LDAP_NO_BASE=1 MDB_FAST=1 bash scripts/slapd-test-instance.sh start "$dir/ldap" "$port" 2>/dev/null)
echo secret > "$dir/pw"; chmod 600 "$dir/pw"
config() { # WORKDIR [EXTRA SOURCE LINE]
  cat <<EOC
[ldap]
url = "$url"
bind_dn = "cn=admin,dc=example,dc=org"
bind_password_file = "$dir/pw"
base_dn = "dc=example,dc=org"
[source]
name = "AC-CRETEIL"
degree = "$degree"
${2:-}
[perimeter]
all = true
[paths]
work_dir = "$1"
[safety]
max_departures = 100000000
max_departures_percent = 100.0
max_renames = 100000000
max_renames_percent = 100.0
EOC
}
config "$dir/wt" > "$dir/targeted.toml"
config "$dir/ww" "targeted_delta = false" > "$dir/whole.toml"
echo "loading the Complet offline (export-ldif, slapadd -q)..." >&2
"$bin/aaf-sync" export-ldif --config "$dir/targeted.toml" --now 2025-09-04 --with-base \
  --out "$dir/init.ldif" "$dir/c1" 2>/dev/null
if [ "$academies" = 2 ]; then
  # the other académie: its own people (another seed), source and DNs; its
  # branch entries (the first four records) are the first one's
  gen --out "$dir/c2" --seed 2 --schools "$schools" --schools-outside 0 \
    --pupils-per-school "$pupils" --part-size 200000 --utf8 >/dev/null
  sed 's/"AC-CRETEIL"/"AC-VERSAILLES"/' "$dir/targeted.toml" > "$dir/other.toml"
  "$bin/aaf-sync" export-ldif --config "$dir/other.toml" --now 2025-09-04 \
    --out "$dir/other.ldif" "$dir/c2" 2>/dev/null
  awk 'BEGIN { RS = ""; ORS = "\n\n" } NR > 4' "$dir/other.ldif" >> "$dir/init.ldif"
  rm -f "$dir/other.ldif"
  rm -rf "$dir/c2"
fi
entries=$(grep -c '^dn:' "$dir/init.ldif")
bash scripts/slapd-test-instance.sh stop "$dir/ldap" >/dev/null 2>&1
/usr/sbin/slapadd -F "$dir/ldap/slapd.d" -n 1 -q -l "$dir/init.ldif"
rm -f "$dir/init.ldif"
bash scripts/slapd-test-instance.sh restart "$dir/ldap" >/dev/null

run() { # NAME CONFIG ARGS... -> wall seconds; report in $dir/NAME.json
  local name=$1 conf=$2; shift 2
  local t0 t1
  t0=$(now)
  AAF_SYNC_LOG=${AAF_SYNC_LOG:-info} "$bin/aaf-sync" sync --config "$conf" --report "$dir/$name.json" "$@" >/dev/null 2>"$dir/$name.err" \
    || { cat "$dir/$name.err" >&2; exit 1; }
  t1=$(now)
  secs "$t0" "$t1"
}
t_all=(); w_all=()
for i in $(seq "$repeat"); do
  echo "dry runs $i/$repeat..." >&2
  t_all+=("$(run "t$i" "$dir/targeted.toml" --now 2025-09-05 --dry-run "$dir/d1")")
  [ "$(perf "$dir/t$i.json" read_mode)" = targeted ] \
    || { echo "bench: run t$i did a $(perf "$dir/t$i.json" read_mode) read" >&2; exit 1; }
  w_all+=("$(run "w$i" "$dir/whole.toml" --now 2025-09-05 --dry-run "$dir/d1")")
done
t_s=$(best "${t_all[@]}"); w_s=$(best "${w_all[@]}")
for i in $(seq "$repeat"); do
  [ "$(best "${t_all[$((i - 1))]}")" = "$t_s" ] && { cp "$dir/t$i.json" "$dir/t.json"; break; }
done
for i in $(seq "$repeat"); do
  [ "$(best "${w_all[$((i - 1))]}")" = "$w_s" ] && { cp "$dir/w$i.json" "$dir/w.json"; break; }
done
echo "the Delta, applied..." >&2
a_s=$(run apply "$dir/targeted.toml" --now 2025-09-05 "$dir/d1")
rss() { perf "$dir/$1.json" peak_rss_mib | cut -d. -f1; }
# the rails' counts of a targeted Delta are lower bounds when its verdict needed no more
at_least() { python3 -c "import json,sys; print('at least ' if json.load(open(sys.argv[1]))['safety'].get('active_at_least') else '')" "$dir/$1.json"; }
cat <<EOT

| the next day's Delta ($entries entries, $degree) | targeted read (default) | over the whole tree | ratio |
|---|---|---|---|
| dry run, whole process (s; best of $repeat) | $t_s ($(spread "${t_all[@]}")) | $w_s ($(spread "${w_all[@]}")) | $(python3 -c "print(f'{$t_s / max($w_s, 1e-9):.3f}')") |
| its read (entries; s) | $(perf "$dir/t.json" read_entries); $(secs 0 "$(perf "$dir/t.json" read_secs)") | $(perf "$dir/w.json" read_entries); $(secs 0 "$(perf "$dir/w.json" read_secs)") | |
| its plan, with the parse (s) | $(secs 0 "$(python3 -c "import json; p=json.load(open('$dir/t.json'))['perf']; print(p['plan_secs'] + p['parse_secs'])")") | $(secs 0 "$(python3 -c "import json; p=json.load(open('$dir/w.json'))['perf']; print(p['plan_secs'] + p['parse_secs'])")") | |
| people computed again, of the active ones | $(step "$dir/t.json" "['delta_scope']['people']") of $(at_least t)$(step "$dir/t.json" "['delta_scope']['people_total']") | all | |
| peak RSS (MiB) | $(rss t) | $(rss w) | |
| the Delta applied, whole run, targeted ($(perf "$dir/apply.json" apply_operations) operations; s) | $a_s (read $(secs 0 "$(perf "$dir/apply.json" read_secs)") s, apply $(secs 0 "$(perf "$dir/apply.json" apply_secs)") s, peak RSS $(rss apply) MiB) | | |
EOT
