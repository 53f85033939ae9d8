//! The `linclass` command (see `linclass --help`).

fn main() -> std::process::ExitCode {
    linclass::run_cli()
}
