use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = robcert::cli::Cli::parse();
    match robcert::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(robcert::cli::ERROR_STATUS)
        }
    }
}
