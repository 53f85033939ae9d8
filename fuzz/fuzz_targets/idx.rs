//! The IDX reader on arbitrary bytes (raw or gzip): an error or a consistent array, never a
//! panic, and never an allocation the input does not justify.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linclass_data::idx::{gunzip_if_gz, parse_idx};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.idx");
    let Ok(bytes) = gunzip_if_gz(data.to_vec(), path) else {
        return;
    };
    if let Ok(arr) = parse_idx(&bytes, path) {
        assert_eq!(arr.data.len(), arr.dims.iter().product::<usize>());
        assert_eq!(bytes.len(), 4 + 4 * arr.dims.len() + arr.data.len());
    }
});
