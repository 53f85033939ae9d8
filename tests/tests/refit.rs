//! `train.refit`: after the run, the model is trained again on the training and validation
//! parts together; `--resume` finishes a refit that did not run; `eval` reports the log loss.

use std::path::Path;

use linclass::Backend;
use linclass::Classifier;
use linclass::RunDir;
use linclass_data::mnist::Split;
use linclass_tests::{describe, linclass, real_mnist, repo_root};

const IMAGES: usize = 1000;
const LR: f64 = 0.5;

/// One epoch of full-batch gradient descent from the zero model on the first 1,000 MNIST
/// training images, 20% held out: the trained model then has a closed form.
fn train(run: &Path, refit: bool) {
    let out_dir = format!("output.dir={}", run.display());
    let refit = format!("train.refit={refit}");
    let mut args = vec!["train", "--quiet"];
    for s in [
        "data.train_limit=1000",
        "data.valid_fraction=0.2",
        "train.batch_size=full",
        "optimizer.schedule=constant",
        "optimizer.lr=0.5",
        "train.epochs=1",
        "model.init=zeros",
        refit.as_str(),
        out_dir.as_str(),
    ] {
        args.extend(["--set", s]);
    }
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
}

/// The bias after one gradient step of size `LR` from zero on the cross-entropy: at the zero
/// model every class has probability 1/C, so the gradient of b_c is 1/C − n_c/N and
/// b_c = LR (n_c/N − 1/C), with n_c the images of class c among the N trained on.
fn one_step_bias(labels: &[usize]) -> Vec<f64> {
    let n = labels.len() as f64;
    (0..10)
        .map(|c| {
            let count = labels.iter().filter(|&&l| l == c).count() as f64;
            LR * (count / n - 0.1)
        })
        .collect()
}

fn bias_of(model: &linclass_model::LinearClassifier) -> Vec<f64> {
    model
        .bias()
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-6, "{what}: {got:?} vs {want:?}");
}

/// `run`'s model.bpk is one step over all 1,000 images (training and validation parts).
fn assert_one_step_over_all_images(run: &Path, what: &str) {
    let set = real_mnist(Split::Train);
    let all: Vec<usize> = (0..IMAGES).map(|i| set.label(i)).collect();
    let device = Backend::Cpu.device().unwrap();
    let model = Classifier::load(run, &device).unwrap();
    assert_close(&bias_of(model.model()), &one_step_bias(&all), what);
}

#[test]
fn refit_trains_the_kept_model_again_on_the_training_and_validation_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, true);

    let info = RunDir::new(&run).load_info().unwrap();
    let refit = info.refit.clone().expect("run.toml records the refit");
    let curves = std::fs::read_to_string(run.join("curves.svg")).unwrap();
    assert!(curves.contains("kept epoch 1, then refit"), "curves.svg");
    assert_eq!((refit.images, refit.epochs), (IMAGES, 1));
    assert_eq!(info.data.train + info.data.valid, IMAGES);
    assert!(info.data.valid >= 150, "{:?}", info.data);
    // The zero model's loss, ln 10, is what the one step of the epoch was measured at.
    assert!((refit.train_loss - 10f64.ln()).abs() < 1e-4, "{refit:?}");

    assert_one_step_over_all_images(&run, "model.bpk");
    let device = Backend::Cpu.device().unwrap();
    let model = Classifier::load(&run, &device).unwrap();

    // The validated model (the checkpoint of the kept epoch) saw only the training part: its
    // bias is the same formula over the 800 images that were not held out, and differs.
    let validated = linclass::load_checkpoint_model(
        &RunDir::new(&run),
        1,
        &info.model,
        info.config.train.loss,
        &device,
    )
    .unwrap();
    let validated_bias = bias_of(&validated);
    assert_ne!(validated_bias, bias_of(model.model()));
    let sum: f64 = validated_bias.iter().sum();
    assert!(sum.abs() < 1e-6, "softmax bias steps sum to zero: {sum}");

    // Without refit the run's record is that validated model.
    let plain = tmp.path().join("plain");
    train(&plain, false);
    let plain_info = RunDir::new(&plain).load_info().unwrap();
    assert!(plain_info.refit.is_none());
    let plain_model = Classifier::load(&plain, &device).unwrap();
    assert_close(&bias_of(plain_model.model()), &validated_bias, "no refit");
}

#[test]
fn resume_runs_a_refit_that_did_not_run_and_only_once() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, false);
    // As a run stopped during its refit: every epoch done, refit asked for, none recorded.
    let info_path = run.join("run.toml");
    let text = std::fs::read_to_string(&info_path).unwrap();
    assert!(text.contains("refit = false"), "{text}");
    std::fs::write(&info_path, text.replace("refit = false", "refit = true")).unwrap();

    let resume = ["train", "--resume", run.to_str().unwrap()];
    let out = linclass(&repo_root(), &resume);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("its refit is not"), "{stdout}");
    assert!(stdout.contains("all 1000 images for 1 epoch "), "{stdout}");
    let info = RunDir::new(&run).load_info().unwrap();
    assert_eq!(info.refit.map(|r| r.images), Some(IMAGES));
    assert_one_step_over_all_images(&run, "resumed refit");

    // Done once: a second resume has nothing left to do and changes nothing.
    let before = std::fs::read(run.join("model.bpk")).unwrap();
    let out = linclass(&repo_root(), &resume);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("its one epoch is done"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read(run.join("model.bpk")).unwrap(), before);
}

#[test]
fn eval_reports_the_mean_cross_entropy_of_the_test_images() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, false);
    let out = linclass(&repo_root(), &["eval", "--json", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = json["n"].as_u64().unwrap() as usize;
    let reported = json["log_loss"].as_f64().unwrap();

    // −log softmax(logits)[label], averaged, from the run's own logits.
    let device = Backend::Cpu.device().unwrap();
    let classifier = Classifier::load(&run, &device).unwrap();
    let set = real_mnist(Split::Test);
    let (mut total, mut squared) = (0.0, 0.0);
    for i in 0..n {
        let logits: Vec<f64> = classifier
            .logits(set.image(i))
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let log_z = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
        total += log_z - logits[set.label(i)];
        // The squared error against the one-hot label, mean over the 10 classes.
        squared += (0..10)
            .map(|c| (logits[c] - if c == set.label(i) { 1.0 } else { 0.0 }).powi(2))
            .sum::<f64>()
            / 10.0;
    }
    let expected = total / n as f64;
    assert!(
        (reported - expected).abs() < 1e-5,
        "{reported} vs {expected}"
    );
    let squared_error = json["squared_error"].as_f64().unwrap();
    assert!(
        (squared_error - squared / n as f64).abs() < 1e-6,
        "{squared_error} vs {}",
        squared / n as f64
    );
    assert!(json.get("refit").is_none(), "{json}");
    // One gradient step from the zero model (loss ln 10 = 2.303) already lowers it.
    assert!((0.5..2.2).contains(&reported), "{reported}");
    let text = linclass(&repo_root(), &["eval", run.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains(&format!(
            "log loss (cross-entropy of the softmax, the training loss): {reported:.4}"
        )),
        "{}",
        describe(&text)
    );
}

#[test]
fn eval_and_export_say_which_model_and_which_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, true);
    let r = run.to_str().unwrap();
    let text = linclass(&repo_root(), &["eval", r]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.starts_with(
            "model: refit on all 1000 training images (validation part included) for 1 epoch;"
        ),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&linclass(&repo_root(), &["eval", "--json", r]).stdout).unwrap();
    assert_eq!(json["refit"]["images"], 1000);
    let out = linclass(&repo_root(), &["export", r]);
    assert!(out.status.success(), "{}", describe(&out));
    let bytes = std::fs::read(run.join("model.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let trained: serde_json::Value =
        serde_json::from_str(&header.metadata().clone().unwrap()["trained"]).unwrap();
    assert_eq!(
        trained,
        serde_json::json!({"images": 1000, "epochs": 1, "refit": true, "loss": "cross_entropy"})
    );

    // A squared-error model: its own loss first, the log loss marked as not calibrated.
    let se = tmp.path().join("se");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--quiet",
            "--set",
            "data.train_limit=1000",
            "--set",
            "train.epochs=1",
            "--set",
            "train.loss=squared_error",
            "--set",
            &format!("output.dir={}", se.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = linclass(&repo_root(), &["eval", se.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("squared error (the training loss, mean over classes): ")
            && stdout.contains("not the training loss, so its probabilities are not calibrated"),
        "{stdout}"
    );
}

/// Sets `[config.train] key = value` in a run's run.toml.
fn set_train_key(run: &Path, key: &str, value: &str) {
    let path = run.join("run.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_train = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with('[') {
                in_train = line.trim() == "[config.train]";
            }
            if in_train && line.starts_with(&format!("{key} = ")) {
                format!("{key} = {value}")
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn new_epochs_after_a_refit_drop_its_record_and_its_derived_files() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(&run, true);
    let r = run.to_str().unwrap();
    let out = linclass(&repo_root(), &["eval", r]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(run.join("confusion.png").is_file());

    // Two more epochs, no refit this time: the record is the validated model of the run's
    // kept epoch, and run.toml no longer claims a refit.
    set_train_key(&run, "epochs", "3");
    set_train_key(&run, "refit", "false");
    let out = linclass(&repo_root(), &["train", "--quiet", "--resume", r]);
    assert!(out.status.success(), "{}", describe(&out));
    let info = RunDir::new(&run).load_info().unwrap();
    assert!(info.refit.is_none());
    assert!(
        !std::fs::read_to_string(run.join("run.toml"))
            .unwrap()
            .contains("[refit]")
    );
    assert!(
        !run.join("confusion.png").exists(),
        "a picture of the old model stayed"
    );
    let (_, kept) =
        linclass::read_metrics_csv(&std::fs::read_to_string(run.join("metrics.csv")).unwrap());
    let device = Backend::Cpu.device().unwrap();
    let checkpoint = linclass::load_checkpoint_model(
        &RunDir::new(&run),
        kept.unwrap(),
        &info.model,
        info.config.train.loss,
        &device,
    )
    .unwrap();
    let model = Classifier::load(&run, &device).unwrap();
    assert_close(
        &bias_of(model.model()),
        &bias_of(&checkpoint),
        "validated record",
    );

    // Without its record, a run stopped early points to --resume.
    std::fs::remove_file(run.join("model.bpk")).unwrap();
    let out = linclass(&repo_root(), &["eval", r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`linclass train --resume "),
        "{}",
        describe(&out)
    );
}
