//! `wsx completions SHELL` and `wsx man`: shell completion scripts (clap_complete) and manual
//! pages (clap_mangen), generated from the same definitions as `--help`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> ExitCode {
    let name = cmd.get_name().to_owned();
    clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Writes the manual page of `wsx` to stdout, or one page per command into `dir`.
pub fn man(dir: Option<&Path>, cmd: clap::Command) -> ExitCode {
    let result = match dir {
        None => render(&cmd).and_then(|page| {
            let mut out = std::io::stdout().lock();
            out.write_all(&page)?;
            out.flush()
        }),
        Some(dir) => write_pages(dir, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wsx: cannot write the manual: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    Ok(page)
}

/// `wsx.1`, then `wsx-<sub>.1` for each command but the documentation ones.
fn write_pages(dir: &Path, cmd: clap::Command) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = cmd.get_name().to_owned();
    std::fs::write(dir.join(format!("{name}.1")), render(&cmd)?)?;
    for sub in cmd.get_subcommands() {
        if matches!(sub.get_name(), "completions" | "man" | "help") {
            continue;
        }
        let full = format!("{name}-{}", sub.get_name());
        let page = sub
            .clone()
            .name(full.clone())
            .version(env!("CARGO_PKG_VERSION"));
        std::fs::write(dir.join(format!("{full}.1")), render(&page)?)?;
    }
    Ok(())
}
