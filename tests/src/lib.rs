//! Helpers shared by the end-to-end tests: the CLI binary, the real MNIST, small files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `linclass` binary of the same build profile as the running test.
pub fn linclass_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/linclass
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join(format!("linclass{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build --release -p linclass` (`just test` does)",
        bin.display()
    );
    bin
}

/// Runs the CLI with `args` in `cwd`.
pub fn linclass(cwd: &Path, args: &[&str]) -> Output {
    Command::new(linclass_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run linclass")
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The folder of the MNIST copy shipped with the project.
pub fn mnist_dir() -> PathBuf {
    PathBuf::from(linclass_data::mnist::EMBEDDED_DIR)
}

/// Writes bytes gzip-compressed.
pub fn write_gz(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    std::fs::write(path, enc.finish().unwrap()).unwrap();
}
