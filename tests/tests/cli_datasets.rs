//! Every dataset kind trains end to end from the CLI on files in its official layout, and the
//! shipped configs are valid.

use std::path::Path;

use linclass_data::idx::encode_idx;
use linclass_data::mnist::{self, DIGITS, Split};
use linclass_data::official::Expect;
use linclass_tests::{
    cifar10_files, describe, linclass, mnist_dir, repo_root, write_cifar10, write_cifar100,
    write_gz,
};

/// Trains with `sets` and returns the parsed `eval --json` of the run.
fn train_and_eval(run: &Path, config: &str, sets: &[String]) -> serde_json::Value {
    let mut args = vec!["train".to_string(), "--config".into(), config.into()];
    for s in sets.iter().cloned().chain([
        format!("output.dir={}", run.display()),
        // The files written by the tests are small subsets of the official sizes.
        "data.subset=true".into(),
    ]) {
        args.push("--set".into());
        args.push(s);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = linclass(&repo_root(), &args);
    assert!(out.status.success(), "{}", describe(&out));
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn shipped_configs_are_valid() {
    let mut n = 0;
    for entry in std::fs::read_dir(repo_root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            linclass::ExperimentConfig::load(&path, &[])
                .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 5, "{n} configs");
}

#[test]
fn cifar10_trains_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar10(tmp.path(), 60);
    let json = train_and_eval(
        &tmp.path().join("run"),
        "configs/cifar10.toml",
        &[
            format!("data.dir={}", tmp.path().display()),
            "train.epochs=10".into(),
            "train.batch_size=16".into(),
            "data.normalize=standardize".into(),
            "optimizer.lr=0.01".into(),
            "optimizer.schedule=constant".into(),
        ],
    );
    assert_eq!(json["n"], 60);
    assert_eq!(json["classes"][3], "cat");
    // Each synthetic class has its own colour: a linear model separates them.
    assert!(json["top1"].as_f64().unwrap() > 0.9, "{json}");
}

#[test]
fn cifar100_coarse_trains_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar100(tmp.path(), 1000, 200);
    let json = train_and_eval(
        &tmp.path().join("run"),
        "configs/cifar100.toml",
        &[
            format!("data.dir={}", tmp.path().display()),
            "data.label=coarse".into(),
            "train.epochs=2".into(),
        ],
    );
    assert_eq!(json["per_class"].as_array().unwrap().len(), 20);
    assert_eq!(json["classes"][19], "coarse19");
    assert_eq!(json["n"], 200);
}

#[test]
fn fashion_mnist_trains_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    // Class k: a bright horizontal band at row 2k + 4.
    let make = |n: usize| {
        let mut pixels = vec![0u8; n * 784];
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (i, &l) in labels.iter().enumerate() {
            let row = 2 * l as usize + 4;
            for x in 0..28 {
                pixels[i * 784 + row * 28 + x] = 200 + (x % 50) as u8;
            }
        }
        (encode_idx(&[n, 28, 28], &pixels), encode_idx(&[n], &labels))
    };
    for (prefix, n) in [("train", 300), ("t10k", 50)] {
        let (images, labels) = make(n);
        write_gz(
            &tmp.path().join(format!("{prefix}-images-idx3-ubyte.gz")),
            &images,
        );
        write_gz(
            &tmp.path().join(format!("{prefix}-labels-idx1-ubyte.gz")),
            &labels,
        );
    }
    let json = train_and_eval(
        &tmp.path().join("run"),
        "configs/fashion-mnist.toml",
        &[
            format!("data.dir={}", tmp.path().display()),
            "train.epochs=3".into(),
        ],
    );
    assert_eq!(json["classes"][9], "Ankle boot");
    assert!(json["top1"].as_f64().unwrap() > 0.9, "{json}");
}

#[test]
fn image_folder_of_mnist_pngs_trains_to_a_sensible_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("digits");
    let train = mnist::read_split(
        &mnist_dir(),
        Split::Train,
        &DIGITS,
        &Expect::default(),
        &mnist::MNIST_SUMS,
        &mut Vec::new(),
    )
    .unwrap();
    let mut written = [0usize; 10];
    for i in 0..train.len() {
        let l = train.label(i);
        if written[l] == 100 {
            continue;
        }
        let dir = root.join(DIGITS[l]);
        std::fs::create_dir_all(&dir).unwrap();
        image::GrayImage::from_raw(28, 28, train.image(i).to_vec())
            .unwrap()
            .save(dir.join(format!("{i}.png")))
            .unwrap();
        written[l] += 1;
        if written.iter().all(|&w| w == 100) {
            break;
        }
    }
    let run = tmp.path().join("run");
    let json = train_and_eval(
        &run,
        "configs/image-folder.toml",
        &[
            format!("data.dir={}", root.display()),
            "data.folder.channels=1".into(),
            "data.folder.height=28".into(),
            "data.folder.width=28".into(),
            "train.epochs=10".into(),
            "train.batch_size=16".into(),
            "optimizer.lr=0.1".into(),
        ],
    );
    // 20% of each class is the test split.
    assert_eq!(json["n"], 200);
    let top1 = json["top1"].as_f64().unwrap();
    assert!(top1 > 0.75, "top-1 {top1}");

    // The run classifies one of its own files like eval did (same decoding path).
    let some = root
        .join("3")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = linclass(
        &repo_root(),
        &[
            "predict",
            run.to_str().unwrap(),
            some.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn data_info_reports_splits_and_classes() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar10(tmp.path(), 20);
    let out = linclass(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/cifar10.toml",
            "--set",
            &format!("data.dir={}", tmp.path().display()),
            "--set",
            "data.subset=true",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("samples: train 100 (of which 95 for training, 5 for validation), test 20"),
        "{text}"
    );
    assert!(
        text.contains("[3, 32, 32]") && text.contains("classes: 10"),
        "{text}"
    );
    assert!(text.contains("truck"), "{text}");

    let out = linclass(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/cifar10.toml",
            "--set",
            "data.dir=/nonexistent/cifar",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/cifar") && err.contains("data fetch cifar10"),
        "{err}"
    );
}

/// `data.random_flip` mirrors training images: on a set whose two classes differ only in which
/// half of the image is bright, a flipped training part cannot be fitted (each class is seen
/// both ways: training accuracy at chance), while the unflipped one is learned exactly.
#[test]
fn random_flip_mirrors_training_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write_cifar10(tmp.path(), 200);
    for (f, name) in cifar10_files().iter().enumerate() {
        let mut bytes = Vec::new();
        for i in 0..200usize {
            let label = i % 2;
            bytes.push(label as u8);
            for j in 0..3072usize {
                let bright = (j % 32 < 16) == (label == 0);
                // The same along each row, so that a mirrored image is exactly one of the
                // other class.
                let noise = ((i * 31 + (j / 32) * 7 + f * 13) % 41) as u8;
                bytes.push(if bright { 180 + noise } else { 30 + noise });
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let train_acc = |flip: bool| {
        let run = tmp.path().join(format!("run-{flip}"));
        let json = train_and_eval(
            &run,
            "configs/cifar10.toml",
            &[
                format!("data.dir={}", tmp.path().display()),
                format!("data.random_flip={flip}"),
                "train.epochs=10".into(),
                "train.keep=last".into(),
                "optimizer.lr=0.01".into(),
            ],
        );
        let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
        let col = header.iter().position(|&h| h == "train_acc").unwrap();
        let last = metrics.lines().last().unwrap();
        let acc: f64 = last.split(',').nth(col).unwrap().parse().unwrap();
        (acc, json["top1"].as_f64().unwrap())
    };
    let (plain, plain_test) = train_acc(false);
    assert!(
        plain > 0.99 && plain_test > 0.99,
        "without flips: {plain}, test {plain_test}"
    );
    let (flipped, _) = train_acc(true);
    assert!(
        flipped < 0.7,
        "with flips the classes are indistinguishable: {flipped}"
    );
}

/// Training reads both splits, so with no files at all one error lists both splits' files
/// (the test split's were left out, and came as a second error once the first was fixed);
/// `eval` needs only the test files.
#[test]
fn missing_files_are_listed_for_every_split_training_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "configs/cifar10.toml",
            "--set",
            &format!("data.dir={}", tmp.path().display()),
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for f in [
        "batches.meta.txt",
        "data_batch_1.bin",
        "data_batch_5.bin",
        "test_batch.bin",
    ] {
        assert!(stderr.contains(f), "{f} not named: {stderr}");
    }
    assert!(!run.exists());

    // One MNIST file missing: the way to get it names that file alone.
    let mnist = tmp.path().join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ] {
        std::fs::copy(mnist_dir().join(f), mnist.join(f)).unwrap();
    }
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--set",
            &format!("data.dir={}", mnist.display()),
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("missing t10k-labels-idx1-ubyte.gz;")
            && stderr.contains(
                "put t10k-labels-idx1-ubyte.gz (MD5 ec29112dd5afa0611ce80d1b7f02629c) from "
            )
            && !stderr.contains("train-images"),
        "{stderr}"
    );
}

#[test]
fn an_empty_data_dir_finds_the_data_folder_of_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    write_cifar10(&tmp.path().join("data").join("cifar10"), 20);
    let config = repo_root().join("configs/cifar10.toml");
    let config = config.to_str().unwrap();
    let out = linclass(
        tmp.path(),
        &["data", "info", config, "--set", "data.subset=true"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let folder = tmp
        .path()
        .canonicalize()
        .unwrap()
        .join("data")
        .join("cifar10");
    assert!(stdout.contains(&folder.display().to_string()), "{stdout}");
    let out = linclass(
        tmp.path(),
        &[
            "train",
            config,
            "--quiet",
            "--set",
            "data.subset=true",
            "--set",
            "train.epochs=1",
            "--set",
            "output.dir=run",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let info = std::fs::read_to_string(tmp.path().join("run").join("run.toml")).unwrap();
    assert!(info.contains("train = 95\nvalid = 5\n"), "{info}");
    // The folder found is recorded: eval from another directory reads the same data.
    assert!(
        info.contains(&format!("dir = \"{}\"", folder.display())),
        "{info}"
    );
    let run = tmp.path().join("run");
    let out = linclass(&repo_root(), &["eval", "--json", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    // The default config is found from any directory.
    let out = linclass(tmp.path(), &["data", "info"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("dataset: mnist"));
}
