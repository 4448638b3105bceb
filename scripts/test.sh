#!/usr/bin/env bash
# test.sh - the whole test suite: installs what it needs (slapd, ldap-utils),
# checks formatting and lints, then runs every test (unit, golden, and the
# integration tests that start real slapd instances), then a small run of the
# benchmark script.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
# (--all-targets runs the criterion benches of the pure stages once each)
# the benchmark script, small, so that it keeps working (figures not checked)
bash scripts/bench.sh 4 20
