#!/usr/bin/env bash
# Stable build check of the fuzz targets, as run by CI.
#
# Running the fuzzers needs nightly Rust and cargo-fuzz (see fuzz/README.md); type-checking them
# does not, so CI runs this from the repository root to keep every target compiling against the
# current plog-crypto API. The fuzz crate is its own workspace, so this uses fuzz/Cargo.lock and
# fuzz/target, not the root workspace's.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo check --bins --manifest-path fuzz/Cargo.toml "$@"
