//! `wsx bench`: a load generator (a helper implements it).

use std::process::ExitCode;

use crate::BenchArgs;

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> ExitCode {
    eprintln!("wsx bench {}: not implemented yet", args.url);
    ExitCode::FAILURE
}
