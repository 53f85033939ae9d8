//! Images and datasets as people really have them, written here the way phones, browsers,
//! drawing apps, other compressors and other operating systems write them: each is read as a
//! viewer shows it, or refused with one line that names the file; never a panic, never a
//! silently wrong result.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageEncoder, Luma, LumaA, Rgb, RgbImage, Rgba, RgbaImage};
use linclass_data::cifar;
use linclass_data::decode::decode_bytes;
use linclass_data::fetch::Silent;
use linclass_data::folder::{FolderOptions, list, read_folder};
use linclass_data::idx::encode_idx;
use linclass_data::mnist::{self, DIGITS, Split};
use linclass_data::official::Expect;
use linclass_data::{DataSource, DatasetKind, ImageSet};
use linclass_tests::{
    describe, jpeg_with_orientation, linclass, mnist_dir, repo_root, write_cifar10, write_gz,
};

fn gz_member(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut out,
    )
    .unwrap();
    out
}

fn official() -> Expect {
    Expect::default()
}

fn subset() -> Expect {
    Expect {
        subset: true,
        ..Default::default()
    }
}

fn read_mnist(
    dir: &Path,
    split: Split,
    expect: &Expect,
) -> (linclass_data::Result<ImageSet>, Vec<String>) {
    let mut warnings = Vec::new();
    let set = mnist::read_split(
        dir,
        split,
        &DIGITS,
        expect,
        &mnist::MNIST_SUMS,
        &mut warnings,
    );
    (set, warnings)
}

/// Trains MNIST on 6,000 images for 2 epochs into `run`.
fn train_mnist(run: &Path) {
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--quiet",
            "--set",
            "data.train_limit=6000",
            "--set",
            "train.epochs=2",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

/// The classes `predict --json` gives each file, with their top probability.
fn predict(run: &Path, files: &[PathBuf], invert: bool) -> Vec<(usize, f64)> {
    let mut args = vec![
        "predict".to_string(),
        run.display().to_string(),
        "--json".into(),
    ];
    if invert {
        args.push("--invert".into());
    }
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let best = &p["top"][0];
            (
                best["index"].as_u64().unwrap() as usize,
                best["probability"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A palette PNG (colour type 3) whose entries are all black with transparency `i` for index
/// `i` (a tRNS chunk), as image editors save "indexed with transparency".
fn write_palette_png(path: &Path, w: u32, h: u32, indices: &[u8]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_palette(vec![0u8; 3 * 256]);
    enc.set_trns((0..=255u8).collect::<Vec<u8>>());
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(indices).unwrap();
}

#[test]
fn transparent_drawings_predict_as_ink_on_paper() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_mnist(&run);
    let (test, _) = read_mnist(&mnist_dir(), Split::Test, &official());
    let test = test.unwrap();
    let n = 20;
    let mut kinds: Vec<Vec<PathBuf>> = vec![Vec::new(); 6];
    for i in 0..n {
        let ink = test.image(i);
        let at = |x: u32, y: u32| ink[(y * 28 + x) as usize];
        let paths: Vec<PathBuf> = ["white", "rgba", "la", "palette", "light-rgba", "light-la"]
            .iter()
            .map(|k| tmp.path().join(format!("{k}-{i}.png")))
            .collect();
        // Dark ink on opaque white paper.
        GrayImage::from_fn(28, 28, |x, y| Luma([255 - at(x, y)]))
            .save(&paths[0])
            .unwrap();
        // Ink whose opacity is the stroke on a transparent canvas, as RGBA and as grey + alpha:
        // black (browser, drawing app), and white as a dark-mode app saves it, which is MNIST's
        // own picture on black paper (read without --invert).
        let transparent = |v: u8, rgba: &Path, la: &Path| {
            RgbaImage::from_fn(28, 28, |x, y| Rgba([v, v, v, at(x, y)]))
                .save(rgba)
                .unwrap();
            let grey = image::ImageBuffer::from_fn(28, 28, |x, y| LumaA([v, at(x, y)]));
            DynamicImage::ImageLumaA8(grey).save(la).unwrap();
        };
        transparent(0, &paths[1], &paths[2]);
        write_palette_png(&paths[3], 28, 28, ink);
        transparent(255, &paths[4], &paths[5]);
        for (k, p) in paths.into_iter().enumerate() {
            kinds[k].push(p);
        }
    }
    let on_white = predict(&run, &kinds[0], true);
    let correct = (0..n).filter(|&i| on_white[i].0 == test.label(i)).count();
    assert!(
        correct >= 16,
        "{correct}/{n} correct on white: {on_white:?}"
    );
    for (k, files) in kinds.iter().enumerate().skip(1) {
        let got = predict(&run, files, k < 4);
        for i in 0..n {
            assert_eq!(got[i].0, on_white[i].0, "kind {k}, digit {i}");
            assert!(
                (got[i].1 - on_white[i].1).abs() < 1e-6,
                "kind {k}, digit {i}"
            );
        }
    }
}

/// `img` encoded as a PNG file's bytes.
fn png_of(img: &RgbaImage) -> Vec<u8> {
    let mut png = Vec::new();
    let (w, h) = img.dimensions();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgba8)
        .unwrap();
    png
}

#[test]
fn alpha_is_flattened_onto_paper_that_keeps_ink_and_pictures_readable() {
    // Dark ink on a mostly transparent canvas.
    let img = RgbaImage::from_fn(6, 1, |x, _| match x {
        1 => Rgba([0, 0, 0, 255]),     // opaque black
        2 => Rgba([200, 0, 100, 255]), // opaque colour
        3 => Rgba([0, 0, 0, 128]),     // half-transparent black: mid grey
        _ => Rgba([0, 0, 0, 0]),       // transparent: white paper
    });
    let png = png_of(&img);
    let rgb = decode_bytes(&png, [3, 1, 6], Path::new("a.png")).unwrap();
    // Channel-major: R plane, G plane, B plane.
    assert_eq!(&rgb[0..6], &[255, 0, 200, 127, 255, 255]);
    assert_eq!(&rgb[6..12], &[255, 0, 0, 127, 255, 255]);
    assert_eq!(&rgb[12..18], &[255, 0, 100, 127, 255, 255]);
    let gray = decode_bytes(&png, [1, 1, 6], Path::new("a.png")).unwrap();
    assert_eq!((gray[0], gray[1], gray[3]), (255, 0, 127));

    // Light ink (alpha-weighted mean above mid-grey) on a mostly transparent canvas is flattened
    // onto black paper instead.
    let light = |ink: [u8; 3]| {
        let img = RgbaImage::from_fn(4, 1, |x, _| match x {
            1 => Rgba([ink[0], ink[1], ink[2], 255]),
            2 => Rgba([ink[0], ink[1], ink[2], 128]),
            _ => Rgba([0, 0, 0, 0]),
        });
        decode_bytes(&png_of(&img), [3, 1, 4], Path::new("ink.png")).unwrap()
    };
    // Channel-major: transparent, opaque, half-transparent, transparent in each plane.
    let planes = |a: [u8; 4], b: [u8; 4], c: [u8; 4]| [a, b, c].concat();
    assert_eq!(
        light([255, 255, 255]),
        planes([0, 255, 128, 0], [0, 255, 128, 0], [0, 255, 128, 0])
    );
    assert_eq!(
        light([255, 255, 0]),
        planes([0, 255, 128, 0], [0, 255, 128, 0], [0, 0, 0, 0])
    );
    // Ink at mid-grey or darker stays on white paper.
    assert_eq!(
        light([127, 127, 128]),
        planes(
            [255, 127, 191, 255],
            [255, 127, 191, 255],
            [255, 128, 191, 255]
        )
    );

    // A mostly opaque picture with transparent corners (a card, a window screenshot): the paper
    // continues its edge, white under a light card and black under a dark one, so the corners
    // are not read as ink.
    let card = |paper: u8, ink: u8| {
        let img = RgbaImage::from_fn(10, 10, |x, y| match (x, y) {
            (0 | 9, 0 | 9) => Rgba([ink, ink, ink, 0]),
            (5, 5) => Rgba([ink, ink, ink, 255]),
            _ => Rgba([paper, paper, paper, 255]),
        });
        let gray = decode_bytes(&png_of(&img), [1, 10, 10], Path::new("card.png")).unwrap();
        (gray[0], gray[99], gray[55])
    };
    assert_eq!(card(250, 0), (255, 255, 0));
    assert_eq!(card(10, 255), (0, 0, 255));
}

#[test]
fn a_header_claiming_a_huge_image_is_refused_before_allocating() {
    // A PNG (found by fuzzing) whose header says 5 × 2,113,929,220 pixels: 10 GB decoded.
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = 5u32.to_be_bytes().to_vec();
    ihdr.extend(2_113_929_220u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    zlib.write_all(&[0; 64]).unwrap();
    png.extend(chunk(b"IDAT", &zlib.finish().unwrap()));
    png.extend(chunk(b"IEND", &[]));
    let e = decode_bytes(&png, [1, 8, 8], Path::new("bomb.png"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bomb.png") && e.contains("5×2113929220") && e.contains("512 MiB"),
        "{e}"
    );
}

#[test]
fn exif_orientation_is_applied_before_resizing() {
    // Stored 40 wide × 20 high, bright on the left; "rotate 90° clockwise to show" puts the
    // bright half on top of a 20 × 40 picture.
    let stored = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([220, 220, 220])
        } else {
            Rgb([20, 20, 20])
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let rotated = tmp.path().join("phone.jpg");
    std::fs::write(&rotated, jpeg_with_orientation(&stored, 6)).unwrap();
    let px = linclass_data::decode::decode_image(&rotated, [1, 8, 4]).unwrap();
    let mean = |rows: std::ops::Range<usize>| {
        rows.clone()
            .flat_map(|r| &px[r * 4..r * 4 + 4])
            .map(|&v| v as f64)
            .sum::<f64>()
            / (4 * rows.len()) as f64
    };
    assert!(mean(0..3) > 180.0 && mean(5..8) < 60.0, "{px:?}");
    // Orientation 1 (as stored): bright on the left.
    std::fs::write(&rotated, jpeg_with_orientation(&stored, 1)).unwrap();
    let px = linclass_data::decode::decode_image(&rotated, [1, 4, 8]).unwrap();
    assert!(px[0] > 180 && px[7] < 60, "{px:?}");
    // In an image folder too: the rotated photo reads like the upright one.
    let upright = RgbImage::from_fn(20, 40, |_, y| {
        if y < 20 {
            Rgb([220, 220, 220])
        } else {
            Rgb([20, 20, 20])
        }
    });
    for (class, bytes) in [
        ("rotated", jpeg_with_orientation(&stored, 6)),
        ("upright", jpeg_with_orientation(&upright, 1)),
    ] {
        let dir = tmp.path().join("folder").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..2 {
            std::fs::write(dir.join(format!("{i}.jpg")), &bytes).unwrap();
        }
    }
    let options = FolderOptions {
        channels: 1,
        height: 8,
        width: 4,
        test_fraction: 0.5,
        skip_unreadable: false,
        cache: false,
    };
    let set = read_folder(&tmp.path().join("folder"), Split::Train, &options, 1)
        .unwrap()
        .set;
    let (a, b) = (set.image(0), set.image(1));
    assert_eq!((set.label(0), set.label(1)), (0, 1));
    let diff = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as i32 - y as i32).abs())
        .max()
        .unwrap();
    assert!(diff < 25, "rotated {a:?} vs upright {b:?}");
}

#[test]
fn multi_member_gzip_reads_whole() {
    let tmp = tempfile::tempdir().unwrap();
    // The real test split, recompressed as three members (pigz, `cat a.gz b.gz c.gz`).
    for stem in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        let raw = gunzip(&mnist_dir().join(format!("{stem}.gz")));
        let third = raw.len() / 3;
        let mut bytes = gz_member(&raw[..third]);
        bytes.extend(gz_member(&raw[third..2 * third]));
        bytes.extend(gz_member(&raw[2 * third..]));
        std::fs::write(tmp.path().join(format!("{stem}.gz")), bytes).unwrap();
    }
    let (set, warnings) = read_mnist(tmp.path(), Split::Test, &official());
    let set = set.unwrap();
    let (real, _) = read_mnist(&mnist_dir(), Split::Test, &official());
    assert_eq!(set, real.unwrap());
    // Compressed differently, same content: no MD5 warning.
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn impossible_idx_headers_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(d.join(name), bytes).unwrap();
    let labels = encode_idx(&[60], &[1; 60]);
    write("train-labels-idx1-ubyte", labels.clone());
    // A zero size.
    write("train-images-idx3-ubyte", encode_idx(&[60, 0, 28], &[]));
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("[60, 0, 28]") && e.contains("zero"),
        "{e}"
    );
    // No images at all.
    write("train-images-idx3-ubyte", encode_idx(&[0, 28, 28], &[]));
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(e.contains("[0, 28, 28]"), "{e}");
    // A labels file whose magic says 9 dimensions.
    write(
        "train-images-idx3-ubyte",
        encode_idx(&[60, 2, 2], &[0; 240]),
    );
    let mut nine = labels.clone();
    nine[3] = 9;
    write("train-labels-idx1-ubyte", nine);
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-labels-idx1-ubyte")
            && e.contains("magic number 2057")
            && e.contains("9 dimension(s)")
            && e.contains("needs 2049"),
        "{e}"
    );
    // Images and labels swapped; 4-dimensional images.
    write("train-labels-idx1-ubyte", labels.clone());
    write("train-images-idx3-ubyte", labels);
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("magic number 2049") && e.contains("needs 2051"),
        "{e}"
    );
    write(
        "train-images-idx3-ubyte",
        encode_idx(&[60, 1, 2, 2], &[0; 240]),
    );
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(e.contains("magic number 2052"), "{e}");
    // Unsigned bytes only.
    let mut floats = encode_idx(&[60, 2, 2], &[0; 240]);
    floats[2] = 0x0d;
    write("train-images-idx3-ubyte", floats);
    let e = read_mnist(d, Split::Train, &subset())
        .0
        .unwrap_err()
        .to_string();
    assert!(e.contains("element type 0x0d"), "{e}");
    // And from the CLI: one line, status 2, no panic.
    write("t10k-images-idx3-ubyte", encode_idx(&[60, 2, 2], &[0; 240]));
    write("t10k-labels-idx1-ubyte", encode_idx(&[60], &[1; 60]));
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--set",
            &format!("data.dir={}", d.display()),
            "--set",
            "data.subset=true",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("element type 0x0d"),
        "{err}"
    );
}

#[test]
fn official_files_cut_at_a_record_boundary_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_cifar10(tmp.path(), 1000);
    let e = cifar::read_cifar10(&dir, Split::Train, &official())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("data_batch_1.bin") && e.contains("1000 records") && e.contains("10000"),
        "{e}"
    );
    assert_eq!(
        cifar::read_cifar10(&dir, Split::Train, &subset())
            .unwrap()
            .len(),
        5000
    );

    // MNIST's training images cut to the first 1,000 (header rewritten to match).
    let cut = tmp.path().join("mnist-cut");
    std::fs::create_dir_all(&cut).unwrap();
    for stem in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
        let raw = gunzip(&mnist_dir().join(format!("{stem}.gz")));
        let bytes = if stem.contains("images") {
            encode_idx(&[1000, 28, 28], &raw[16..16 + 1000 * 784])
        } else {
            encode_idx(&[1000], &raw[8..1008])
        };
        write_gz(&cut.join(format!("{stem}.gz")), &bytes);
    }
    let (set, _) = read_mnist(&cut, Split::Train, &official());
    let e = set.unwrap_err().to_string();
    assert!(
        e.contains("1000 images") && e.contains("60000") && e.contains("data.subset"),
        "{e}"
    );
    assert_eq!(
        read_mnist(&cut, Split::Train, &subset()).0.unwrap().len(),
        1000
    );

    // A file of the official size whose content differs from the release: read, with a
    // warning that names the file and both sums.
    let altered = tmp.path().join("mnist-altered");
    std::fs::create_dir_all(&altered).unwrap();
    for stem in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
        let mut raw = gunzip(&mnist_dir().join(format!("{stem}.gz")));
        if stem.contains("images") {
            raw[16 + 300] ^= 0xff;
        }
        std::fs::write(altered.join(stem), raw).unwrap();
    }
    let (set, warnings) = read_mnist(&altered, Split::Test, &official());
    assert_eq!(set.unwrap().len(), 10_000);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("t10k-images-idx3-ubyte")
            && warnings[0].contains("2646ac647ad5339dbf082846283269ea"),
        "{warnings:?}"
    );
    // The unaltered raw labels match the content sum: no warning for them.
    assert!(!warnings[0].contains("labels"), "{warnings:?}");

    // The CLI prints the count error as one line.
    let out = linclass(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/cifar10.toml",
            "--set",
            &format!("data.dir={}", dir.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1000 records"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_broken_test_split_stops_training_before_the_first_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("mnist");
    std::fs::create_dir_all(&d).unwrap();
    let n = 50;
    let images = encode_idx(&[n, 28, 28], &vec![9u8; n * 784]);
    let labels = encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    for prefix in ["train", "t10k"] {
        write_gz(&d.join(format!("{prefix}-images-idx3-ubyte.gz")), &images);
        write_gz(&d.join(format!("{prefix}-labels-idx1-ubyte.gz")), &labels);
    }
    write_gz(
        &d.join("t10k-images-idx3-ubyte.gz"),
        &images[..images.len() - 784 * 3],
    );
    let run = tmp.path().join("run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--set",
            &format!("data.dir={}", d.display()),
            "--set",
            "data.subset=true",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("epoch"), "{stdout}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t10k-images-idx3-ubyte.gz") && err.contains("truncated"),
        "{err}"
    );
    assert!(!run.exists());
}

fn gray(value: u8) -> GrayImage {
    GrayImage::from_fn(6, 6, |x, y| Luma([value.wrapping_add((x * 3 + y) as u8)]))
}

fn small_options() -> FolderOptions {
    FolderOptions {
        channels: 1,
        height: 6,
        width: 6,
        test_fraction: 0.5,
        skip_unreadable: false,
        cache: false,
    }
}

#[test]
fn image_folders_read_every_supported_format_and_say_what_they_skip() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (class, value) in [("dark", 20u8), ("light", 200u8)] {
        let dir = root.join(class);
        std::fs::create_dir_all(dir.join("more")).unwrap();
        let img = DynamicImage::ImageLuma8(gray(value));
        for ext in [
            "png", "jpg", "bmp", "webp", "gif", "tiff", "pgm", "tga", "qoi",
        ] {
            // GIF and QOI encoders take colour.
            let img = match ext {
                "gif" => DynamicImage::ImageRgba8(img.to_rgba8()),
                "qoi" => DynamicImage::ImageRgb8(img.to_rgb8()),
                _ => img.clone(),
            };
            img.save(dir.join(format!("img.{ext}"))).unwrap();
        }
        // Subfolders of a class folder belong to the class.
        img.save(dir.join("more").join("IMG_0001.JPEG")).unwrap();
        std::fs::write(dir.join("photo.heic"), b"ftypheic").unwrap();
        std::fs::write(dir.join("drawing.svg"), b"<svg/>").unwrap();
        std::fs::write(dir.join("notes"), b"no extension").unwrap();
    }
    let src = {
        let mut s = DataSource::new(DatasetKind::Folder);
        s.dir = root.to_path_buf();
        s.folder = small_options();
        s
    };
    let train = src.open(Split::Train, &mut Silent).unwrap();
    let test = src.open(Split::Test, &mut Silent).unwrap();
    assert_eq!(train.set.len() + test.set.len(), 20);
    assert_eq!(train.set.class_counts(), vec![5, 5]);
    // Every format gave the same picture (JPEG and WebP within a few levels of the PNG).
    for i in 0..train.set.len() {
        let want = gray(if train.set.label(i) == 0 { 20 } else { 200 });
        let max = train
            .set
            .image(i)
            .iter()
            .zip(want.as_raw())
            .map(|(&a, &b)| (a as i32 - b as i32).abs())
            .max();
        assert!(max.unwrap() <= 12, "image {i}: {max:?}");
    }
    assert_eq!(train.warnings.len(), 1, "{:?}", train.warnings);
    let w = &train.warnings[0];
    assert!(
        w.contains("skipped 6 file(s)")
            && w.contains("2 .heic")
            && w.contains("2 .svg")
            && w.contains("2 without extension"),
        "{w}"
    );
    assert!(test.warnings.is_empty(), "{:?}", test.warnings);

    // From the CLI: the count appears as a warning of `data info`.
    let out = linclass(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/image-folder.toml",
            "--set",
            &format!("data.dir={}", root.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning:"),
        "{}",
        describe(&out)
    );
}

#[test]
fn os_debris_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for class in ["cat", "dog"] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..4 {
            gray(40 * i)
                .save(dir.join(format!("img{i:02}.png")))
                .unwrap();
            // macOS' AppleDouble companions of each file: not images at all.
            std::fs::write(
                dir.join(format!("._img{i:02}.png")),
                b"\0\x05\x16\x07\0\x02\0\0Mac OS X",
            )
            .unwrap();
        }
        std::fs::write(dir.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
        std::fs::write(dir.join("Thumbs.db"), b"\xd0\xcf\x11\xe0").unwrap();
        std::fs::write(dir.join("desktop.ini"), b"[.ShellClassInfo]").unwrap();
    }
    // What macOS' Archive Utility puts in a zip, extracted on another system.
    std::fs::create_dir_all(root.join("__MACOSX/cat")).unwrap();
    std::fs::write(root.join("__MACOSX/cat/._img00.png"), b"\0\x05\x16\x07").unwrap();
    std::fs::create_dir_all(root.join(".Trashes")).unwrap();
    std::fs::write(root.join(".DS_Store"), b"Bud1").unwrap();
    let listing = list(root).unwrap();
    assert_eq!(listing.classes, ["cat", "dog"]);
    assert_eq!(
        listing.train.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![4, 4]
    );
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    let read = read_folder(root, Split::Train, &small_options(), 3).unwrap();
    assert_eq!(read.set.len(), 4);
    assert!(read.skipped.is_empty());
}

/// Links as sync tools and people leave them: followed, but each real folder and file read once,
/// under its own class; a loop, a link into another class or into the training split, and a
/// dangling link are skipped and each said with the link's path.
#[cfg(unix)]
#[test]
fn links_are_followed_but_each_real_image_is_read_once_under_its_own_class() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pets");
    let outside = tmp.path().join("elsewhere");
    for (class, n) in [("cat", 8u8), ("dog", 8)] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            gray(10 * i + if class == "cat" { 0 } else { 100 })
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    std::fs::create_dir_all(outside.join("birds")).unwrap();
    for i in 0..5u8 {
        gray(200 + i)
            .save(outside.join(format!("birds/{i}.png")))
            .unwrap();
    }
    gray(33).save(outside.join("stray-cat.png")).unwrap();
    // Followed: a class folder and an image that live elsewhere.
    symlink(outside.join("birds"), root.join("bird")).unwrap();
    symlink(outside.join("stray-cat.png"), root.join("cat/stray.png")).unwrap();
    // Not followed: a loop to itself, a link to the root, a link to another class's image, a
    // second link to an image already read, a dangling link.
    symlink("../cat", root.join("cat/again")).unwrap();
    symlink("..", root.join("cat/everything")).unwrap();
    symlink("../dog/3.png", root.join("cat/borrowed.png")).unwrap();
    symlink(
        outside.join("stray-cat.png"),
        root.join("dog/stray-too.png"),
    )
    .unwrap();
    symlink(tmp.path().join("gone.png"), root.join("dog/gone.png")).unwrap();

    let listing = list(&root).unwrap();
    assert_eq!(listing.classes, ["bird", "cat", "dog"]);
    assert_eq!(
        listing.train.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![5, 9, 8]
    );
    assert!(listing.train[1].contains(&root.join("cat/stray.png")));
    assert!(listing.train[2].contains(&root.join("dog/3.png")));
    let said = linclass_data::folder::describe_skipped(&listing.skipped).unwrap();
    for expected in [
        format!(
            "{} leads to {}, a folder read once, under its own path",
            root.join("cat/again").display(),
            root.join("cat").display()
        ),
        format!(
            "{} leads to {}, a folder read once, under its own path",
            root.join("cat/everything").display(),
            root.display()
        ),
        format!(
            "{} leads to {}, which is read there",
            root.join("cat/borrowed.png").display(),
            root.join("dog/3.png").display()
        ),
        format!(
            "{} is another path to {}",
            root.join("dog/stray-too.png").display(),
            root.join("cat/stray.png").display()
        ),
        format!(
            "{} is a dangling link to {}, which does not exist",
            root.join("dog/gone.png").display(),
            tmp.path().join("gone.png").display()
        ),
    ] {
        assert!(said.contains(&expected), "{expected}\nnot in: {said}");
    }
    assert!(
        said.starts_with("skipped 5 file(s): 5 link(s) not followed"),
        "{said}"
    );

    // A test split that links into the training folders: said, and not a test image.
    let split = tmp.path().join("split");
    for part in ["train", "test"] {
        for class in ["a", "b"] {
            let dir = split.join(part).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..3u8 {
                gray(i * 50 + u8::from(part == "test") * 7)
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    symlink("../../train/a/1.png", split.join("test/a/leak.png")).unwrap();
    // A training class that links to a test class's folder: the test images stay test images.
    symlink("../../test/b", split.join("train/a/more")).unwrap();
    // A class folder that is a link, and another class's link to an image inside it: the image
    // belongs to the linked class folder.
    std::fs::create_dir_all(outside.join("cows")).unwrap();
    for i in 0..3u8 {
        gray(150 + i * 9)
            .save(outside.join(format!("cows/{i}.png")))
            .unwrap();
    }
    std::fs::create_dir_all(split.join("test/cow")).unwrap();
    gray(240).save(split.join("test/cow/0.png")).unwrap();
    symlink(outside.join("cows"), split.join("train/cow")).unwrap();
    symlink("../cow/2.png", split.join("train/b/cow-via-link.png")).unwrap();
    let listing = list(&split).unwrap();
    assert_eq!(listing.classes, ["a", "b", "cow"]);
    assert_eq!(
        listing.train.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![3, 3, 3]
    );
    assert!(listing.train[2].contains(&split.join("train/cow/2.png")));
    let test = listing.test.unwrap();
    assert_eq!(test.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 1]);
    let said = linclass_data::folder::describe_skipped(&listing.skipped).unwrap();
    assert!(
        said.contains(&format!(
            "{} leads to {}, which is read there",
            split.join("test/a/leak.png").display(),
            split.join("train/a/1.png").display()
        )),
        "{said}"
    );

    // From the command line: the warning, and counts that are the real ones.
    let out = linclass(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/image-folder.toml",
            "--set",
            &format!("data.dir={}", root.display()),
            "--set",
            "data.folder.cache=false",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a dangling link to"), "{err}");
    assert_eq!(
        err.matches(&root.join("dog/gone.png").display().to_string())
            .count(),
        1,
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("classes: 3"), "{text}");
}

/// A scientific TIFF of 32-bit float samples is refused saying which kind of TIFF it is, not
/// with a list of formats that includes TIFF.
#[test]
fn a_float_tiff_is_refused_naming_its_samples() {
    // One channel of 32-bit IEEE floats (SampleFormat 3), uncompressed, as instruments write.
    let (w, h) = (6u32, 4u32);
    let pixels: Vec<u8> = (0..w * h)
        .flat_map(|i| (i as f32 / 24.0).to_le_bytes())
        .collect();
    let entries: [(u16, u16, u32); 10] = [
        (256, 4, w),                   // ImageWidth
        (257, 4, h),                   // ImageLength
        (258, 3, 32),                  // BitsPerSample
        (259, 3, 1),                   // Compression: none
        (262, 3, 1),                   // Photometric: black is zero
        (273, 4, 8),                   // StripOffsets: right after the header
        (277, 3, 1),                   // SamplesPerPixel
        (278, 4, h),                   // RowsPerStrip
        (279, 4, pixels.len() as u32), // StripByteCounts
        (339, 3, 3),                   // SampleFormat: IEEE float
    ];
    let mut tiff = b"II*\0".to_vec();
    tiff.extend((8 + pixels.len() as u32).to_le_bytes());
    tiff.extend(&pixels);
    tiff.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        tiff.extend(tag.to_le_bytes());
        tiff.extend(kind.to_le_bytes());
        tiff.extend(1u32.to_le_bytes());
        tiff.extend(value.to_le_bytes());
    }
    tiff.extend(0u32.to_le_bytes());
    let e = decode_bytes(&tiff, [1, 28, 28], Path::new("scan.tif"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("scan.tif")
            && e.contains("is a TIFF of 32-bit samples")
            && e.contains("expected 8- or 16-bit integer samples"),
        "{e}"
    );
}

fn write_split_tree(root: &Path, train: &str, test: &str) {
    for (split, n) in [(train, 3), (test, 2)] {
        for class in ["a", "b"] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                gray(10 + 100 * (class == "b") as u8 + i)
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

#[test]
fn split_folders_are_recognized_in_their_usual_names() {
    for (train, test) in [
        ("train", "test"),
        ("Train", "Val"),
        ("TRAIN", "valid"),
        ("train", "Validation"),
        ("training", "testing"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        write_split_tree(tmp.path(), train, test);
        let opts = small_options();
        let tr = read_folder(tmp.path(), Split::Train, &opts, 0).unwrap().set;
        let te = read_folder(tmp.path(), Split::Test, &opts, 0).unwrap().set;
        assert_eq!((tr.len(), te.len()), (6, 4), "{train}/{test}");
        assert_eq!(tr.classes(), ["a", "b"]);
    }
    // train/ with class folders but no test folder: the layouts that are recognized.
    let tmp = tempfile::tempdir().unwrap();
    write_split_tree(tmp.path(), "train", "tst");
    let e = read_folder(tmp.path(), Split::Train, &small_options(), 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no test/ (or val/") && e.contains("root/<class>/<images>"),
        "{e}"
    );
    // train/, val/ and test/: test/ is the test split, and val/ is said to be left out.
    let tmp = tempfile::tempdir().unwrap();
    write_split_tree(tmp.path(), "train", "test");
    write_split_tree(tmp.path(), "train", "val");
    let mut src = DataSource::new(DatasetKind::Folder);
    src.dir = tmp.path().to_path_buf();
    src.folder = small_options();
    let train = src.open(Split::Train, &mut Silent).unwrap();
    assert!(
        train
            .warnings
            .iter()
            .any(|w| w.contains("val/ is not read")),
        "{:?}",
        train.warnings
    );
    // A class that happens to be called "train" (of images) is a class.
    let tmp = tempfile::tempdir().unwrap();
    for class in ["train", "bus"] {
        std::fs::create_dir_all(tmp.path().join(class)).unwrap();
        for i in 0..4 {
            gray(i * 50)
                .save(tmp.path().join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let set = read_folder(tmp.path(), Split::Train, &small_options(), 0)
        .unwrap()
        .set;
    assert_eq!(set.classes(), ["bus", "train"]);
}

#[test]
fn folder_names_are_compared_as_unicode_and_never_merged() {
    // Written on macOS (decomposed é) for testing, on Linux (composed é) for training.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (dir, n) in [
        ("train/caf\u{e9}", 3),
        ("train/th\u{e9}", 3),
        ("test/cafe\u{301}", 2),
        ("test/th\u{e9}", 2),
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        for i in 0..n {
            gray(i * 30)
                .save(root.join(dir).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let test = read_folder(root, Split::Test, &small_options(), 0)
        .unwrap()
        .set;
    assert_eq!(test.classes(), ["caf\u{e9}", "th\u{e9}"]);
    assert_eq!(test.class_counts(), vec![2, 2]);

    // Both forms side by side are one name: refused, not merged.
    let both = tmp.path().join("both");
    for dir in ["caf\u{e9}", "cafe\u{301}"] {
        std::fs::create_dir_all(both.join(dir)).unwrap();
        gray(1).save(both.join(dir).join("0.png")).unwrap();
    }
    let e = list(&both).unwrap_err().to_string();
    assert!(
        e.contains("same class name") && e.contains("caf\u{e9}"),
        "{e}"
    );

    // Latin-1 names from an old archive: not UTF-8, an error naming the bytes.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let latin = tmp.path().join("latin1");
        for name in [b"caf\xe9".as_slice(), b"caf\xe8".as_slice()] {
            let dir = latin.join(std::ffi::OsStr::from_bytes(name));
            std::fs::create_dir_all(&dir).unwrap();
            gray(1).save(dir.join("0.png")).unwrap();
        }
        let e = list(&latin).unwrap_err().to_string();
        assert!(e.contains("caf\\xe8") && e.contains("not UTF-8"), "{e}");
    }
}

#[test]
fn unreadable_files_are_dropped_before_the_test_part_is_held_out() {
    let tmp = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        let dir = tmp.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..10 {
            gray(i * 20).save(dir.join(format!("good{i}.png"))).unwrap();
        }
        for i in 0..10 {
            std::fs::write(dir.join(format!("bad{i}.png")), b"\x89PNG\r\n\x1a\ncut").unwrap();
        }
    }
    let opts = FolderOptions {
        skip_unreadable: true,
        ..small_options()
    };
    for seed in 0..5 {
        let train = read_folder(tmp.path(), Split::Train, &opts, seed).unwrap();
        let test = read_folder(tmp.path(), Split::Test, &opts, seed).unwrap();
        // Half of each class's 10 readable images, whatever the seed.
        assert_eq!(train.set.class_counts(), vec![5, 5]);
        assert_eq!(test.set.class_counts(), vec![5, 5]);
        assert_eq!(train.skipped.len(), 20);
    }
}

/// A folder of 3 classes with train/ and test/, where class "c" has no test images.
fn three_class_folder(root: &Path) {
    for (split, n, classes) in [
        ("train", 8, vec!["a", "b", "c"]),
        ("test", 3, vec!["a", "b"]),
    ] {
        for (k, class) in classes.iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                gray(20 + 90 * k as u8 + i)
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

#[test]
fn few_classes_say_top_k_with_the_real_k() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    three_class_folder(&data);
    let run = tmp.path().join("run");
    let sets = [
        "data.source=folder".to_string(),
        format!("data.dir={}", data.display()),
        "data.folder.channels=1".into(),
        "data.folder.height=6".into(),
        "data.folder.width=6".into(),
        "data.valid_fraction=0.25".into(),
        "train.epochs=3".into(),
        "train.batch_size=4".into(),
        format!("output.dir={}", run.display()),
    ];
    let mut args = vec!["train".to_string()];
    for s in &sets {
        args.extend(["--set".to_string(), s.clone()]);
    }
    let out = linclass(
        &repo_root(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("top-3") && !stdout.contains("top-5"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("epoch,train_loss,train_acc,train_top3,valid_loss,valid_acc,valid_top3,"),
        "{csv}"
    );

    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["k"], 3);
    assert!(
        json["topk"].as_f64().is_some() && json.get("top5").is_none(),
        "{json}"
    );
    assert_eq!(json["per_class"][2]["class"], "c");
    assert!(json["per_class"][2]["accuracy"].is_null(), "{json}");
    assert_eq!(json["per_class"][2]["total"], 0);
    assert!(
        !json["hardest"].as_array().unwrap().contains(&"c".into()),
        "{json}"
    );
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("top-3 accuracy") && !text.contains("top-5"),
        "{text}"
    );
    let c_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("c "))
        .unwrap();
    assert!(
        c_line.contains("n/a") && !c_line.contains("0.00%"),
        "{text}"
    );
    let out = linclass(&repo_root(), &["report", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("top-3") && !html.contains("top-5"));

    // One class is not a classification problem.
    let one = tmp.path().join("one");
    std::fs::create_dir_all(one.join("only")).unwrap();
    for i in 0..5 {
        gray(i)
            .save(one.join("only").join(format!("{i}.png")))
            .unwrap();
    }
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--set",
            "data.source=folder",
            "--set",
            &format!("data.dir={}", one.display()),
            "--set",
            &format!("output.dir={}", tmp.path().join("run1").display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 class (only)") && err.contains("at least 2"),
        "{err}"
    );
}

/// Mean and largest absolute difference of two pixel buffers.
fn pixel_diff(a: &[u8], b: &[u8]) -> (f64, i32) {
    assert_eq!(a.len(), b.len());
    let d: Vec<i32> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as i32 - y as i32).abs())
        .collect();
    (
        d.iter().sum::<i32>() as f64 / d.len() as f64,
        *d.iter().max().unwrap(),
    )
}

#[test]
fn large_jpegs_are_decoded_at_a_reduced_scale_with_the_same_result() {
    use linclass_data::decode::{decode_bytes_full, decode_jpeg_reduced};
    // A photo-sized picture: the scaled inverse DCT gives 1/8 of it (200 × 150), the smallest
    // reduction that keeps at least twice 32 × 32; for 300 × 300, 1/2 (800 × 600).
    let photo = linclass_data::synthetic::photo_jpeg(7, 1600, 1200);
    let reduced = decode_jpeg_reduced(&photo, [32, 32]).unwrap();
    assert_eq!((reduced.width(), reduced.height()), (200, 150));
    let reduced = decode_jpeg_reduced(&photo, [300, 300]).unwrap();
    assert_eq!((reduced.width(), reduced.height()), (800, 600));
    // Not worth it (target above a quarter of the size): the full decoder's job.
    assert!(decode_jpeg_reduced(&photo, [400, 400]).is_none());
    let path = Path::new("photo.jpg");
    for shape in [[3, 32, 32], [3, 64, 64], [1, 28, 28], [3, 24, 40]] {
        let fast = decode_bytes(&photo, shape, path).unwrap();
        let full = decode_bytes_full(&photo, shape, path).unwrap();
        let (mean, max) = pixel_diff(&fast, &full);
        assert!(mean < 2.0 && max < 24, "{shape:?}: mean {mean}, max {max}");
    }

    // Sideways phone photos: orientation applied on the reduced path as on the full one.
    let stored = RgbImage::from_fn(800, 400, |x, y| {
        let v = if x < 400 { 220 } else { 30 };
        Rgb([v, (y / 4) as u8, 100])
    });
    let sideways = jpeg_with_orientation(&stored, 6);
    assert!(decode_jpeg_reduced(&sideways, [40, 20]).is_some());
    let fast = decode_bytes(&sideways, [3, 40, 20], path).unwrap();
    let full = decode_bytes_full(&sideways, [3, 40, 20], path).unwrap();
    let (mean, max) = pixel_diff(&fast, &full);
    assert!(mean < 2.0 && max < 24, "sideways: mean {mean}, max {max}");
    // Upright: bright on top.
    assert!(fast[0] > 180 && fast[39 * 20] < 60, "{:?}", &fast[..20]);

    // Corrupt entropy-coded data (a restart marker where none belongs, bytes of another file
    // spliced in, bytes flipped, the scan cut with an end marker appended): libjpeg would warn
    // and fill in grey; every path refuses the file, naming it, at any size.
    let scan = photo.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
    let middle = scan + (photo.len() - scan) / 2;
    let mut marker = photo.clone();
    marker.splice(middle..middle, [0xFF, 0xD3]);
    let mut spliced = photo.clone();
    spliced.splice(
        middle..middle + 4000,
        photo[scan + 100..scan + 4100].iter().copied(),
    );
    let mut flipped = photo.clone();
    for b in &mut flipped[middle..middle + 4000] {
        *b ^= 0x5A;
    }
    let mut cut_with_end = photo[..scan + 1000].to_vec();
    cut_with_end.extend([0xFF, 0xD9]);
    for (what, corrupt) in [
        ("marker", &marker),
        ("spliced", &spliced),
        ("flipped", &flipped),
        ("cut with an end marker", &cut_with_end),
    ] {
        assert!(decode_jpeg_reduced(corrupt, [32, 32]).is_none(), "{what}");
        for e in [
            decode_bytes(corrupt, [3, 32, 32], path),
            decode_bytes(corrupt, [3, 900, 900], path),
            decode_bytes_full(corrupt, [3, 32, 32], path),
        ]
        .map(|r| r.unwrap_err().to_string())
        {
            assert!(
                e.contains("photo.jpg") && e.contains("not a readable JPEG"),
                "{what}: {e}"
            );
        }
        let e = linclass_data::decode::decode_upright(corrupt, path).unwrap_err();
        assert!(e.to_string().contains("not a readable JPEG"), "{what}: {e}");
    }
    // Bytes left between the image data and the end marker (what the splice above shows as):
    // refused with libjpeg's words for it.
    let mut trailing = photo[..photo.len() - 2].to_vec();
    trailing.extend((0..64).map(|i| (i * 7) as u8));
    trailing.extend([0xFF, 0xD9]);
    let e = decode_bytes(&trailing, [3, 32, 32], path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("extraneous bytes before marker 0xd9") && !e.contains('%'),
        "{e}"
    );

    // Windows and Chrome save JPEGs as .jfif.
    assert!(linclass_data::decode::is_image_file(Path::new(
        "photo.JFIF"
    )));

    // A phone's Multi-Picture file: a second JPEG after the first one's end marker. Cut short,
    // it does not touch the picture shown: read as the first one alone.
    let mut second_cut = photo.clone();
    second_cut.extend_from_slice(&photo[..photo.len() / 2]);
    assert_eq!(
        decode_bytes(&second_cut, [3, 32, 32], path).unwrap(),
        decode_bytes(&photo, [3, 32, 32], path).unwrap()
    );

    // CMYK JPEGs (print workflows, Adobe): read; damaged ones refused like the others.
    let (w, h) = (640usize, 480usize);
    let cmyk: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x / 3) as u8,
                (y / 2) as u8,
                40,
                if x < w / 2 { 0 } else { 120 },
            ]
        })
        .collect();
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    compress.set_size(w, h);
    compress.set_quality(90.0);
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&cmyk).unwrap();
    let cmyk_jpeg = started.finish().unwrap();
    let read = decode_bytes(&cmyk_jpeg, [3, 32, 32], path).unwrap();
    assert_eq!(read.len(), 3 * 32 * 32);
    let scan = cmyk_jpeg
        .windows(2)
        .position(|m| m == [0xFF, 0xDA])
        .unwrap();
    let mut cut_with_end = cmyk_jpeg[..scan + 800].to_vec();
    cut_with_end.extend([0xFF, 0xD9]);
    for shape in [[3, 32, 32], [3, 400, 400]] {
        let e = decode_bytes(&cut_with_end, shape, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a readable JPEG"), "CMYK: {e}");
    }
    let e = linclass_data::decode::decode_upright(&cut_with_end, path).unwrap_err();
    assert!(e.to_string().contains("not a readable JPEG"), "CMYK: {e}");

    // Bytes a camera or an editor appends after the end-of-image marker, a start-of-scan marker
    // among them: ignored (as viewers do), by every path, RGB and CMYK alike. Cut before the
    // end marker, the CMYK file is still refused.
    let mut trailer = vec![0xFF, 0xDA, 0x00, 0x08, 1, 2, 3, 4, 5, 6];
    trailer.extend(b"\xFF\xD8 vendor data \xFF\xE1\x00\x04 more");
    for (name, jpeg) in [("RGB", &photo), ("CMYK", &cmyk_jpeg)] {
        let mut trailed = jpeg.clone();
        trailed.extend(&trailer);
        for shape in [[3, 32, 32], [1, 300, 300]] {
            assert_eq!(
                decode_bytes(&trailed, shape, path).unwrap(),
                decode_bytes(jpeg, shape, path).unwrap(),
                "{name}"
            );
            assert_eq!(
                decode_bytes_full(&trailed, shape, path).unwrap(),
                decode_bytes_full(jpeg, shape, path).unwrap(),
                "{name}"
            );
        }
    }
    let e = decode_bytes(&cmyk_jpeg[..cmyk_jpeg.len() - 300], [3, 32, 32], path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut short"), "CMYK: {e}");

    // A JPEG cut short (an interrupted download) is refused by both paths, not filled with
    // grey, at any cut.
    for keep in [10, 60, 99] {
        let cut = &photo[..photo.len() * keep / 100];
        for shape in [[3, 32, 32], [3, 700, 700]] {
            let e = decode_bytes(cut, shape, path).unwrap_err().to_string();
            assert!(
                e.contains("photo.jpg") && e.contains("cut short"),
                "{keep}%: {e}"
            );
        }
        let e = decode_bytes_full(cut, [3, 32, 32], path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut short"), "{e}");
    }
    // A phone photo with a thumbnail (a complete JPEG inside its EXIF block) cut after the
    // thumbnail: still refused.
    let mut thumb = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut thumb, 80)
        .encode_image(&RgbImage::from_pixel(16, 12, Rgb([9, 9, 9])))
        .unwrap();
    let mut exif = b"II*\0".to_vec();
    exif.extend(8u32.to_le_bytes());
    exif.extend(0u16.to_le_bytes());
    exif.extend(0u32.to_le_bytes());
    exif.extend(&thumb);
    let mut with_thumb = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut with_thumb, 90);
    enc.set_exif_metadata(exif).unwrap();
    let big = image::load_from_memory(&photo).unwrap().to_rgb8();
    enc.encode_image(&big).unwrap();
    assert!(decode_bytes(&with_thumb, [3, 32, 32], path).is_ok());
    let cut = &with_thumb[..with_thumb.len() / 2];
    let e = decode_bytes(cut, [3, 32, 32], path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut short"), "{e}");
}

#[test]
fn real_digits_photographed_large_are_classified_alike_by_both_decoders() {
    use linclass::Classifier;
    use linclass_data::decode::decode_bytes_full;
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_mnist(&run);
    let classifier = Classifier::load(&run, &linclass::Backend::Cpu.device().unwrap()).unwrap();
    let (set, _) = read_mnist(&mnist_dir(), Split::Test, &official());
    let set = set.unwrap();
    let path = Path::new("digit.jpg");
    let (mut same, mut right) = (0, 0);
    for i in 0..20 {
        // The 28 × 28 digit as a 448 × 448 grayscale JPEG (16× larger, smooth edges).
        let small = GrayImage::from_raw(28, 28, set.image(i).to_vec()).unwrap();
        let big = image::imageops::resize(&small, 448, 448, image::imageops::FilterType::Triangle);
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
            .encode_image(&big)
            .unwrap();
        let fast = decode_bytes(&jpeg, [1, 28, 28], path).unwrap();
        let full = decode_bytes_full(&jpeg, [1, 28, 28], path).unwrap();
        let (mean, _) = pixel_diff(&fast, &full);
        assert!(mean < 2.0, "digit {i}: mean difference {mean}");
        let a = classifier.classify_pixels(&fast).unwrap()[0][0].index;
        let b = classifier.classify_pixels(&full).unwrap()[0][0].index;
        same += usize::from(a == b);
        right += usize::from(a == set.label(i));
    }
    assert_eq!(same, 20);
    assert!(right >= 16, "{right}/20");
}

#[test]
fn a_class_left_without_training_images_is_reported() {
    // Class b has one image; half of the training split goes to validation, and with this seed
    // b's one image is among it: the model could never predict b, and both data info and
    // train say so. A class with images on both sides draws no warning.
    let tmp = tempfile::tempdir().unwrap();
    for (class, n) in [("a", 8u8), ("b", 1)] {
        let dir = tmp.path().join("data").join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..n {
            RgbImage::from_pixel(8, 8, Rgb([if class == "a" { 200 } else { 20 }, i * 10, 50]))
                .save(dir.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let data = format!("data.dir={}", tmp.path().join("data").display());
    let run = format!("output.dir={}", tmp.path().join("run").display());
    let base = [
        "--set",
        &data,
        "--set",
        "data.valid_fraction=0.5",
        "--set",
        "train.seed=42",
    ];
    let mut info = vec!["data", "info", "configs/image-folder.toml"];
    info.extend(base);
    let mut train = vec![
        "train",
        "--quiet",
        "--config",
        "configs/image-folder.toml",
        "--set",
        "train.epochs=1",
        "--set",
        &run,
    ];
    train.extend(base);
    for args in [&info, &train] {
        let out = linclass(&repo_root(), args);
        assert!(out.status.success(), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("every training image of class(es) b (1) went to validation (data.valid_fraction = 0.5)"),
            "{err}"
        );
    }
    let mut balanced = info.clone();
    let at = balanced.len() - 3;
    balanced[at] = "data.valid_fraction=0.2";
    std::fs::copy(
        tmp.path().join("data/b/0.png"),
        tmp.path().join("data/b/1.png"),
    )
    .unwrap();
    for i in 2..8 {
        std::fs::copy(
            tmp.path().join("data/b/0.png"),
            tmp.path().join(format!("data/b/{i}.png")),
        )
        .unwrap();
    }
    let out = linclass(&repo_root(), &balanced);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("cannot learn"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_folder_too_small_to_hold_out_a_test_image_says_so() {
    // One image per class: 20% of one rounds to none, in every class and either way it is read.
    let tmp = tempfile::tempdir().unwrap();
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(tmp.path().join(class)).unwrap();
        gray(90).save(tmp.path().join(class).join("a.png")).unwrap();
    }
    for skip_unreadable in [false, true] {
        let options = FolderOptions {
            test_fraction: 0.2,
            skip_unreadable,
            ..small_options()
        };
        for split in [Split::Train, Split::Test] {
            let e = read_folder(tmp.path(), split, &options, 7)
                .err()
                .unwrap()
                .to_string();
            assert!(
                e.contains("no class has enough images to hold one out for the test split: with data.folder.test_fraction = 0.2 a class needs at least 3"),
                "{e}"
            );
            assert!(e.contains(&tmp.path().display().to_string()), "{e}");
        }
    }
}
