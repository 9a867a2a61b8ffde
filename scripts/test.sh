#!/usr/bin/env bash
# Runs every test of wsx on a fresh machine: installs what the interop tests need (Node `ws`,
# Python `websockets`), checks formatting, lints, rust-versions, every feature combination and
# that every crate packages and builds from its package, runs unit, integration and interop
# tests, then a bounded fuzz smoke run of every cargo-fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s ==\n' "$*"; }

step "interop peers (npm, pip, chromium)"
bash interop/setup.sh

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "rust-version (each crate's is at least what its dependencies declare, and builds with it)"
python3 scripts/check-rust-version.py
# Built with the toolchains themselves: a dependency may need more than it declares (yrs 0.28
# declares nothing and needs 1.95), and our own code may use something newer than it claims.
# The crates whose rust-version is the current stable's are built by every step below.
for v in 1.85 1.86; do
    rustup toolchain list | grep -q "^$v" || rustup toolchain install "$v" --profile minimal
done
cargo +1.85 check --locked -p wsx-proto -p wsx --all-features
cargo +1.86 check --locked -p wsx-socketio --all-features

step "features (every combination of each crate's features builds: cargo hack)"
if ! cargo hack --version >/dev/null 2>&1; then
    cargo install cargo-hack --locked
fi
# Only the libraries' own code: dev-dependencies would turn features on for every check.
# `tls` and `default` only name sets of the other features (no code tests for them), so the
# combinations of the others already cover them. wsx's `axum` adds one module over `hyper` that
# no other feature changes: it is checked alone and with every other feature, not in each of
# the 2^10 combinations (which would add 136 checks, ~10 minutes).
cargo hack check --workspace --feature-powerset --no-dev-deps --exclude-features tls,default,axum
cargo check -p wsx --no-default-features --features axum
cargo check -p wsx --all-features

step "packaging (cargo publish --dry-run of every crate, each built from its package)"
# cargo unpacks the packages it verifies against into its registry directory and builds them
# in target/package, once per version (registry sources never change), and reuses both on later
# runs even when our crates changed: drop what an earlier run left.
rm -rf target/package "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/wsx-* "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/-*/wsx-*
cargo publish --workspace --dry-run --allow-dirty

step "tests (unit, integration, interop, headless Chromium, doc)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A hung test must fail the run, not eat CI's budget: the whole step normally takes ~10 min;
# cargo reports a test "running for over 60 seconds" by name, so the culprit is in the log.
if ! timeout --kill-after=30 2400 cargo test --workspace --all-features 2>&1 | tee "$log"; then
    echo "tests failed (or exceeded 40 min: look for 'running for over 60 seconds')" >&2
    exit 1
fi

step "tests with other feature sets (the run above has every feature on)"
# TLS with the default features (ring, webpki-roots; above: aws-lc-rs, native roots), and the
# core without permessage-deflate.
cargo test -p wsx --lib --test tls 2>&1 | tee -a "$log"
cargo test -p wsx-proto --no-default-features 2>&1 | tee -a "$log"

totals=$(awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "%d passed, %d failed, %d skipped", p, f, i }' "$log")

step "fuzz smoke"
bash scripts/fuzz-smoke.sh

step "done"
echo "tests: $totals"
