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

/// The repository root (configs/ and data/ are found from there).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The decoded-image cache folder of the tests (not the user's): under the system's temp folder.
pub fn test_cache_dir() -> PathBuf {
    std::env::temp_dir().join("linclass-tests-cache")
}

/// The CLI with `args` in `cwd` (with the tests' own decoded-image cache folder), not started.
pub fn linclass_command(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(linclass_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env("LINCLASS_CACHE", test_cache_dir());
    cmd
}

/// Runs the CLI with `args` in `cwd` (see [`linclass_command`]).
pub fn linclass(cwd: &Path, args: &[&str]) -> Output {
    linclass_command(cwd, args).output().expect("run linclass")
}

/// Starts the CLI with `args` in the repository root, stdout and stderr piped.
pub fn spawn_linclass(args: &[&str]) -> std::process::Child {
    linclass_command(&repo_root(), args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start linclass")
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

/// What the test HTTP server answers for a path.
#[derive(Clone)]
pub enum Reply {
    /// 200 with this body.
    Body(Vec<u8>),
    /// This status, empty body.
    Status(u16),
    /// 200 announcing the full length but sending only the first `sent` bytes, then closing.
    Truncated(Vec<u8>, usize),
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves fixed replies by path, logs
/// the paths asked for, and stops when dropped.
pub struct TestServer {
    pub port: u16,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(routes: Vec<(&str, Reply)>) -> Self {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Vec<(String, Reply)> = routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // Bounded: a test makes a handful of requests.
            for stream in listener.incoming().take(64) {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                log2.lock().unwrap().push(path.clone());
                let reply = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, r)| r.clone())
                    .unwrap_or(Reply::Status(404));
                let _ = match reply {
                    Reply::Body(body) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|_| stream.write_all(&body)),
                    Reply::Status(code) => stream.write_all(
                        format!("HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .as_bytes(),
                    ),
                    Reply::Truncated(body, sent) => stream
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|_| stream.write_all(&body[..sent])),
                };
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        Self {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CIFAR-style pixels for record `i` of class `label`: each class has its own colour, so that a
/// linear model can learn it; a little variation per record.
pub fn cifar_pixels(label: usize, i: usize) -> Vec<u8> {
    let mut px = Vec::with_capacity(3072);
    let label = label % 10;
    let bases = [
        label * 22 + 10,
        230 - label * 22,
        (label * 7 % 10) * 22 + 10,
    ];
    for base in bases {
        let base = base as u8;
        for j in 0..1024 {
            px.push(base.wrapping_add(((i * 7 + j) % 31) as u8));
        }
    }
    px
}

/// The record files of CIFAR-10's binary release: the five training batches, then the test one.
pub fn cifar10_files() -> Vec<String> {
    (1..=5)
        .map(|i| format!("data_batch_{i}.bin"))
        .chain(["test_batch.bin".to_string()])
        .collect()
}

/// Writes a CIFAR-10 binary folder (`cifar-10-batches-bin`) under `root`, `per_file` records
/// in each of the six files.
pub fn write_cifar10(root: &Path, per_file: usize) -> PathBuf {
    let dir = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let names = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
    std::fs::write(dir.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();
    for (f, name) in cifar10_files().iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..per_file {
            let label = (i + f) % 10;
            bytes.push(label as u8);
            bytes.extend(cifar_pixels(label, i));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Writes a CIFAR-100 binary folder (`cifar-100-binary`) under `root`; the coarse label of fine
/// class k is k / 5.
pub fn write_cifar100(root: &Path, train: usize, test: usize) -> PathBuf {
    let dir = root.join("cifar-100-binary");
    std::fs::create_dir_all(&dir).unwrap();
    let fine: Vec<String> = (0..100).map(|i| format!("fine{i}")).collect();
    let coarse: Vec<String> = (0..20).map(|i| format!("coarse{i}")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), fine.join("\n")).unwrap();
    std::fs::write(dir.join("coarse_label_names.txt"), coarse.join("\n")).unwrap();
    for (name, n) in [("train.bin", train), ("test.bin", test)] {
        let mut bytes = Vec::new();
        for i in 0..n {
            let label = i % 100;
            bytes.push((label / 5) as u8);
            bytes.push(label as u8);
            bytes.extend(cifar_pixels(label, i));
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    dir
}

/// Packs `dir` (recursively, under its own name) into a tar.gz archive in memory.
pub fn tar_gz(dir: &Path) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(enc);
    builder
        .append_dir_all(dir.file_name().unwrap(), dir)
        .unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

/// MD5 of bytes, as lower-case hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    linclass_data::official::hex(&md5::Md5::digest(bytes))
}

/// The real MNIST split shipped with the project, as an `ImageSet` (panics if it cannot be read).
pub fn real_mnist(split: linclass_data::mnist::Split) -> linclass_data::ImageSet {
    use linclass_data::mnist;
    mnist::read_split(
        &mnist_dir(),
        split,
        &mnist::DIGITS,
        &linclass_data::official::Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .expect("the shipped MNIST reads")
}

/// A JPEG with an EXIF Orientation tag, as a phone camera writes it.
pub fn jpeg_with_orientation(img: &image::RgbImage, orientation: u16) -> Vec<u8> {
    use image::ImageEncoder as _;
    // TIFF header (little-endian), one IFD entry: tag 0x0112 Orientation, SHORT, count 1.
    let mut exif = b"II*\0".to_vec();
    exif.extend(8u32.to_le_bytes());
    exif.extend(1u16.to_le_bytes());
    exif.extend(0x0112u16.to_le_bytes());
    exif.extend(3u16.to_le_bytes());
    exif.extend(1u32.to_le_bytes());
    exif.extend(orientation.to_le_bytes());
    exif.extend([0, 0]);
    exif.extend(0u32.to_le_bytes());
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    out
}

/// Debian's Chromium, for the tests that check pages in a browser (CI installs it). Without it
/// such a test has nothing to check: it says so and returns `None`, or, with `CI` set, fails.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed, and CI is set: install Debian's chromium"
        );
        eprintln!("chromium is not installed: the page was not checked in a browser");
    }
    found
}
