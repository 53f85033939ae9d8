//! CIFAR binary files from bytes to the finished `ImageSet`, in the CIFAR-10 (1 label byte)
//! and CIFAR-100 (2 label bytes, fine or coarse) forms, split into two files at a point the
//! input chooses.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linclass_data::cifar::parse_set;

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, cut], bytes)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (label_bytes, label_at, classes) = match mode % 3 {
        0 => (1, 0, 10),
        1 => (2, 1, 100),
        _ => (2, 0, 20),
    };
    let names: Vec<String> = (0..classes).map(|i| format!("class {i}")).collect();
    let at = (cut as usize * (3072 + label_bytes)).min(bytes.len());
    let (a, b) = bytes.split_at(at);
    let files = [(Path::new("a.bin"), a), (Path::new("b.bin"), b)];
    if let Ok(set) = parse_set(&files, label_bytes, label_at, names) {
        assert_eq!(set.shape(), [3, 32, 32]);
        assert_eq!(bytes.len(), set.len() * (3072 + label_bytes));
        assert!(set.labels().iter().all(|&l| (l as usize) < classes));
    }
});
