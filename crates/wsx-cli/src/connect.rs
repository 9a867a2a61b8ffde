//! `wsx connect`: an interactive client (a helper implements it).

use std::process::ExitCode;

use crate::ConnectArgs;

/// Runs the client.
pub async fn run(args: ConnectArgs) -> ExitCode {
    eprintln!("wsx connect {}: not implemented yet", args.url);
    ExitCode::FAILURE
}
