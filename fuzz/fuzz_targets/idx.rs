//! The MNIST layout from bytes to the finished `ImageSet`: an images file and a labels file
//! (each raw or gzip, one member or several) cut from one input. An error or a consistent set,
//! never a panic, and never an allocation the input does not justify.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linclass_data::idx::{gunzip_if_gz, parse_idx};
use linclass_data::mnist::{DIGITS, parse_split};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    // The generic reader on the whole input.
    if let Ok(bytes) = gunzip_if_gz(data, path)
        && let Ok(arr) = parse_idx(&bytes, path)
    {
        assert_eq!(arr.data.len(), arr.dims.iter().product::<usize>());
        assert_eq!(bytes.len(), 4 + 4 * arr.dims.len() + arr.data.len());
    }
    // The first two bytes say where the images file ends and the labels file starts.
    let Some((cut, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let cut = (u16::from_le_bytes(*cut) as usize).min(rest.len());
    let (images, labels) = rest.split_at(cut);
    let (ipath, lpath) = (Path::new("images.idx"), Path::new("labels.idx"));
    let (Ok(images), Ok(labels)) = (gunzip_if_gz(images, ipath), gunzip_if_gz(labels, lpath)) else {
        return;
    };
    if let Ok(set) = parse_split(&images, &labels, ipath, lpath, &DIGITS) {
        let [c, h, w] = set.shape();
        assert_eq!(c, 1);
        assert!(h > 0 && w > 0 && !set.is_empty());
        assert_eq!(set.image(set.len() - 1).len(), h * w);
        assert!(set.labels().iter().all(|&l| l < 10));
    }
});
