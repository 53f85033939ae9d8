//! Using a trained run from code: the `Classifier` API on in-memory images and raw pixels, and
//! the safetensors export read back by the `safetensors` crate.

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, Rgba, RgbaImage};
use linclass::Backend;
use linclass::{Classifier, Ranked};
use linclass_data::mnist::Split;
use linclass_tests::{describe, linclass, real_mnist, repo_root};

fn run_ok(args: &[&str]) -> String {
    let out = linclass(&repo_root(), args);
    assert!(out.status.success(), "{args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// MNIST on 4,000 images, 2 epochs, into `run`; `sets` adds overrides.
fn train_mnist(run: &Path, sets: &[&str]) {
    let out_dir = format!("output.dir={}", run.display());
    let mut args = vec!["train", "--quiet"];
    for s in
        sets.iter()
            .copied()
            .chain(["data.train_limit=4000", "train.epochs=2", out_dir.as_str()])
    {
        args.extend(["--set", s]);
    }
    run_ok(&args);
}

/// The first `n` real MNIST test digits as grayscale images, with their u8 pixels.
fn digits(n: usize) -> Vec<(GrayImage, Vec<u8>)> {
    let set = real_mnist(Split::Test);
    (0..n)
        .map(|i| {
            let pixels = set.image(i).to_vec();
            (GrayImage::from_raw(28, 28, pixels.clone()).unwrap(), pixels)
        })
        .collect()
}

fn assert_same(a: &[Ranked], b: &[Ranked], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.index, &x.class), (y.index, &y.class), "{what}");
        assert!(
            (x.probability - y.probability).abs() < 1e-6,
            "{what}: {x:?} vs {y:?}"
        );
    }
}

#[test]
fn in_memory_images_rank_like_the_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_mnist(&run, &[]);
    let device = Backend::Cpu.device().unwrap();
    let classifier = Classifier::load(&run, &device).unwrap();
    assert_eq!(classifier.classes().len(), 10);
    assert_eq!(classifier.input_shape(), [1, 28, 28]);

    let digits = digits(8);
    let files: Vec<PathBuf> = digits
        .iter()
        .enumerate()
        .map(|(i, (img, _))| {
            let f = tmp.path().join(format!("{i}.png"));
            img.save(&f).unwrap();
            f
        })
        .collect();
    // The CLI on the files.
    let mut args = vec![
        "predict".to_string(),
        run.display().to_string(),
        "--json".into(),
    ];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let json: serde_json::Value = serde_json::from_str(&run_ok(&args)).unwrap();
    let set = real_mnist(Split::Test);

    let images: Vec<DynamicImage> = digits
        .iter()
        .map(|(img, _)| DynamicImage::ImageLuma8(img.clone()))
        .collect();
    let batch = classifier.classify_batch(&images).unwrap();
    let mut right = 0;
    for (i, (image, (_, pixels))) in images.iter().zip(&digits).enumerate() {
        let one = classifier.classify(image).unwrap();
        // Every class, ranked, probabilities summing to 1.
        assert_eq!(one.len(), 10);
        assert!(one.windows(2).all(|w| w[0].probability >= w[1].probability));
        assert!((one.iter().map(|r| r.probability).sum::<f64>() - 1.0).abs() < 1e-6);
        assert_same(&one, &batch[i], "one vs batch");
        assert_same(
            &one,
            &classifier.classify_pixels(pixels).unwrap()[0],
            "pixels",
        );
        // The CLI's top 5 are the API's first 5.
        let top = json[i]["top"].as_array().unwrap();
        assert_eq!(top.len(), 5);
        for (r, t) in one.iter().zip(top) {
            assert_eq!(r.index as u64, t["index"].as_u64().unwrap(), "image {i}");
            assert!((r.probability - t["probability"].as_f64().unwrap()).abs() < 1e-6);
        }
        right += usize::from(one[0].index == set.label(i));
    }
    assert!(right >= 6, "{right}/8 right");

    // The same digit as an RGBA picture on a transparent canvas, 3× larger: converted as in
    // training (alpha over white, then inverted as for dark ink, resized), it ranks alike.
    let (img, _) = &digits[0];
    let ink = RgbaImage::from_fn(84, 84, |x, y| {
        let v = img.get_pixel(x / 3, y / 3)[0];
        Rgba([0, 0, 0, v])
    });
    let inverted = Classifier::load(&run, &device).unwrap().inverted(true);
    let rgba = inverted.classify(&DynamicImage::ImageRgba8(ink)).unwrap();
    assert_eq!(rgba[0].index, batch[0][0].index);

    // Raw pixels that are not whole images: an error saying what is expected.
    let err = classifier.classify_pixels(&[0u8; 100]).unwrap_err();
    assert!(
        format!("{err}").contains("not whole images of 1×28×28 = 784 values"),
        "{err}"
    );
    // Logits of several images at once: N × C, the first row that of the first image.
    let two: Vec<u8> = digits[..2].iter().flat_map(|(_, p)| p.clone()).collect();
    let logits = classifier.logits(&two).unwrap();
    assert_eq!(logits.len(), 20);
    let first = classifier.logits(&digits[0].1).unwrap();
    assert!(
        logits[..10]
            .iter()
            .zip(&first)
            .all(|(a, b)| (a - b).abs() < 1e-5)
    );
    // Not a run directory.
    let err = Classifier::load(tmp.path().join("nothing"), &device)
        .err()
        .unwrap();
    assert!(format!("{err}").contains("not a run directory"), "{err}");
}

/// Reads an f32 tensor of `file` by name: (shape, values).
fn tensor(file: &safetensors::SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = file.tensor(name).unwrap();
    assert_eq!(view.dtype(), safetensors::Dtype::F32);
    let values = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (view.shape().to_vec(), values)
}

#[test]
fn safetensors_export_gives_the_run_logits() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Standardized inputs, so that the metadata's mean and std matter.
    train_mnist(&run, &["data.normalize=standardize"]);
    let out = run_ok(&["export", run.to_str().unwrap()]);
    let path = run.join("model.safetensors");
    assert!(out.contains("weight [10, 784]"), "{out}");
    let bytes = std::fs::read(&path).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    let json = |k: &str| -> serde_json::Value { serde_json::from_str(&meta[k]).unwrap() };
    assert_eq!(json("input_shape"), serde_json::json!([1, 28, 28]));
    assert_eq!(
        json("classes"),
        serde_json::json!(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    );
    let mean = json("mean")[0].as_f64().unwrap() as f32 as f64;
    let std = json("std")[0].as_f64().unwrap() as f32 as f64;
    assert!(
        (0.1..0.2).contains(&mean) && (0.25..0.4).contains(&std),
        "{mean} {std}"
    );

    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort();
    assert_eq!(names, ["bias", "weight"]);
    let (wshape, w) = tensor(&file, "weight");
    let (bshape, b) = tensor(&file, "bias");
    assert_eq!((wshape, bshape), (vec![10, 784], vec![10]));

    // logits = x @ weight.T + bias with x = (v / 255 − mean) / std: the run's own logits,
    // within 1e-5 of the size of the sum's terms (f32 rounding of inputs and sums).
    let device = Backend::Cpu.device().unwrap();
    let classifier = Classifier::load(&run, &device).unwrap();
    // The exported values are the model's, bit for bit.
    let model_w: Vec<f32> = classifier
        .model()
        .weights()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(w, model_w);
    let set = real_mnist(Split::Test);
    let mut worst = 0f64;
    for i in 0..50 {
        let pixels = set.image(i);
        let expected = classifier.logits(pixels).unwrap();
        // The inputs in f32, as PyTorch would hold them.
        let x: Vec<f32> = pixels
            .iter()
            .map(|&v| ((f64::from(v) / 255.0 - mean) / std) as f32)
            .collect();
        for k in 0..10 {
            let terms: Vec<f64> = (0..784)
                .map(|j| f64::from(w[k * 784 + j]) * f64::from(x[j]))
                .collect();
            let score = terms.iter().sum::<f64>() + f64::from(b[k]);
            // f32 arithmetic is exact to about 1e-7 of the terms' magnitudes: compare there.
            let magnitude = terms.iter().map(|t| t.abs()).sum::<f64>().max(1.0);
            worst = worst.max((score - f64::from(expected[k])).abs() / magnitude);
        }
    }
    assert!(worst < 1e-5, "largest difference {worst}");

    // A model without bias exports only `weight`; --out names the file.
    let nobias = tmp.path().join("nobias");
    train_mnist(&nobias, &["model.bias=false"]);
    let out_file = tmp.path().join("exported/linear.safetensors");
    std::fs::create_dir_all(out_file.parent().unwrap()).unwrap();
    run_ok(&[
        "export",
        nobias.to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&out_file).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.names(), ["weight"]);

    // Into a folder that does not exist: an error, and no file.
    let missing = tmp.path().join("no/such/dir/m.safetensors");
    let out = linclass(
        &repo_root(),
        &[
            "export",
            run.to_str().unwrap(),
            "--out",
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!missing.exists());
}
