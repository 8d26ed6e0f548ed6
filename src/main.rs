//! The `ftpfs` binary: parse arguments, set up logging (`ftpfs::logging`), run, map the outcome
//! to an exit status (0 ok, 1 runtime or mount error, 2 usage error).

use std::process::ExitCode;

use clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;

fn main() -> ExitCode {
    let cli = match ftpfs::cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        // --help, --version, and the help shown for a bare `ftpfs`.
        Err(e) if !e.use_stderr() || e.kind() == DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        Err(e) => {
            eprintln!("ftpfs: {}", ftpfs::cli::one_line(&e));
            return ExitCode::from(2);
        }
    };
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
