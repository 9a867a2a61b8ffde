//! Hands this package's directory to the build scripts of the packages depending on it
//! (`DEP_WSX_WEB_ROOT`, through the `links` key): `wsx-cli`'s build script compiles these
//! sources for `wasm32-unknown-unknown`, from the workspace or from the registry alike.

// A build script talks to cargo on stdout.
#![allow(clippy::print_stdout)]

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    println!("cargo:root={root}");
    println!("cargo:rerun-if-changed=build.rs");
}
