//! `wsx`: a ready WebSocket server with a demo web app (`serve`), an interactive client
//! (`connect`) and a load generator (`bench`); `completions` and `man` for the shell and the
//! manual.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod bench;
mod connect;
mod docs;
mod serve;
mod values;

use bench::BenchArgs;
use connect::ConnectArgs;
use serve::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "wsx",
    version,
    about = "WebSocket server, client and load generator"
)]
struct Cli {
    /// Log level (error, warn, info, debug, trace) or a RUST_LOG-style filter; RUST_LOG is
    /// used when this is not given.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the demo web app (chat with rooms, live comments), /echo, /metrics and /healthz.
    Serve(ServeArgs),
    /// Connect to a WebSocket server: type lines to send them, see what arrives.
    #[command(after_help = connect::AFTER_HELP)]
    Connect(ConnectArgs),
    /// Load-test an echo server and report throughput and latency.
    Bench(BenchArgs),
    /// Print a completion script for a shell (e.g. `wsx completions bash >
    /// /etc/bash_completion.d/wsx`).
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one per command into a directory.
    Man {
        /// Write wsx.1, wsx-serve.1, wsx-connect.1 and wsx-bench.1 here instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).unwrap_or_else(|_| EnvFilter::new("info")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => return docs::completions(*shell, Cli::command()),
        Command::Man { dir } => return docs::man(dir.as_deref(), Cli::command()),
        _ => {}
    }
    init_logging(cli.log.as_deref());
    let threads = match &cli.command {
        Command::Bench(b) => b.threads,
        _ => None,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(t) = threads {
        rt.worker_threads(t.max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wsx: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Connect(a) => connect::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::Completions { .. } | Command::Man { .. } => ExitCode::SUCCESS,
        }
    })
}
