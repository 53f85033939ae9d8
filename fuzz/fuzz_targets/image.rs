//! An image folder's file from bytes to the pixels that go into the `ImageSet`: any format the
//! decoder recognizes (PNG, JPEG, GIF, WebP, TIFF, …), EXIF orientation, alpha flattened onto paper,
//! resizing, at the shape the input chooses. An error or exactly C × H × W bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use linclass_data::decode::decode_bytes;

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, size], bytes)) = data.split_first_chunk::<2>() else {
        return;
    };
    let channels = if mode % 2 == 0 { 1 } else { 3 };
    let side = 1 + (size % 64) as usize;
    let shape = [channels, side, side + (mode as usize / 2) % 8];
    if let Ok(pixels) = decode_bytes(bytes, shape, Path::new("fuzz.img")) {
        assert_eq!(pixels.len(), shape.iter().product::<usize>());
    }
});
