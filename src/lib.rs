//! mxcall: place and answer Matrix voice calls from the command line.
//!
//! `run` is the whole program: parse, set up logging and the runtime, dispatch to a command,
//! and turn the result into an exit status in one place (`error::exit_status`).

pub mod audio;
pub mod callers;
pub mod cli;
pub mod commands;
pub mod docs;
pub mod e2ee;
pub mod engine;
pub mod error;
pub mod events;
pub mod exit;
pub mod homeserver;
pub mod identity;
pub mod livekit;
pub mod matrixrtc;
pub mod media;
pub mod output;
pub mod profile;
pub mod signalling;
pub mod transport;

use std::process::ExitCode;

use clap::Parser;

pub fn run() -> ExitCode {
    // Before anything could be written: every file mxcall creates is private to the user.
    // SAFETY: umask only swaps the process file-mode mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                error::exit::USAGE
            } else {
                error::exit::OK
            });
        }
    };
    init_logging(cli.verbose, cli.quiet);
    // One thread runs every task (the engine, the sync, each call's media): a call is a few
    // dozen small wake-ups a second, which a work-stealing pool only spreads over threads that
    // then wake each other (most of a connected call's CPU was the kernel switching them). No
    // task may block it: audio sources and sinks return at once by contract, SQLite and file
    // work goes through `spawn_blocking`.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return ExitCode::from(error::exit_status(Err(error::Error::other(
                "cannot start the runtime",
                e,
            ))));
        }
    };
    let verbose = cli.verbose;
    let result = runtime.block_on(async {
        let result = commands::dispatch(cli).await;
        // Every store guard went with the command; let matrix-sdk write the released lease.
        homeserver::let_go_of_store_lock().await;
        result
    });
    let status = error::exit_status(result);
    // Don't wait for background tasks of the SDK; the command has finished. Cutting them off can
    // make one of them panic (seen: matrix-sdk-sqlite unwrapping a cancelled query); that says
    // nothing about the command, so it is only reported with -v, and the process ends there
    // with the command's own status: the release build aborts on a panic (`panic = "abort"`,
    // Cargo.toml), which would otherwise turn a finished command into a crash.
    std::panic::set_hook(Box::new(move |info| {
        if verbose > 0 {
            eprintln!("mxcall: (ignored while shutting down) {info}");
        }
        std::process::exit(i32::from(status));
    }));
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(status)
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "off",
        (false, 0) => "off,mxcall=warn",
        (false, 1) => "warn,mxcall=debug",
        (false, 2) => "info,mxcall=trace",
        _ => "debug,mxcall=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
