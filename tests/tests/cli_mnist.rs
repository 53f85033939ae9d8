//! End to end through the CLI binary on the real MNIST: train on a 2,000-image slice (small
//! batches, so that two epochs make a few hundred steps), evaluate on the test split, and
//! classify PNGs written from test images.

use std::path::Path;

use linclass_data::mnist::{self, DIGITS, Split};
use linclass_data::official::Expect;
use linclass_tests::{describe, linclass, mnist_dir, repo_root};

fn write_png(set: &linclass_data::ImageSet, index: usize, path: &Path) {
    let [_, h, w] = set.shape();
    image::GrayImage::from_raw(w as u32, h as u32, set.image(index).to_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

#[test]
fn train_eval_predict_on_an_mnist_slice() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let run_s = run.to_str().unwrap();
    let out = linclass(
        &repo_root(),
        &[
            // The config by position, as `data info` takes it (`--config` elsewhere).
            "train",
            "configs/mnist.toml",
            "--set",
            "data.train_limit=2000",
            "--set",
            "train.epochs=2",
            "--set",
            "train.batch_size=10",
            "--set",
            "optimizer.lr=0.1",
            "--set",
            &format!("output.dir={run_s}"),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Not a terminal: one clean line per epoch, no per-batch output.
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 2, "{stdout}");
    assert!(epoch_lines[1].contains("epoch   2/2") && epoch_lines[1].contains("valid loss"));
    assert!(stdout.lines().count() <= 6, "{stdout}");
    assert!(stdout.contains("1900 images (100 held out"), "{stdout}");

    for f in ["model.bpk", "run.toml", "metrics.csv"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("epoch,train_loss,train_acc"));
    // Plain decimals in every column, the learning rate included (as spreadsheets show them).
    assert!(!rows[1].contains('e'), "{csv}");
    let cols: Vec<f64> = rows[2].split(',').map(|v| v.parse().unwrap()).collect();
    assert_eq!(cols[0], 2.0);
    assert!(
        cols[5] > 0.8 && cols[5] <= 1.0,
        "valid accuracy {}",
        cols[5]
    );

    // Evaluation on the full test split.
    let out = linclass(&repo_root(), &["eval", run_s, "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["n"], 10_000);
    let top1 = json["top1"].as_f64().unwrap();
    assert_eq!(json["k"], 5);
    let top5 = json["topk"].as_f64().unwrap();
    assert!(top1 > 0.85, "top-1 {top1}");
    assert!(top5 > top1 && top5 <= 1.0);
    let per_class = json["per_class"].as_array().unwrap();
    assert_eq!(per_class.len(), 10);
    let correct: u64 = per_class
        .iter()
        .map(|c| c["correct"].as_u64().unwrap())
        .sum();
    assert_eq!(correct as f64 / 10_000.0, top1);

    let out = linclass(&repo_root(), &["eval", run_s]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("top-1 accuracy:") && text.contains("confusion matrix"),
        "{text}"
    );

    // Prediction on PNGs of the first 20 test digits (the first three are 7, 2, 1).
    let test = mnist::read_split(
        &mnist_dir(),
        Split::Test,
        &DIGITS,
        &Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .unwrap();
    let mut files = Vec::new();
    for i in 0..20 {
        let p = tmp.path().join(format!("digit{i}.png"));
        write_png(&test, i, &p);
        files.push(p);
    }
    let mut args = vec!["predict", run_s];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    args.push("--json");
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let predicted: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["top"][0]["class"].as_str().unwrap())
        .collect();
    assert_eq!((predicted[0], predicted[2]), ("7", "1"), "{predicted:?}");
    let right = (0..20)
        .filter(|&i| predicted[i] == DIGITS[test.label(i)])
        .count();
    assert!(right >= 16, "{right}/20 right: {predicted:?}");
    let top = json[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    let probs: Vec<f64> = top
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .collect();
    assert!(
        probs.windows(2).all(|w| w[0] >= w[1]) && probs[0] > 0.5,
        "{probs:?}"
    );

    let out = linclass(
        &repo_root(),
        &["predict", run_s, files[0].to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1. 7"), "{text}");

    // One unreadable file among good ones: the good ones are still classified, the bad one is
    // the error line, and the exit code says something failed.
    let broken = tmp.path().join("broken.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n cut").unwrap();
    let (a, b) = (files[0].to_str().unwrap(), files[2].to_str().unwrap());
    let out = linclass(
        &repo_root(),
        &["predict", run_s, a, broken.to_str().unwrap(), b],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("digit0.png") && text.contains("digit2.png"),
        "{text}"
    );
    assert!(
        text.contains("1. 7") && text.contains("1. 1") && !text.contains("broken"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
    let out = linclass(
        &repo_root(),
        &["predict", run_s, a, broken.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["top"][0]["class"], "7");
    assert!(json[0].get("error").is_none(), "{json}");
    assert!(
        json[1]["error"].as_str().unwrap().contains("cannot decode"),
        "{json}"
    );
    assert!(json[1].get("top").is_none(), "{json}");
}

#[test]
fn bad_input_gives_one_line_errors_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["eval".into(), missing.display().to_string()],
            "not a run directory",
        ),
        (
            vec!["train".into(), "--set".into(), "optimizer.lrr=1".into()],
            "unknown key 'optimizer.lrr'",
        ),
        (
            vec!["train".into(), "--set".into(), "train.batch_size=0".into()],
            "train.batch_size = 0",
        ),
        (
            vec![
                "train".into(),
                "--config".into(),
                missing.display().to_string(),
            ],
            "cannot read config",
        ),
        (
            vec![
                "train".into(),
                "--set".into(),
                format!("data.dir={}", tmp.path().display()),
            ],
            "missing train-images-idx3-ubyte.gz",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = linclass(&repo_root(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_config_given_both_ways_is_refused_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    for command in [
        &["train"][..],
        &["sweep"],
        &["bench"],
        &["gradcheck"],
        &["data", "info"],
    ] {
        let args: Vec<&str> = command
            .iter()
            .copied()
            .chain(["a.toml", "--config", "b.toml"])
            .collect();
        let out = linclass(tmp.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be used with"), "{stderr}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}

#[test]
fn bench_synthetic_is_refused_for_a_dataset_without_a_stand_in() {
    let out = linclass(
        &repo_root(),
        &["bench", "configs/mnist.toml", "--synthetic"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "only cifar10, imagenet32 and imagenet64 have synthetic stand-ins, not mnist"
        ),
        "{stderr}"
    );
}

/// A shipped config named from another folder (where a prebuilt `linclass` runs) is read from
/// the source tree, and that is said; a config that exists nowhere is an error naming it.
#[test]
fn shipped_configs_are_found_from_any_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = linclass(tmp.path(), &["data", "info", "configs/mnist-lecture.toml"]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "note: configs/mnist-lecture.toml is not in the working directory; reading the shipped"
        ),
        "{err}"
    );
    let out = linclass(tmp.path(), &["data", "info", "configs/nothing.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("configs/nothing.toml"));
}

#[test]
fn the_default_mnist_run_reaches_the_same_test_accuracy_with_either_gradient() {
    let tmp = tempfile::tempdir().unwrap();
    let accuracy = |gradient: &str| -> f64 {
        let run = tmp.path().join(gradient);
        let out = linclass(
            &repo_root(),
            &[
                "train",
                "--quiet",
                "--set",
                &format!("train.gradient={gradient}"),
                "--set",
                &format!("output.dir={}", run.display()),
            ],
        );
        assert!(out.status.success(), "{}", describe(&out));
        let info = std::fs::read_to_string(run.join("run.toml")).unwrap();
        assert!(
            info.contains(&format!("gradient = \"{gradient}\"")),
            "{info}"
        );
        let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", describe(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["top1"].as_f64().unwrap()
    };
    let (analytic, autodiff) = (accuracy("analytic"), accuracy("autodiff"));
    assert!(analytic > 0.92, "{analytic}");
    assert!(
        (analytic - autodiff).abs() <= 0.0005,
        "test accuracy {analytic} (analytic) vs {autodiff} (autodiff)"
    );
}
