fn main() -> std::process::ExitCode {
    linclass::memory::keep_freed_memory();
    linclass::cli::main()
}
