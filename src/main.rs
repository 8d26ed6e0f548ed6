//! The `ftpfs` binary: parse arguments, set up logging (`ftpfs::logging`), run, map the outcome
//! to an exit status (0 ok, 1 runtime or mount error, 2 usage error).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ftpfs::cli::Cli::parse();
    ftpfs::logging::init(cli.verbose);
    let action = match ftpfs::cli::translate(cli) {
        Ok(action) => action,
        Err(e) => {
            eprintln!("ftpfs: {e}");
            return ExitCode::from(e.exit_code);
        }
    };
    match ftpfs::run(action) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.reported {
                eprintln!("ftpfs: {e}");
            }
            ExitCode::FAILURE
        }
    }
}
