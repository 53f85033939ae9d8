//! The face: the `linclass` command line. Parses the arguments, runs one command, and turns
//! its error into one line on stderr and an exit status. Each command is a short sequence over
//! the layers below (train = fit, then draw the curves, then say where the run is); only this
//! layer prints progress bars.

mod args;
mod bench;
mod data;
mod infer;
mod inspect;
mod serve;
mod sweep;
mod terminal;
mod train;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use crate::backend::Backend;
use crate::cli::args::{Cli, Command};
use crate::fit::interrupt::Interrupted;

/// Runs the `linclass` command line on the process's arguments: what the binary does. Errors
/// are printed as one line and give exit status 2 (130 after Ctrl-C; clap's usage errors 2).
pub fn main() -> ExitCode {
    crate::memory::keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            if e.is::<Interrupted>() {
                ExitCode::from(130)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let backend = cli.backend.unwrap_or_else(Backend::default_compiled);
    match cli.command {
        Command::Train(args) => train::train(args, backend),
        Command::Eval(args) => inspect::eval(args, backend),
        Command::Predict(args) => infer::predict(args, backend),
        Command::Serve(args) => serve::serve(args, backend),
        Command::BenchServe(args) => serve::bench_serve(args, backend),
        Command::Templates(args) => inspect::templates(args, backend),
        Command::Report { run } => inspect::report(&run, backend),
        Command::Export(args) => infer::export(args, backend),
        Command::Sweep(args) => sweep::sweep(args, backend),
        Command::Gradcheck(args) => train::gradcheck(args, backend),
        Command::Data { command } => data::data(command),
        Command::Bench(args) => bench::bench(args, backend),
        Command::BenchDecode(args) => bench::bench_decode(args),
    }
}
