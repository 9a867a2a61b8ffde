//! Builds the pad's WebAssembly module (`crates/wsx-web` for `wasm32-unknown-unknown`) and puts
//! it in `OUT_DIR/pad.wasm`, which `src/serve/assets.rs` embeds as `/pad.wasm`.
//!
//! A nested cargo does the build, in release with the size-first settings below, in its own
//! target directory (`target/wasm`: the outer cargo holds the lock of its own) and with the outer
//! cargo's environment cleared, so nothing meant for the native build (target, flags, profile,
//! wrappers) leaks into it. It shares the outer cargo's jobserver, so `-j` still holds. If the
//! `wasm32-unknown-unknown` target is missing, it is installed with rustup.

// A build script talks to cargo on stdout.
#![allow(clippy::print_stdout)]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("crates/wsx-cli is two levels below the workspace root")
        .to_path_buf();
    let web = workspace.join("crates/wsx-web");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for path in [
        web.join("src"),
        web.join("Cargo.toml"),
        workspace.join("Cargo.lock"),
    ] {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target(&rustc);

    let target_dir = workspace.join("target/wasm");
    let mut cmd = Command::new(&cargo);
    clean_env(&mut cmd);
    cmd.current_dir(&workspace)
        .args(["build", "--locked", "--release", "-p", "wsx-web", "--lib"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTC", &rustc)
        // Smallest code, whole-program optimization, no unwinding, no debug info or names.
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z")
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false")
        // Its messages go to our stderr, never to our stdout (cargo reads that).
        .stdout(Stdio::null());
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "could not run {} to build crates/wsx-web for {TARGET}: {e}",
            Path::new(&cargo).display()
        )
    });
    assert!(
        status.success(),
        "building crates/wsx-web for {TARGET} failed ({status}); its messages are above"
    );
    let wasm = target_dir.join(TARGET).join("release/wsx_web.wasm");
    std::fs::copy(&wasm, out_dir.join("pad.wasm"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
}

/// Removes what the outer cargo set for this build script or for its own build; keeps what
/// says where cargo's home, registries and network settings are, and the jobserver.
fn clean_env(cmd: &mut Command) {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_MAKEFLAGS",
        "CARGO_NET_",
        "CARGO_HTTP_",
        "CARGO_REGISTRIES_",
        "CARGO_REGISTRY_",
        "CARGO_TERM_",
    ];
    const DROP: &[&str] = &[
        "RUSTFLAGS",
        "RUSTDOCFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "OUT_DIR",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "CLIPPY_ARGS",
        "CLIPPY_CONF_DIR",
        "RUSTC_BOOTSTRAP",
    ];
    for (key, _) in env::vars_os() {
        let Some(k) = key.to_str() else { continue };
        let cargo_var = (k.starts_with("CARGO") || k.starts_with("__CARGO"))
            && !KEEP.iter().any(|p| k.starts_with(p));
        if cargo_var || DROP.contains(&k) || k.starts_with("DEP_") {
            cmd.env_remove(&key);
        }
    }
}

/// Installs the wasm32 target with rustup if the compiler's sysroot lacks it.
fn ensure_target(rustc: &OsString) {
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else { return };
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return;
    }
    println!(
        "cargo:warning=the {TARGET} target (for the pad's WebAssembly) is missing: installing it with `rustup target add {TARGET}`"
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    let ok = rustup
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the {TARGET} target is missing and `rustup target add {TARGET}` failed: install it and build again"
    );
}
