//! The lecture's design choices as options: batch size from 1 to "full", the three losses,
//! initialization, learning-rate schedules, early stopping, determinism, sweeps, gradcheck and
//! divergence.

use std::path::Path;

use burn::prelude::*;
use linclass::Backend;
use linclass::loss;
use linclass::{GradientKind, LossKind};
use linclass::{RunDir, load_record};
use linclass_data::mnist::{self, DIGITS, Split};
use linclass_data::official::Expect;
use linclass_data::split::train_valid_split;
use linclass_tests::{describe, linclass, mnist_dir, repo_root};

/// `train` on MNIST with a constant learning rate and a 10% validation part (what these tests
/// count steps and rates against), then `sets`.
fn train(run: &Path, sets: &[&str]) -> std::process::Output {
    let mut args = vec!["train".to_string(), "--quiet".into()];
    for s in ["optimizer.schedule=constant", "data.valid_fraction=0.1"]
        .iter()
        .chain(sets)
        .map(|s| s.to_string())
        .chain([format!("output.dir={}", run.display())])
    {
        args.push("--set".into());
        args.push(s);
    }
    linclass(
        &repo_root(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

fn train_ok(run: &Path, sets: &[&str]) {
    let out = train(run, sets);
    assert!(out.status.success(), "{}", describe(&out));
}

/// Rows of a run's metrics CSV as numbers.
fn metrics(run: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

const STEPS: usize = 8;
const LR: usize = 7;
const VALID_ACC: usize = 5;

#[test]
fn full_batch_is_one_exact_gradient_step_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("full");
    train_ok(
        &run,
        &[
            "data.train_limit=200",
            "train.batch_size=full",
            "train.epochs=1",
            "model.init=zeros",
            "optimizer.lr=0.5",
        ],
    );
    assert_eq!(metrics(&run)[0][STEPS], 1.0);

    // From W = 0, b = 0 every class has probability 1/10, so one full-batch step gives
    // W[k] = −lr · mean_i x_i (1/10 − [y_i = k]) over the 180 training images.
    let set = mnist::read_split(
        &mnist_dir(),
        Split::Train,
        &DIGITS,
        &Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .unwrap()
    .truncated(200);
    let split = train_valid_split(200, 0.1, 42);
    let n = split.train.len() as f64;
    let device = Backend::Cpu.device().unwrap();
    let run_dir = RunDir::new(&run);
    let info = run_dir.load_info().unwrap();
    let model = run_dir.load_model(&info, &device).unwrap();
    let w: Vec<f32> = model.weights().into_data().try_into_vec::<f32>().unwrap(); // [C, D]
    let b: Vec<f32> = model
        .bias()
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let mut worst = 0f64;
    for k in 0..10 {
        let mut grad_b = 0.0;
        let mut grad_w = vec![0f64; 784];
        for &i in &split.train {
            let i = i as usize;
            let g = 0.1 - f64::from(set.label(i) == k);
            grad_b += g / n;
            for (j, &v) in set.image(i).iter().enumerate() {
                grad_w[j] += g * (v as f64 / 255.0) / n;
            }
        }
        worst = worst.max((b[k] as f64 + 0.5 * grad_b).abs());
        for j in 0..784 {
            worst = worst.max((w[k * 784 + j] as f64 + 0.5 * grad_w[j]).abs());
        }
    }
    assert!(worst < 1e-5, "full-batch step differs by {worst}");
}

#[test]
fn online_sgd_takes_one_step_per_example() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("online");
    train_ok(
        &run,
        &[
            "data.train_limit=300",
            "train.batch_size=1",
            "train.epochs=2",
            "optimizer.lr=0.01",
        ],
    );
    let rows = metrics(&run);
    assert_eq!(rows.len(), 2);
    // 300 − round(300 × 0.1) = 270 training images: 270 updates per epoch.
    assert!(rows.iter().all(|r| r[STEPS] == 270.0), "{rows:?}");
    let run = tmp.path().join("b64");
    train_ok(
        &run,
        &[
            "data.train_limit=300",
            "train.batch_size=64",
            "train.epochs=1",
        ],
    );
    assert_eq!(metrics(&run)[0][STEPS], 5.0); // ⌈270 / 64⌉
}

#[test]
fn squared_error_and_cross_entropy_both_learn() {
    let tmp = tempfile::tempdir().unwrap();
    for (loss, lr) in [
        ("cross_entropy", "0.1"),
        ("squared_error", "0.1"),
        ("nll", "0.1"),
    ] {
        let run = tmp.path().join(loss);
        train_ok(
            &run,
            &[
                "data.train_limit=2000",
                "train.epochs=3",
                "train.batch_size=16",
                &format!("train.loss={loss}"),
                &format!("optimizer.lr={lr}"),
            ],
        );
        let acc = metrics(&run).last().unwrap()[VALID_ACC];
        assert!(acc > 0.8, "{loss}: valid accuracy {acc}");
    }
}

#[test]
fn nll_equals_cross_entropy_and_squared_error_is_the_lecture_formula() {
    let device = Backend::Cpu.device().unwrap();
    let logits = Tensor::<2>::from_data(
        [[2.0f32, -1.0, 0.5], [0.1, 0.2, 3.0], [-4.0, 4.0, 0.0]],
        &device,
    );
    let y = Tensor::<1, Int>::from_data([0i64, 1, 1], &device);
    for gradient in [GradientKind::Analytic, GradientKind::Autodiff] {
        let (logits, y) = (logits.clone(), y.clone());
        let ce: f32 =
            loss(LossKind::CrossEntropy, gradient, logits.clone(), y.clone()).into_scalar();
        let nll: f32 = loss(LossKind::Nll, gradient, logits.clone(), y.clone()).into_scalar();
        assert!((ce - nll).abs() < 1e-6, "{ce} vs {nll}");
        // By hand: mean over samples of log Σ exp(s) − s_y.
        let rows = [[2.0f64, -1.0, 0.5], [0.1, 0.2, 3.0], [-4.0, 4.0, 0.0]];
        let expected: f64 = rows
            .iter()
            .zip([0usize, 1, 1])
            .map(|(r, t)| r.iter().map(|v| v.exp()).sum::<f64>().ln() - r[t])
            .sum::<f64>()
            / 3.0;
        assert!((ce as f64 - expected).abs() < 1e-5);
        let se: f32 = loss(LossKind::SquaredError, gradient, logits, y).into_scalar();
        let expected_se: f64 = rows
            .iter()
            .zip([0usize, 1, 1])
            .map(|(r, t)| {
                r.iter()
                    .enumerate()
                    .map(|(k, v)| (v - f64::from(k == t)).powi(2))
                    .sum::<f64>()
                    / 3.0 // mean over the 3 classes
            })
            .sum::<f64>()
            / 3.0;
        assert!(
            (se as f64 - expected_se).abs() < 1e-4,
            "{se} vs {expected_se}"
        );
    }
}

#[test]
fn same_config_and_seed_give_a_bitwise_identical_record() {
    let tmp = tempfile::tempdir().unwrap();
    let sets = [
        "data.train_limit=1000",
        "train.epochs=2",
        "train.batch_size=32",
        "optimizer.momentum=0.9",
        "optimizer.lr=0.05",
    ];
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    train_ok(&a, &sets);
    train_ok(&b, &sets);
    let read = |p: &Path| std::fs::read(p.join("model.bpk")).unwrap();
    assert!(read(&a) == read(&b), "two runs of the same config differ");
    let mut other = sets.to_vec();
    other.push("train.seed=7");
    train_ok(&c, &other);
    assert!(read(&a) != read(&c), "another seed gave the same record");
}

#[test]
fn init_options_give_the_configured_start() {
    let device = Backend::Cpu.device().unwrap();
    let mut cfg = linclass_model::LinearClassifierConfig::new([1, 28, 28], 10);
    cfg.init = linclass_model::Init::Normal;
    cfg.init_std = 0.05;
    device.seed(1);
    let w: Vec<f32> = cfg
        .init(&device)
        .weights()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let std = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    assert!((std - 0.05).abs() < 0.005, "std {std}");
    cfg.init = linclass_model::Init::Uniform;
    let w: Vec<f32> = cfg
        .init(&device)
        .weights()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let bound = 1.0 / 784f32.sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound + 1e-6));
    assert!(w.iter().any(|v| v.abs() > bound * 0.9));
}

#[test]
fn learning_rate_schedules() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("step");
    train_ok(
        &run,
        &[
            "data.train_limit=500",
            "train.epochs=3",
            "optimizer.lr=0.4",
            "optimizer.schedule=step",
            "optimizer.step_epochs=1",
            "optimizer.step_gamma=0.5",
        ],
    );
    let lrs: Vec<f64> = metrics(&run).iter().map(|r| r[LR]).collect();
    assert_eq!(lrs, vec![0.4, 0.2, 0.1]);

    let run = tmp.path().join("cosine");
    train_ok(
        &run,
        &[
            "data.train_limit=500",
            "train.epochs=4",
            "optimizer.lr=0.4",
            "optimizer.schedule=cosine",
        ],
    );
    let lrs: Vec<f64> = metrics(&run).iter().map(|r| r[LR]).collect();
    assert!((lrs[0] - 0.4).abs() < 1e-3, "{lrs:?}");
    assert!(lrs.windows(2).all(|w| w[1] < w[0]), "{lrs:?}");
    // Half way through a cosine schedule the rate is half the initial one.
    assert!((lrs[2] - 0.2).abs() < 0.01, "{lrs:?}");
}

#[test]
fn early_stopping_ends_when_the_valid_loss_stalls() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("es");
    // 45 training images and a large step: the model overfits and the valid loss turns up.
    train_ok(
        &run,
        &[
            "data.train_limit=50",
            "train.epochs=60",
            "train.batch_size=5",
            "optimizer.lr=0.5",
            "train.early_stopping_patience=2",
        ],
    );
    let rows = metrics(&run);
    assert!(rows.len() < 60, "ran all {} epochs", rows.len());
    // It stopped `patience` epochs after the best valid loss.
    let best = rows
        .iter()
        .enumerate()
        .min_by(|a, b| a.1[4].total_cmp(&b.1[4]))
        .unwrap()
        .0;
    assert_eq!(rows.len(), best + 1 + 2, "{rows:?}");
}

#[test]
fn divergence_stops_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("div");
    let out = train(
        &run,
        &[
            "data.train_limit=500",
            "train.loss=squared_error",
            "optimizer.lr=1000",
            "optimizer.schedule=constant",
            "train.epochs=2",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("training diverged") && err.contains("smaller learning rate"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn gradcheck_errors_are_small_for_every_loss_gradient_and_cpu_backend() {
    let number = |text: &str, after: &str| -> f64 {
        text.split(after)
            .nth(1)
            .and_then(|t| t.split([',', '\n']).next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number after '{after}' in {text}"))
    };
    for backend in ["cpu", "ndarray"] {
        for loss in ["cross_entropy", "nll", "squared_error"] {
            let out = linclass(
                &repo_root(),
                &[
                    "--backend",
                    backend,
                    "gradcheck",
                    "configs/mnist.toml",
                    "--set",
                    &format!("train.loss={loss}"),
                    "--set",
                    "model.init=normal",
                ],
            );
            assert!(out.status.success(), "{}", describe(&out));
            let text = String::from_utf8_lossy(&out.stdout);
            // NLL is the cross-entropy in two steps: differentiated automatically only.
            let paths: &[&str] = if loss == "nll" {
                &["autodiff"]
            } else {
                &["analytic", "autodiff"]
            };
            for path in paths {
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&format!("loss {loss}, {path} gradient:")))
                    .unwrap_or_else(|| panic!("{backend} {loss} {path}: {text}"));
                assert!(number(line, "largest relative error ") < 1e-4, "{line}");
            }
            assert_eq!(text.contains("analytic gradient"), loss != "nll", "{text}");
            if loss != "nll" {
                let between = number(&text, "largest relative difference ");
                assert!(between < 1e-4, "{backend} {loss}: {text}");
            }
            assert!(
                text.ends_with("pass: every relative error is under 1e-4\n"),
                "{text}"
            );
        }
    }
}

#[test]
fn sweep_ranks_by_validation_and_tests_only_the_choice() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sweep");
    let out = linclass(
        &repo_root(),
        &[
            "sweep",
            "--grid",
            "optimizer.lr=0.001,0.5",
            "--grid",
            "train.batch_size=32,full",
            "--set",
            "data.train_limit=1000",
            "--set",
            "train.epochs=2",
            "--set",
            &format!("output.dir={}", root.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let csv = std::fs::read_to_string(root.join("sweep.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 4);
    let valid: Vec<f64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(valid.windows(2).all(|w| w[0] >= w[1]), "{valid:?}");
    assert_eq!(valid[0], valid.iter().cloned().fold(0.0, f64::max), "{csv}");
    let md = std::fs::read_to_string(root.join("sweep.md")).unwrap();
    assert_eq!(md.matches("test top-1").count(), 1, "{md}");
    assert!(
        md.starts_with("| optimizer.lr | train.batch_size | train acc |"),
        "{md}"
    );
    // Every combination left a usable run.
    assert_eq!(
        std::fs::read_dir(&root)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().is_dir())
            .count(),
        4
    );
    assert!(
        load_record(
            &Path::new(rows[0][7]).join("model.bpk"),
            &RunDir::new(rows[0][7]).load_info().unwrap().model,
            &Backend::Cpu.device().unwrap()
        )
        .is_ok()
    );
    // The valid accuracy of each row is that of the epoch its run kept; each run has its curves.
    for r in &rows {
        assert!(Path::new(r[7]).join("curves.png").is_file(), "{r:?}");
        let metrics = std::fs::read_to_string(Path::new(r[7]).join("metrics.csv")).unwrap();
        let kept = metrics.lines().find(|l| l.ends_with(",1")).unwrap();
        let kept_valid: f64 = kept.split(',').nth(5).unwrap().parse().unwrap();
        assert!(
            (kept_valid - r[3].parse::<f64>().unwrap()).abs() < 1e-5,
            "{kept} vs {r:?}"
        );
        // The epoch column names that kept epoch.
        assert_eq!(r[9], kept.split(',').next().unwrap(), "{kept} vs {r:?}");
    }
}

#[test]
fn a_sweep_goes_on_past_a_combination_that_diverges() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sweep");
    let out = linclass(
        &repo_root(),
        &[
            "sweep",
            "--grid",
            "optimizer.lr=5000,0.5",
            "--set",
            "optimizer.schedule=constant",
            "--set",
            "data.train_limit=1000",
            "--set",
            "train.epochs=2",
            "--set",
            &format!("output.dir={}", root.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("optimizer.lr=5000: failed: training diverged"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(root.join("sweep.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    // The one that trained ranks first and is the one evaluated; the failed one is listed last
    // with its reason.
    assert!(rows[0].starts_with("0.5,"), "{csv}");
    assert!(
        // No run path: the diverged run's directory is gone.
        rows[1].starts_with("5000,,,,,,,\"") && rows[1].contains("training diverged"),
        "{csv}"
    );
    let md = std::fs::read_to_string(root.join("sweep.md")).unwrap();
    assert!(md.contains("| 5000 | training diverged |"), "{md}");
    assert!(
        md.contains("Chosen on validation accuracy: optimizer.lr=0.5"),
        "{md}"
    );

    // When every combination fails, the sweep fails, saying why.
    let out = linclass(
        &repo_root(),
        &[
            "sweep",
            "--grid",
            "optimizer.lr=5000,9000",
            "--set",
            "optimizer.schedule=constant",
            "--set",
            "data.train_limit=1000",
            "--set",
            &format!("output.dir={}", tmp.path().join("all").display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("every combination failed"),
        "{}",
        describe(&out)
    );
}

/// The epoch's training loss is the mean over its images, whatever the batches: with the model
/// held still (a learning rate of 1e-12 from a random start), batches of 143 + 1 images, of 7
/// and one batch of all 144 give the same figure (the mean of batch means gave 0.164 for 0.102
/// on a small folder).
#[test]
fn the_epoch_loss_is_the_mean_over_images_not_over_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let losses: Vec<(f64, f64)> = ["full", "7", "143"]
        .iter()
        .map(|batch| {
            let run = tmp.path().join(format!("b{batch}"));
            train_ok(
                &run,
                &[
                    "data.train_limit=160",
                    "model.init=normal",
                    "model.init_std=0.3",
                    "optimizer.lr=1e-12",
                    "train.epochs=1",
                    "train.shuffle=false",
                    &format!("train.batch_size={batch}"),
                ],
            );
            let rows = metrics(&run);
            (rows[0][1], rows[0][4])
        })
        .collect();
    let (full_train, full_valid) = losses[0];
    assert!(
        full_train > 0.5,
        "a random start has a real loss: {full_train}"
    );
    for &(train, valid) in &losses[1..] {
        assert!((train - full_train).abs() < 1e-5, "{losses:?}");
        assert_eq!(valid, full_valid, "{losses:?}");
    }
}

/// Grid mistakes are one-line errors that say where the values came from, found before any
/// training or any file: a key given twice (its first values would be dropped), a value listed
/// twice (one run trained twice), a wrong type or an unknown key, on the command line or in a
/// config's `[sweep] grid` (which `train` also checks, as it reads the file).
#[test]
fn sweep_grid_mistakes_are_errors_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("sweep");
    let set_out = format!("output.dir={}", out_dir.display());
    let cases: [(&[&str], &str); 8] = [
        (
            &["--grid", "optimizer.lr=0.1", "--grid", "optimizer.lr=0.5"],
            "--grid optimizer.lr is given twice",
        ),
        (
            &["--grid", "train.refit=false,true"],
            "--grid: train.refit cannot be swept",
        ),
        (
            &["--grid", "optimizer.lr=0.1,0.5,0.1"],
            "the value 0.1 is listed twice",
        ),
        (
            &["--grid", "data.random_flip=false,yes"],
            "--grid data.random_flip=yes: invalid type",
        ),
        (
            &["--grid", "train.epoch=1,2"],
            "--grid train.epoch=1: unknown key",
        ),
        (
            &["--grid", "optimizer.lr=0.10,1e-1"],
            "the value 1e-1 is listed twice (as 0.10)",
        ),
        (
            &[
                "--grid",
                "optimizer.lr=0.1,0.5",
                "--grid",
                "optimizer.lr.cross_entropy=0.2",
            ],
            "the grid sets both optimizer.lr and optimizer.lr.cross_entropy",
        ),
        (
            &[
                "--grid",
                "optimizer.lr=0.1,0.5",
                "--set",
                "optimizer.lr=0.3",
            ],
            "--set optimizer.lr=0.3: optimizer.lr is swept",
        ),
    ];
    for (grid, expected) in cases {
        let mut args = vec!["sweep", "configs/mnist.toml", "--set", &set_out];
        args.extend(grid);
        let out = linclass(&repo_root(), &args);
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{grid:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(!out_dir.exists(), "{grid:?} left {}", out_dir.display());
    }

    let config = tmp.path().join("grid.toml");
    std::fs::write(
        &config,
        "[sweep]\ngrid = { \"data.random_flips\" = [false, true] }\n",
    )
    .unwrap();
    for command in ["train", "sweep"] {
        let out = linclass(
            &repo_root(),
            &[command, config.to_str().unwrap(), "--set", &set_out],
        );
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("grid.toml: [sweep] grid data.random_flips=false: unknown key"),
            "{stderr}"
        );
        assert!(!out_dir.exists());
    }
}

#[test]
fn a_sweep_with_refit_refits_only_the_chosen_combination() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sweep");
    let out = linclass(
        &repo_root(),
        &[
            "sweep",
            "--grid",
            "optimizer.lr=0.01,0.5",
            "--set",
            "data.train_limit=2000",
            "--set",
            "train.epochs=2",
            "--set",
            "train.refit=true",
            "--set",
            &format!("output.dir={}", root.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let md = std::fs::read_to_string(root.join("sweep.md")).unwrap();
    assert!(
        md.contains("optimizer.lr=0.5, refit on all 2000 images for 2 epochs → test top-1"),
        "{md}"
    );
    let mut refitted = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let info = std::fs::read_to_string(dir.join("run.toml")).unwrap();
            if info.contains("[refit]") {
                refitted.push(dir.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert_eq!(refitted, ["001_lr=0.5"], "{md}");
}
