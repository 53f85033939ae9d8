//! The IDX reader and the MNIST layout, on files written here and on the real MNIST.

use std::path::Path;

use linclass_data::idx::{encode_idx, read_idx};
use linclass_data::mnist::{self, DIGITS, Split};
use linclass_data::official::Expect;
use linclass_tests::{mnist_dir, write_gz};

/// Writes a small MNIST-layout folder: `n` images of 3×2 pixels and `n` labels.
fn write_set(dir: &Path, n: usize, gz: bool) -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..n * 6).map(|i| (i * 37 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let images = encode_idx(&[n, 3, 2], &pixels);
    let label_bytes = encode_idx(&[n], &labels);
    for (stem, bytes) in [
        ("train-images-idx3-ubyte", &images),
        ("train-labels-idx1-ubyte", &label_bytes),
        ("t10k-images-idx3-ubyte", &images),
        ("t10k-labels-idx1-ubyte", &label_bytes),
    ] {
        if gz {
            write_gz(&dir.join(format!("{stem}.gz")), bytes);
        } else {
            std::fs::write(dir.join(stem), bytes).unwrap();
        }
    }
    (pixels, labels)
}

/// Reads a small (custom subset) copy.
fn read_small(dir: &Path, split: Split) -> linclass_data::Result<linclass_data::ImageSet> {
    let subset = Expect {
        subset: true,
        ..Default::default()
    };
    mnist::read_split(
        dir,
        split,
        &DIGITS,
        &subset,
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
}

fn error_of(dir: &Path) -> String {
    read_small(dir, Split::Train).unwrap_err().to_string()
}

#[test]
fn raw_and_gzip_files_read_the_same() {
    for gz in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let (pixels, labels) = write_set(tmp.path(), 12, gz);
        let set = read_small(tmp.path(), Split::Test).unwrap();
        assert_eq!(set.len(), 12);
        assert_eq!(set.shape(), [1, 3, 2]);
        assert_eq!(set.image(5), &pixels[30..36]);
        assert_eq!(set.label(11), labels[11] as usize);
        assert_eq!(set.classes().len(), 10);
    }
}

#[test]
fn wrong_magic_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, false);
    let path = tmp.path().join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = 0x1f;
    bytes[1] = 0x00;
    std::fs::write(&path, &bytes).unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
    assert!(e.contains("(0x1f000803") && e.contains("needs 2051"), "{e}");
}

#[test]
fn unsupported_element_type_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, false);
    let path = tmp.path().join("train-labels-idx1-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[2] = 0x0d;
    std::fs::write(&path, &bytes).unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("train-labels-idx1-ubyte"), "{e}");
    assert!(
        e.contains("element type 0x0d") && e.contains("needs 2049 (0x00000801: unsigned bytes"),
        "{e}"
    );
}

#[test]
fn truncated_data_and_header_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, true);
    let path = tmp.path().join("train-images-idx3-ubyte.gz");
    let full = encode_idx(&[4, 3, 2], &[7; 24]);
    write_gz(&path, &full[..full.len() - 5]);
    let e = error_of(tmp.path());
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
    assert!(
        e.contains("truncated: dimensions [4, 3, 2] need 24 data bytes, file has 19"),
        "{e}"
    );

    write_gz(&path, &full[..9]);
    let e = error_of(tmp.path());
    assert!(e.contains("truncated IDX header"), "{e}");

    let mut long = full.clone();
    long.push(0);
    write_gz(&path, &long);
    assert!(error_of(tmp.path()).contains("trailing bytes"));
}

#[test]
fn corrupt_gzip_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, true);
    let path = tmp.path().join("train-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("train-labels-idx1-ubyte.gz"), "{e}");
    assert!(e.contains("corrupt gzip"), "{e}");
}

#[test]
fn gzip_size_trailer_that_lies_is_an_error() {
    // The trailer's size is only a hint for the buffer: 4 GiB claimed by a tiny file must
    // neither be allocated nor accepted.
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 4, true);
    let path = tmp.path().join("train-images-idx3-ubyte.gz");
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("train-images-idx3-ubyte.gz"), "{e}");
    assert!(e.contains("corrupt gzip"), "{e}");
}

#[test]
fn count_mismatch_names_both_files() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 5, false);
    std::fs::write(
        tmp.path().join("train-labels-idx1-ubyte"),
        encode_idx(&[4], &[1, 2, 3, 4]),
    )
    .unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("4 labels do not match the 5 images"), "{e}");
    assert!(e.contains("train-images-idx3-ubyte"), "{e}");
}

#[test]
fn label_out_of_range_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 3, false);
    std::fs::write(
        tmp.path().join("train-labels-idx1-ubyte"),
        encode_idx(&[3], &[1, 10, 3]),
    )
    .unwrap();
    let e = error_of(tmp.path());
    assert!(
        e.contains("label 10 at index 1 is out of range (expected 0 to 9)"),
        "{e}"
    );
}

#[test]
fn wrong_rank_and_missing_files_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_set(tmp.path(), 3, false);
    std::fs::write(
        tmp.path().join("train-images-idx3-ubyte"),
        encode_idx(&[18], &[0; 18]),
    )
    .unwrap();
    let e = error_of(tmp.path());
    assert!(
        e.contains("magic number 2049") && e.contains("images file needs 2051"),
        "{e}"
    );

    std::fs::remove_file(tmp.path().join("train-images-idx3-ubyte")).unwrap();
    let e = error_of(tmp.path());
    assert!(e.contains("missing train-images-idx3-ubyte.gz"), "{e}");
}

#[test]
fn idx_header_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("x.idx");
    std::fs::write(&path, encode_idx(&[2, 2, 2, 1], &[1, 2, 3, 4, 5, 6, 7, 8])).unwrap();
    let arr = read_idx(&path).unwrap();
    assert_eq!(arr.dims, vec![2, 2, 2, 1]);
    assert_eq!(arr.data, vec![1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn real_mnist_is_intact_and_well_known() {
    mnist::verify_embedded().unwrap();
    let train = mnist::read_split(
        &mnist_dir(),
        Split::Train,
        &DIGITS,
        &Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .unwrap();
    let test = mnist::read_split(
        &mnist_dir(),
        Split::Test,
        &DIGITS,
        &Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    assert_eq!(train.shape(), [1, 28, 28]);
    // The first training digit is a 5, the first test digits are 7, 2, 1.
    assert_eq!(train.label(0), 5);
    assert_eq!((test.label(0), test.label(1), test.label(2)), (7, 2, 1));
    // Well-known class counts of the test split.
    assert_eq!(
        test.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // Borders are background, the centre of a digit is ink.
    let img = test.image(0);
    assert_eq!(img[0], 0);
    assert!(img.iter().filter(|&&v| v > 128).count() > 50);
}
