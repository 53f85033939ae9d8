//! The CIFAR record parser on arbitrary bytes, in its CIFAR-10 (1 label byte) and CIFAR-100
//! (2 label bytes, fine or coarse) forms.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linclass_data::cifar::parse_records;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let (label_bytes, label_at, classes) = match mode % 3 {
        0 => (1, 0, 10),
        1 => (2, 1, 100),
        _ => (2, 0, 20),
    };
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    if parse_records(
        bytes,
        Path::new("fuzz.bin"),
        label_bytes,
        label_at,
        classes,
        &mut pixels,
        &mut labels,
    )
    .is_ok()
    {
        assert_eq!(pixels.len(), labels.len() * 3072);
        assert_eq!(bytes.len(), labels.len() * (3072 + label_bytes));
        assert!(labels.iter().all(|&l| (l as usize) < classes));
    }
});
