//! The downloader against an HTTP server on 127.0.0.1: a good archive, a wrong checksum, a
//! truncated transfer, and a failing first mirror. Nothing half-written may be left behind.

use std::path::Path;

use linclass_data::fetch::{RemoteFile, Silent, fetch};
use linclass_data::mnist::Split;
use linclass_data::{DataSource, DatasetKind};
use linclass_tests::{Reply, TestServer, md5_hex, tar_gz, write_cifar10};

fn archive() -> Vec<u8> {
    let src = tempfile::tempdir().unwrap();
    let dir = write_cifar10(src.path(), 2);
    tar_gz(&dir)
}

fn remote(urls: Vec<String>, md5: String) -> RemoteFile {
    RemoteFile {
        name: "cifar-10-binary.tar.gz".into(),
        md5,
        urls,
        extract: true,
    }
}

/// Names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn good_archive_is_verified_and_extracted() {
    let bytes = archive();
    let server = TestServer::start(vec![("/c10.tgz", Reply::Body(bytes.clone()))]);
    let dest = tempfile::tempdir().unwrap();
    fetch(
        &remote(vec![server.url("/c10.tgz")], md5_hex(&bytes)),
        dest.path(),
        &mut Silent,
    )
    .unwrap();
    // Only the extracted folder remains: no archive, no temporary file.
    assert_eq!(listing(dest.path()), vec!["cifar-10-batches-bin"]);
    let mut src = DataSource::new(DatasetKind::Cifar10);
    src.dir = dest.path().to_path_buf();
    src.subset = true;
    let set = src.open(Split::Test, &mut Silent).unwrap().set;
    assert_eq!(set.len(), 2);
}

#[test]
fn wrong_checksum_leaves_nothing() {
    let bytes = archive();
    let server = TestServer::start(vec![("/c10.tgz", Reply::Body(bytes))]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(
        &remote(vec![server.url("/c10.tgz")], "0".repeat(32)),
        dest.path(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("does not match the expected 00000000000000000000000000000000"),
        "{e}"
    );
    assert!(e.contains("put it in"), "{e}");
    assert!(
        listing(dest.path()).is_empty(),
        "{:?}",
        listing(dest.path())
    );
}

#[test]
fn truncated_transfer_leaves_nothing() {
    let bytes = archive();
    let half = bytes.len() / 2;
    let server = TestServer::start(vec![("/c10.tgz", Reply::Truncated(bytes.clone(), half))]);
    let dest = tempfile::tempdir().unwrap();
    let e = fetch(
        &remote(vec![server.url("/c10.tgz")], md5_hex(&bytes)),
        dest.path(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(&server.url("/c10.tgz")), "{e}");
    assert!(
        listing(dest.path()).is_empty(),
        "{:?}",
        listing(dest.path())
    );
}

#[test]
fn failing_mirror_is_followed_by_the_next() {
    let bytes = archive();
    let server = TestServer::start(vec![
        ("/bad/cifar-10-binary.tar.gz", Reply::Status(500)),
        ("/good/cifar-10-binary.tar.gz", Reply::Body(bytes.clone())),
    ]);
    let dest = tempfile::tempdir().unwrap();
    let file =
        remote(vec![], md5_hex(&bytes)).with_mirrors(&[server.url("/bad"), server.url("/good/")]);
    fetch(&file, dest.path(), &mut Silent).unwrap();
    assert_eq!(
        server.requests(),
        vec![
            "/bad/cifar-10-binary.tar.gz",
            "/good/cifar-10-binary.tar.gz"
        ]
    );
    assert_eq!(listing(dest.path()), vec!["cifar-10-batches-bin"]);
}

#[test]
fn all_mirrors_failing_says_what_to_do() {
    let server = TestServer::start(vec![("/x/cifar-10-binary.tar.gz", Reply::Status(503))]);
    let dest = tempfile::tempdir().unwrap();
    let file = remote(
        vec![
            server.url("/x/cifar-10-binary.tar.gz"),
            server.url("/y/cifar-10-binary.tar.gz"),
        ],
        "a".repeat(32),
    );
    let e = fetch(&file, dest.path(), &mut Silent)
        .unwrap_err()
        .to_string();
    assert!(e.contains("503") && e.contains("404"), "{e}");
    assert!(e.contains("then extract it there"), "{e}");
    assert!(listing(dest.path()).is_empty());
}
