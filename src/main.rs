//! The `ftpfs` binary: parse arguments, set up logging, run, map the outcome to an exit status
//! (0 ok, 1 runtime or mount error, 2 usage error).

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
    init_logging(cli.verbose);
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

/// Warnings by default, more with each -v; RUST_LOG, when set, wins.
fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .init();
}
