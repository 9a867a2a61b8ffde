//! `wsx completions` and `wsx man`: scripts every shell loads, and manual pages for every
//! command, from the same definitions as `--help`.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn wsx(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(args: &[&str]) -> String {
    let out = wsx(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completion_scripts_for_each_shell_know_the_flags() {
    let bash = stdout(&["completions", "bash"]);
    assert!(bash.contains("complete -F _wsx"), "{bash}");
    assert!(bash.contains("--show-ping-pong") && bash.contains("--proxy"));
    assert!(stdout(&["completions", "zsh"]).starts_with("#compdef wsx"));
    assert!(stdout(&["completions", "fish"]).contains("complete -c wsx"));
    assert!(stdout(&["completions", "powershell"]).contains("Register-ArgumentCompleter"));
    assert_eq!(wsx(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn manual_pages_for_wsx_and_each_command() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH wsx 1"), "{page}");
    assert!(page.contains("connect"));
    let dir = tempfile::tempdir().unwrap();
    stdout(&["man", "--dir", dir.path().to_str().unwrap()]);
    for name in ["wsx", "wsx-serve", "wsx-connect", "wsx-bench"] {
        let page = std::fs::read_to_string(dir.path().join(format!("{name}.1"))).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
        assert!(page.contains(env!("CARGO_PKG_VERSION")), "{name}");
    }
    let connect = std::fs::read_to_string(dir.path().join("wsx-connect.1")).unwrap();
    assert!(connect.contains("\\-\\-execute"), "{connect}");
    assert!(!dir.path().join("wsx-man.1").exists());
}
