//! Digits as people make them, drawn here with a round pen in six styles (dark ink on white,
//! a thin pen on a large canvas, a small digit off-centre, light ink on a large dark canvas,
//! dark on white at MNIST's 28 × 28, a phone photo of grey paper stored sideways with an EXIF
//! orientation), classified by
//! `predict` with the default MNIST run: as they are (`--prepare none`) and prepared as MNIST's
//! digits were (the default for MNIST runs).

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use linclass_tests::{describe, jpeg_with_orientation, linclass, repo_root};

/// The strokes of each digit, as polylines in a unit square (x right, y down).
fn strokes(digit: usize) -> Vec<Vec<(f32, f32)>> {
    let arc = |cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32| -> Vec<(f32, f32)> {
        (0..=32)
            .map(|i| {
                let t = (from + (to - from) * i as f32 / 32.0).to_radians();
                (cx + rx * t.cos(), cy + ry * t.sin())
            })
            .collect()
    };
    let line = |a: (f32, f32), b: (f32, f32)| vec![a, b];
    match digit {
        0 => vec![arc(0.5, 0.5, 0.2, 0.3, 0.0, 360.0)],
        1 => vec![
            line((0.42, 0.28), (0.53, 0.2)),
            line((0.53, 0.2), (0.5, 0.8)),
        ],
        2 => {
            let mut s = arc(0.5, 0.36, 0.19, 0.16, 200.0, 380.0);
            s.extend([(0.3, 0.8), (0.72, 0.8)]);
            vec![s]
        }
        3 => vec![
            arc(0.48, 0.34, 0.17, 0.14, 200.0, 450.0),
            arc(0.48, 0.64, 0.19, 0.16, 270.0, 520.0),
        ],
        4 => vec![
            vec![(0.58, 0.2), (0.3, 0.6), (0.72, 0.6)],
            line((0.6, 0.35), (0.6, 0.82)),
        ],
        5 => {
            let mut s = vec![(0.68, 0.2), (0.37, 0.2), (0.34, 0.47)];
            s.extend(arc(0.49, 0.62, 0.19, 0.17, 220.0, 510.0));
            vec![s]
        }
        6 => vec![
            line((0.63, 0.2), (0.35, 0.6)),
            arc(0.5, 0.65, 0.16, 0.15, 0.0, 360.0),
        ],
        7 => vec![vec![(0.3, 0.22), (0.7, 0.22), (0.45, 0.8)]],
        8 => vec![
            arc(0.5, 0.33, 0.15, 0.13, 0.0, 360.0),
            arc(0.5, 0.64, 0.18, 0.17, 0.0, 360.0),
        ],
        _ => vec![
            arc(0.5, 0.35, 0.16, 0.14, 0.0, 360.0),
            line((0.66, 0.35), (0.6, 0.82)),
        ],
    }
}

/// How much of a pixel at (x, y) a pen of `width` along a → b covers (anti-aliased edge).
fn coverage(x: f32, y: f32, a: (f32, f32), b: (f32, f32), width: f32) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-9);
    let t = (((x - a.0) * dx + (y - a.1) * dy) / len2).clamp(0.0, 1.0);
    let d = ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt();
    (width / 2.0 + 0.5 - d).clamp(0.0, 1.0)
}

/// Ink coverage (0–1) of `digit` drawn with a pen of `pen` px in a `size`-px square placed at
/// `at` on a `w` × `h` canvas.
fn ink(digit: usize, w: u32, h: u32, at: (f32, f32), size: f32, pen: f32) -> Vec<f32> {
    let mut cover = vec![0f32; (w * h) as usize];
    for stroke in strokes(digit) {
        let points: Vec<(f32, f32)> = stroke
            .iter()
            .map(|&(x, y)| (at.0 + x * size, at.1 + y * size))
            .collect();
        for seg in points.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            let r = pen / 2.0 + 1.0;
            let (x0, x1) = (a.0.min(b.0) - r, a.0.max(b.0) + r);
            let (y0, y1) = (a.1.min(b.1) - r, a.1.max(b.1) + r);
            for y in (y0.max(0.0) as u32)..(y1.min(h as f32 - 1.0) as u32 + 1) {
                for x in (x0.max(0.0) as u32)..(x1.min(w as f32 - 1.0) as u32 + 1) {
                    let c = coverage(x as f32 + 0.5, y as f32 + 0.5, a, b, pen);
                    let i = (y * w + x) as usize;
                    cover[i] = cover[i].max(c);
                }
            }
        }
    }
    cover
}

fn gray(w: u32, h: u32, cover: &[f32], paper: f32, ink: f32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| {
        let c = cover[(y * w + x) as usize];
        Luma([(paper + (ink - paper) * c).round() as u8])
    })
}

/// A phone photo of `digit` in dark-blue ink on grey paper: 1600 × 1200, lit unevenly, with
/// sensor noise, stored turned a quarter to the left with EXIF orientation 6 (as a phone held
/// upright stores it), so that it shows upright only once the orientation is applied.
fn photo(digit: usize) -> Vec<u8> {
    let (w, h) = (1200u32, 1600u32);
    let cover = ink(digit, w, h, (350.0, 520.0), 520.0, 22.0);
    let mut noise = 0x9E37_79B9u32.wrapping_mul(digit as u32 + 1);
    let upright = RgbImage::from_fn(w, h, |x, y| {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let light = 0.85 + 0.25 * (x as f32 / w as f32) - 0.1 * (y as f32 / h as f32);
        let grain = (noise % 11) as f32 - 5.0;
        let c = cover[(y * w + x) as usize];
        let paper = [168.0, 163.0, 155.0].map(|v: f32| v * light);
        let px = [40.0, 44.0, 78.0];
        Rgb([0, 1, 2].map(|k| (paper[k] + (px[k] - paper[k]) * c + grain).clamp(0.0, 255.0) as u8))
    });
    // Orientation 6: the stored picture is turned 90° left; a viewer turns it back right.
    jpeg_with_orientation(&image::imageops::rotate270(&upright), 6)
}

/// Writes the ten digits of one style into `dir`; returns their files.
fn draw_style(style: &str, dir: &Path) -> Vec<PathBuf> {
    (0..10)
        .map(|d| {
            let path = dir.join(format!(
                "{style}-{d}.{}",
                if style == "photo" { "jpg" } else { "png" }
            ));
            let img = match style {
                "dark-on-white" => gray(
                    280,
                    280,
                    &ink(d, 280, 280, (40.0, 40.0), 200.0, 18.0),
                    250.0,
                    25.0,
                ),
                "thin" => gray(
                    600,
                    600,
                    &ink(d, 600, 600, (60.0, 60.0), 480.0, 3.0),
                    255.0,
                    0.0,
                ),
                "off-centre" => gray(
                    400,
                    400,
                    &ink(d, 400, 400, (30.0, 210.0), 120.0, 7.0),
                    245.0,
                    40.0,
                ),
                "large-dark" => gray(
                    1400,
                    1000,
                    &ink(d, 1400, 1000, (700.0, 150.0), 700.0, 45.0),
                    10.0,
                    240.0,
                ),
                "28-on-white" => gray(28, 28, &ink(d, 28, 28, (3.0, 3.0), 22.0, 2.2), 250.0, 20.0),
                "photo" => {
                    std::fs::write(&path, photo(d)).unwrap();
                    return path;
                }
                _ => panic!("no style {style}"),
            };
            img.save(&path).unwrap();
            path
        })
        .collect()
}

/// The digit `predict --json` gives each file, with `extra` arguments.
fn predicted(run: &Path, files: &[PathBuf], extra: &[&str]) -> Vec<usize> {
    let mut args: Vec<String> = vec!["predict".into(), run.display().to_string(), "--json".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| p["top"][0]["class"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Trains MNIST (configs/mnist.toml with `sets`) into `dir`/run; returns the run.
fn train(dir: &Path, sets: &[&str]) -> PathBuf {
    let run = dir.join("run");
    let out_dir = format!("output.dir={}", run.display());
    let mut args = vec!["train", "--quiet", "--set", &out_dir];
    for set in sets {
        args.extend(["--set", set]);
    }
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    run
}

#[test]
fn drawn_and_photographed_digits_are_read_once_prepared_as_mnist_digits() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), &[]);
    // The least each style must reach, prepared (of 10).
    let styles = [
        ("dark-on-white", 9),
        ("thin", 9),
        ("off-centre", 9),
        ("large-dark", 9),
        ("28-on-white", 8),
        ("photo", 8),
    ];
    let mut report = Vec::new();
    for (style, least) in styles {
        let files = draw_style(style, tmp.path());
        let right = |got: Vec<usize>| got.iter().enumerate().filter(|(d, g)| d == *g).count();
        let before = right(predicted(&run, &files, &["--prepare", "none"]));
        let after = right(predicted(&run, &files, &[]));
        report.push(format!(
            "{style}: {before}/10 as they are, {after}/10 prepared"
        ));
        assert!(after >= least, "{}", report.join("; "));
        assert!(after > before || after == 10, "{}", report.join("; "));
    }
    eprintln!("{}", report.join("; "));
}

#[test]
fn predict_says_what_it_did_and_shows_what_the_model_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), &["train.epochs=2", "data.train_limit=6000"]);
    let files = draw_style("dark-on-white", tmp.path());
    let shown = tmp.path().join("saw.png");
    let (run_s, file, shown_s) = (
        run.to_str().unwrap(),
        files[7].to_str().unwrap(),
        shown.to_str().unwrap(),
    );
    let out = linclass(
        &repo_root(),
        &["predict", run_s, file, "--show-input", shown_s],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "as an MNIST digit: inverted (light background), contrast stretched, cropped to the ink"
        ) && text.contains("fitted into 20×20, centred by mass in 28×28"),
        "{text}"
    );
    assert!(
        text.contains(&format!("what the model saw of {file}: {shown_s}")),
        "{text}"
    );
    // The picture: the 28 × 28 input enlarged 10 times, light ink centred on black.
    let saw = image::open(&shown).unwrap().to_luma8();
    assert_eq!(saw.dimensions(), (280, 280));
    let at = |x: u32, y: u32| saw.get_pixel(x * 10 + 5, y * 10 + 5).0[0];
    assert!((0..28).all(|i| at(i, 0) == 0 && at(0, i) == 0 && at(i, 27) == 0));
    assert!(
        (0..28)
            .flat_map(|y| (0..28).map(move |x| (x, y)))
            .any(|(x, y)| at(x, y) > 200)
    );
    // --prepare none leaves a picture as it is, and digit preparation needs a 28 × 28 run.
    let out = linclass(
        &repo_root(),
        &["predict", run_s, file, "--prepare", "none", "--json"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("prepared"));
    let out = linclass(
        &repo_root(),
        &["predict", run_s, file, "--prepare", "digit", "--json"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["prepared"][0], "inverted (light background)");
}

/// Whether `python3` with NumPy and Pillow runs here. Under CI (which installs them) their
/// absence fails the test that needs them instead of skipping it.
fn python_with_numpy_and_pillow() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import numpy, PIL"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var_os("CI").is_none(),
        "python3 with numpy and Pillow is needed (CI installs python3-numpy and python3-pil)"
    );
    found
}

/// `python/linclass_input.py` gives the model the pixels `predict` gives it: for each style of
/// drawn and photographed digit (dark and white ink on a transparent canvas too), prepared (the
/// default), as they are, and inverted.
#[test]
fn the_python_reader_gives_the_inputs_predict_gives() {
    if !python_with_numpy_and_pillow() {
        eprintln!("skipped: no python3 with numpy and Pillow");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let run = train(tmp.path(), &["train.epochs=1", "data.train_limit=3000"]);
    let out = linclass(&repo_root(), &["export", &run.display().to_string()]);
    assert!(out.status.success(), "{}", describe(&out));
    let mut files = Vec::new();
    for style in [
        "dark-on-white",
        "thin",
        "large-dark",
        "28-on-white",
        "photo",
    ] {
        files.extend(draw_style(style, tmp.path()).into_iter().step_by(3));
    }
    // A drawing on a transparent canvas: ink only where alpha is.
    let cover = ink(7, 300, 300, (40.0, 40.0), 220.0, 16.0);
    let drawn = image::RgbaImage::from_fn(300, 300, |x, y| {
        image::Rgba([0, 0, 0, (255.0 * cover[(y * 300 + x) as usize]) as u8])
    });
    files.push(tmp.path().join("transparent-7.png"));
    drawn.save(files.last().unwrap()).unwrap();
    // The same in white ink, as a dark-mode drawing app saves it: flattened onto black.
    let white = image::RgbaImage::from_fn(300, 300, |x, y| {
        image::Rgba([255, 255, 255, (255.0 * cover[(y * 300 + x) as usize]) as u8])
    });
    files.push(tmp.path().join("transparent-white-7.png"));
    white.save(files.last().unwrap()).unwrap();

    for (mode, extra) in [
        ("auto", vec![]),
        ("none", vec!["--prepare", "none"]),
        ("none", vec!["--prepare", "none", "--invert"]),
    ] {
        let invert = extra.contains(&"--invert");
        let shown = tmp.path().join("saw.png");
        let mut args = vec!["predict".to_string(), run.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--show-input".into(), shown.display().to_string()]);
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = linclass(&repo_root(), &args);
        assert!(out.status.success(), "{}", describe(&out));
        let script = format!(
            "import sys; sys.path.insert(0, 'python')\n\
             from linclass_input import model_input, metadata\n\
             meta = metadata({model:?})\n\
             for f in sys.argv[1:]:\n    \
                 p, steps = model_input(f, meta, {mode:?}, {invert})\n    \
                 sys.stdout.buffer.write(p.tobytes())\n",
            model = run.join("model.safetensors").display().to_string(),
            invert = if invert { "True" } else { "False" },
        );
        let py = std::process::Command::new("python3")
            .current_dir(repo_root())
            .arg("-c")
            .arg(&script)
            .args(&files)
            .output()
            .unwrap();
        assert!(py.status.success(), "{}", describe(&py));
        assert_eq!(py.stdout.len(), files.len() * 784);
        for (i, (file, ours)) in files.iter().zip(py.stdout.chunks(784)).enumerate() {
            let saw = image::open(tmp.path().join(format!("saw-{}.png", i + 1)))
                .unwrap()
                .to_luma8();
            let zoom = saw.width() / 28;
            let theirs: Vec<u8> = (0..784u32)
                .map(|k| saw.get_pixel(k % 28 * zoom, k / 28 * zoom).0[0])
                .collect();
            let diff: Vec<u32> = ours
                .iter()
                .zip(&theirs)
                .map(|(&a, &b)| u32::from(a.abs_diff(b)))
                .collect();
            let mean = diff.iter().sum::<u32>() as f64 / 784.0;
            let max = *diff.iter().max().unwrap();
            // Pillow's resampling rounds a grey level here and there otherwise.
            assert!(
                mean <= 0.5 && max <= 4,
                "{mode} {invert} {}: mean {mean:.2}, max {max}",
                file.display()
            );
        }
    }
}
