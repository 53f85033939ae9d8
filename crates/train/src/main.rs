fn main() -> std::process::ExitCode {
    linclass::cli::main()
}
