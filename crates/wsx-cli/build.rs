//! Builds the pad's WebAssembly module (crate `wsx-web` for `wasm32-unknown-unknown`) and puts
//! it in `OUT_DIR/pad.wasm`, which `src/serve/assets.rs` embeds as `/pad.wasm`.
//!
//! `wsx-web` is a dependency of this package only for its `links` key: its build script hands
//! ours its directory (`DEP_WSX_WEB_ROOT`), in this workspace or in cargo's registry alike.
//! A nested cargo does the build, in release with the size-first settings below and with the
//! outer cargo's environment cleared, so nothing meant for the native build (target, flags,
//! profile, wrappers) leaks into it. In this workspace it builds `-p wsx-web` with the
//! workspace's lock file, in `target/wasm` (the outer cargo holds the lock of its own target
//! directory). Anywhere else (`cargo install wsx-cli`, `cargo publish`'s verification) it
//! builds a copy of the sources under `OUT_DIR`, as a workspace of its own. It shares the
//! outer cargo's jobserver, so `-j` still holds. If the `wasm32-unknown-unknown` target is
//! missing, it is installed with rustup.

// A build script talks to cargo on stdout.
#![allow(clippy::print_stdout)]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let web = PathBuf::from(
        env::var_os("DEP_WSX_WEB_ROOT").expect("wsx-web's build script sets DEP_WSX_WEB_ROOT"),
    );
    // This workspace: wsx-web sits beside this package, under the same root.
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .filter(|root| same_dir(&root.join("crates/wsx-web"), &web))
        .map(Path::to_path_buf);
    for path in [web.join("src"), web.join("Cargo.toml")] {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    if let Some(root) = &workspace {
        println!(
            "cargo:rerun-if-changed={}",
            root.join("Cargo.lock").display()
        );
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    ensure_target(&rustc);

    let mut cmd = Command::new(&cargo);
    clean_env(&mut cmd);
    let target_dir = match &workspace {
        Some(root) => {
            cmd.current_dir(root).args([
                "build",
                "--locked",
                "--release",
                "-p",
                "wsx-web",
                "--lib",
            ]);
            root.join("target/wasm")
        }
        None => {
            let src = out_dir.join("wsx-web");
            copy_package(&web, &src);
            cmd.current_dir(&src).args(["build", "--release", "--lib"]);
            out_dir.join("wasm-target")
        }
    };
    cmd.args(["--target", TARGET])
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
            "could not run {} to build wsx-web for {TARGET}: {e}",
            Path::new(&cargo).display()
        )
    });
    assert!(
        status.success(),
        "building wsx-web ({}) for {TARGET} failed ({status}); its messages are above",
        web.display()
    );
    let wasm = target_dir.join(TARGET).join("release/wsx_web.wasm");
    std::fs::copy(&wasm, out_dir.join("pad.wasm"))
        .unwrap_or_else(|e| panic!("copying {}: {e}", wasm.display()));
}

/// Whether two paths name the same existing directory.
fn same_dir(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// Copies the packaged `wsx-web` (its manifest, build script and `src/`) to `to`, its manifest
/// made a workspace of its own: a registry's copy is not ours to write a lock file into, and
/// under `OUT_DIR` cargo would otherwise look for a workspace above it.
fn copy_package(from: &Path, to: &Path) {
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let dest = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &dest)?;
            } else {
                std::fs::copy(entry.path(), dest)?;
            }
        }
        Ok(())
    }
    let copy = || -> std::io::Result<()> {
        copy_dir(&from.join("src"), &to.join("src"))?;
        std::fs::copy(from.join("build.rs"), to.join("build.rs"))?;
        let mut manifest = std::fs::read_to_string(from.join("Cargo.toml"))?;
        if !manifest.lines().any(|l| l.trim() == "[workspace]") {
            manifest.push_str("\n[workspace]\n");
        }
        std::fs::write(to.join("Cargo.toml"), manifest)
    };
    copy().unwrap_or_else(|e| {
        panic!(
            "copying wsx-web from {} to {}: {e}",
            from.display(),
            to.display()
        )
    });
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
