//! A run directory is never changed by a failing command, no record Burn would panic on reaches
//! it, the run keeps its best epoch, and divergence is caught when the loss explodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{GrayImage, Luma};
use linclass_tests::{describe, linclass, md5_hex, repo_root, spawn_linclass};

/// Every file under `dir` (relative path → MD5).
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, md5_hex(&std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn image(value: u8, i: u32) -> GrayImage {
    GrayImage::from_fn(6, 6, |x, y| {
        Luma([value.wrapping_add(((x + y + i) % 7) as u8)])
    })
}

/// A folder of classes `a` (dark) and `b` (light), `n` images each.
fn write_folder(root: &Path, n: u32) {
    for (class, value) in [("a", 30u8), ("b", 200u8)] {
        std::fs::create_dir_all(root.join(class)).unwrap();
        for i in 0..n {
            image(value, i)
                .save(root.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
}

fn run_cli(args: &[&str]) -> std::process::Output {
    linclass(&repo_root(), args)
}

fn train_folder(data: &Path, run: &Path, epochs: usize) {
    let out = run_cli(&[
        "train",
        "--quiet",
        "--set",
        "data.source=folder",
        "--set",
        &format!("data.dir={}", data.display()),
        "--set",
        "data.folder.channels=1",
        "--set",
        "data.folder.height=6",
        "--set",
        "data.folder.width=6",
        "--set",
        "data.valid_fraction=0.25",
        "--set",
        "train.batch_size=4",
        "--set",
        &format!("train.epochs={epochs}"),
        "--set",
        &format!("output.dir={}", run.display()),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// Makes a finished run look interrupted after its last epoch: its config asks for more.
fn ask_for_epochs(run: &Path, epochs: usize) {
    let info = run.join("run.toml");
    let text = std::fs::read_to_string(&info).unwrap();
    let mut lines: Vec<String> = Vec::new();
    let mut in_train = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_train = line.trim() == "[config.train]";
        }
        if in_train && line.starts_with("epochs = ") {
            lines.push(format!("epochs = {epochs}"));
        } else {
            lines.push(line.to_string());
        }
    }
    std::fs::write(&info, lines.join("\n") + "\n").unwrap();
}

/// Runs a command that must fail with one error line (status 2, no panic) containing `expect`.
/// `train` on MNIST at a rate that diverges in the first epoch, into `run`.
fn diverging_mnist(run: &Path) -> Vec<String> {
    [
        "train",
        "--set",
        "data.train_limit=3000",
        "--set",
        "optimizer.lr=5000",
        "--set",
        "optimizer.schedule=constant",
        "--set",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("output.dir={}", run.display())])
    .collect()
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn fails(args: &[&str], expect: &[&str]) {
    let out = run_cli(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    for e in expect {
        assert!(
            errors[0].contains(e),
            "{args:?}: expected {e:?} in {}",
            errors[0]
        );
    }
}

#[test]
fn failing_commands_leave_the_run_directory_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    train_folder(&data, &run, 2);
    let finished = hashes(&run);
    let r = run.to_str().unwrap();

    // Resume of a finished run.
    fails(&["train", "--resume", r], &["all 2 epochs are done"]);
    assert_eq!(hashes(&run), finished);

    // An interrupted run (it asks for 4 epochs, 2 are done) whose data has changed.
    ask_for_epochs(&run, 4);
    let before = hashes(&run);
    std::fs::create_dir_all(data.join("c")).unwrap();
    for i in 0..12 {
        image(120, i)
            .save(data.join("c").join(format!("{i}.png")))
            .unwrap();
    }
    fails(
        &["train", "--resume", r],
        &[
            "cannot resume",
            "classes [\"a\", \"b\"] are now [\"a\", \"b\", \"c\"]",
        ],
    );
    assert_eq!(hashes(&run), before);
    // eval of the untouched 2-class run still works afterwards (once the folder is back).
    std::fs::remove_dir_all(data.join("c")).unwrap();
    // Images added to a class.
    for i in 0..3 {
        image(40, i)
            .save(data.join("a").join(format!("extra{i}.png")))
            .unwrap();
    }
    fails(
        &["train", "--resume", r],
        &["cannot resume", "training and", "validation images are now"],
    );
    assert_eq!(hashes(&run), before);
    for i in 0..3 {
        std::fs::remove_file(data.join("a").join(format!("extra{i}.png"))).unwrap();
    }
    // The same number of images, one of them redrawn; then one image relabelled (moved to
    // the other class). Neither changes a count or (with `scale`) a statistic.
    let redrawn = data.join("a").join("5.png");
    let original = std::fs::read(&redrawn).unwrap();
    image(90, 5).save(&redrawn).unwrap();
    let changed = [
        "cannot resume",
        "training images or labels are not the same",
    ];
    fails(&["train", "--resume", r], &changed);
    assert_eq!(hashes(&run), before);
    std::fs::write(&redrawn, &original).unwrap();
    std::fs::rename(data.join("a").join("7.png"), data.join("b").join("a7.png")).unwrap();
    std::fs::rename(data.join("b").join("7.png"), data.join("a").join("b7.png")).unwrap();
    fails(&["train", "--resume", r], &changed);
    assert_eq!(hashes(&run), before);
    std::fs::rename(data.join("b").join("a7.png"), data.join("a").join("7.png")).unwrap();
    std::fs::rename(data.join("a").join("b7.png"), data.join("b").join("7.png")).unwrap();

    // Commands given a damaged record.
    let record = run.join("model.bpk");
    let good = std::fs::read(&record).unwrap();
    std::fs::write(&record, &good[..good.len() / 2]).unwrap();
    let damaged = hashes(&run);
    let picture = tmp.path().join("digit.png");
    image(30, 0).save(&picture).unwrap();
    for args in [
        vec!["eval", r],
        vec!["predict", r, picture.to_str().unwrap()],
        vec!["templates", r],
        vec!["report", r],
    ] {
        fails(&args, &["model.bpk"]);
        assert_eq!(hashes(&run), damaged, "{args:?}");
    }
    std::fs::write(&record, &good).unwrap();

    // Undamaged again, the interrupted run resumes from its data and finishes.
    let out = run_cli(&["train", "--resume", r, "--quiet"]);
    assert!(out.status.success(), "{}", describe(&out));
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");

    // A refit asked for (as after an interrupted one) is refused on changed data too.
    let info = run.join("run.toml");
    let text = std::fs::read_to_string(&info).unwrap();
    std::fs::write(&info, text.replace("refit = false", "refit = true")).unwrap();
    let before = hashes(&run);
    image(90, 5).save(&redrawn).unwrap();
    fails(
        &["train", "--resume", r],
        &["cannot refit", "training images or labels are not the same"],
    );
    assert_eq!(hashes(&run), before);
    std::fs::write(&redrawn, &original).unwrap();
    let out = run_cli(&["train", "--resume", r, "--quiet"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(std::fs::read_to_string(&info).unwrap().contains("[refit]"));
}

#[test]
fn records_of_another_shape_are_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let two = tmp.path().join("two");
    write_folder(&two, 8);
    let three = tmp.path().join("three");
    write_folder(&three, 8);
    std::fs::create_dir_all(three.join("c")).unwrap();
    for i in 0..8 {
        image(120, i)
            .save(three.join("c").join(format!("{i}.png")))
            .unwrap();
    }
    let (run2, run3) = (tmp.path().join("run2"), tmp.path().join("run3"));
    train_folder(&two, &run2, 2);
    train_folder(&three, &run3, 2);
    // The 3-class record in the 2-class run.
    std::fs::copy(run3.join("model.bpk"), run2.join("model.bpk")).unwrap();
    let picture = tmp.path().join("x.png");
    image(30, 0).save(&picture).unwrap();
    let r = run2.to_str().unwrap();
    for args in [
        vec!["eval", r],
        vec!["predict", r, picture.to_str().unwrap()],
        vec!["templates", r],
        vec!["report", r],
    ] {
        fails(&args, &["model.bpk", "2-class model"]);
    }
    // Garbage that is not a record at all.
    std::fs::write(run2.join("model.bpk"), b"not a burnpack file").unwrap();
    fails(&["eval", r], &["model.bpk"]);
}

#[test]
fn resume_passes_over_a_damaged_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    train_folder(&data, &run, 3);
    ask_for_epochs(&run, 5);
    let r = run.to_str().unwrap();
    let ckpt = run.join("checkpoint");
    // The newest checkpoint cut short, as a kill while it was written leaves it.
    for kind in ["model", "optim"] {
        let path = ckpt.join(format!("{kind}-3.bpk"));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    }
    let out = run_cli(&["train", "--resume", r]);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("checkpoint of epoch 3 is damaged")
            && stderr.contains("resuming from epoch 2"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("resuming") && stdout.contains("after epoch 2"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let epochs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2", "3", "4", "5"], "{csv}");

    // No checkpoint loads: an error that says so, and nothing changes.
    ask_for_epochs(&run, 7);
    for entry in std::fs::read_dir(&ckpt).unwrap() {
        let path = entry.unwrap().path();
        std::fs::write(&path, b"cut").unwrap();
    }
    let before = hashes(&run);
    fails(&["train", "--resume", r], &["no checkpoint loads"]);
    assert_eq!(hashes(&run), before);
}

/// (epoch, valid loss, kept) of each metrics.csv row.
fn rows(run: &Path) -> Vec<(usize, f64, bool)> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",seconds,kept"));
    lines
        .map(|l| {
            let v: Vec<&str> = l.split(',').collect();
            (v[0].parse().unwrap(), v[4].parse().unwrap(), v[10] == "1")
        })
        .collect()
}

fn weights(run: &Path, record: &Path) -> Vec<f32> {
    let info = linclass::RunDir::new(run).load_info().unwrap();
    let device = linclass::Backend::Cpu.device().unwrap();
    let model = linclass::load_record(record, &info.model, &device).unwrap();
    model.templates().into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn the_best_validation_epoch_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let train = |keep: &str, run: &Path| {
        let out = run_cli(&[
            "train",
            "--quiet",
            "--set",
            "data.train_limit=2000",
            "--set",
            "optimizer.lr=3",
            "--set",
            "optimizer.schedule=constant",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.epochs=6",
            "--set",
            &format!("train.keep={keep}"),
            "--set",
            &format!("output.dir={}", run.display()),
        ]);
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let best = tmp.path().join("best");
    let stdout = train("best", &best);
    let rows_best = rows(&best);
    let lowest = rows_best
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|r| r.0)
        .unwrap();
    let kept: Vec<usize> = rows_best.iter().filter(|r| r.2).map(|r| r.0).collect();
    assert_eq!(kept, vec![lowest], "{rows_best:?}");
    assert!(
        stdout.contains(&format!("kept epoch {lowest} (lowest validation loss)")),
        "{stdout}"
    );
    // The record is that epoch's model.
    let ckpt = best.join("checkpoint").join(format!("model-{lowest}.bpk"));
    let model = linclass::load_checkpoint_model(
        &linclass::RunDir::new(&best),
        lowest,
        &linclass::RunDir::new(&best).load_info().unwrap().model,
        linclass::LossKind::CrossEntropy,
        &linclass::Backend::Cpu.device().unwrap(),
    )
    .unwrap();
    assert!(ckpt.is_file());
    assert_eq!(
        weights(&best, &best.join("model.bpk")),
        model.templates().into_data().try_to_vec::<f32>().unwrap()
    );

    let last = tmp.path().join("last");
    let stdout = train("last", &last);
    let rows_last = rows(&last);
    assert!(rows_last.last().unwrap().2 && rows_last.iter().filter(|r| r.2).count() == 1);
    assert!(stdout.contains("kept epoch 6 (the last)"), "{stdout}");
    // Same seed, same epochs: the two runs differ only in what they keep.
    assert_eq!(
        rows_best.iter().map(|r| r.1).collect::<Vec<_>>(),
        rows_last.iter().map(|r| r.1).collect::<Vec<_>>()
    );
    if lowest != 6 {
        assert_ne!(
            weights(&best, &best.join("model.bpk")),
            weights(&last, &last.join("model.bpk"))
        );
    }
}

#[test]
fn an_exploding_loss_is_divergence_and_the_best_epoch_before_it_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // The squared error at a rate just above its stable range: finite, but growing every epoch.
    let out = run_cli(&[
        "train",
        "--set",
        "data.train_limit=3000",
        "--set",
        "train.loss=squared_error",
        "--set",
        "optimizer.lr=0.26",
        "--set",
        "optimizer.schedule=constant",
        "--set",
        "train.epochs=10",
        "--set",
        &format!("output.dir={}", run.display()),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("training diverged") && stderr.contains("above 10.000 (100 × 1/10"),
        "{stderr}"
    );
    let rows = rows(&run);
    assert!(!rows.is_empty() && rows.len() < 10, "{rows:?}");
    let best = rows.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
    assert!(
        stderr.contains(&format!("the model after epoch {best} was kept")),
        "{stderr}\n{rows:?}"
    );
    // What was kept is a usable model, far better than chance.
    let out = run_cli(&["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["top1"].as_f64().unwrap() > 0.15, "{json}");

    // Cross-entropy at an absurd rate: the bound is 100 × ln 10.
    let out = run_cli(&as_strs(&diverging_mnist(&tmp.path().join("ce"))));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ln 10"), "{stderr}");
}

#[test]
fn a_moved_run_resumes_and_renamed_classes_are_not_evaluated_by_position() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    train_folder(&data, &run, 2);
    ask_for_epochs(&run, 3);
    // Moved elsewhere: where the run lives is not part of what it was trained on.
    let moved = tmp.path().join("elsewhere").join("run");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&run, &moved).unwrap();
    let out = run_cli(&["train", "--resume", moved.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(rows(&moved).len(), 3);

    // A class folder renamed after training: same count, other names.
    std::fs::rename(data.join("a"), data.join("z")).unwrap();
    fails(
        &["eval", moved.to_str().unwrap()],
        &["classes [\"b\", \"z\"] are not the run's [\"a\", \"b\"]"],
    );
}

#[test]
fn a_new_run_that_fails_before_its_first_epoch_leaves_the_earlier_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    train_folder(&data, &run, 2);
    let before = hashes(&run);
    // MNIST into the same directory at an absurd rate: diverges in its first epoch.
    fails(
        &as_strs(&diverging_mnist(&run)),
        &[
            "training diverged",
            "no epoch finished",
            "before is put back as it was",
        ],
    );
    assert_eq!(hashes(&run), before);
    // One that finishes replaces it.
    let out = run_cli(&[
        "train",
        "--quiet",
        "--set",
        "data.train_limit=300",
        "--set",
        "train.epochs=1",
        "--set",
        &format!("output.dir={}", run.display()),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let info = std::fs::read_to_string(run.join("run.toml")).unwrap();
    assert!(info.contains("source = \"mnist\""), "{info}");
    let names: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".replaced")),
        "{names:?}"
    );
}

/// The names in a run directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_closed_stdout_does_not_stop_or_damage_a_run() {
    // `linclass train | head -1`: the reader goes away at once.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out_dir = format!("output.dir={}", run.display());
    let mut child = spawn_linclass(&[
        "train",
        "--set",
        "data.train_limit=2000",
        "--set",
        "train.epochs=3",
        "--set",
        &out_dir,
    ]);
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(run.join("model.bpk").is_file(), "{:?}", names(&run));
    assert!(!names(&run).iter().any(|n| n.starts_with(".replaced")));
    // predict and eval into a closed pipe: no panic either.
    for args in [
        vec!["eval", run.to_str().unwrap()],
        vec!["data", "info", "configs/mnist.toml"],
    ] {
        let mut child = spawn_linclass(&args);
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn a_termination_signal_stops_training_like_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    // An earlier run in the directory, with an export beside it.
    train_folder(&data, &run, 2);
    let out = run_cli(&["export", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    // A long MNIST run into the same directory, stopped by SIGTERM (`kill`, `timeout`) once
    // an epoch is done.
    let out_dir = format!("output.dir={}", run.display());
    let child = spawn_linclass(&[
        "train",
        "--quiet",
        "--set",
        "data.train_limit=3000",
        "--set",
        "train.epochs=100000",
        "--set",
        "optimizer.schedule=constant",
        "--set",
        &out_dir,
    ]);
    // Wait for the new run (its run.toml says MNIST) to finish two epochs.
    let started = std::time::Instant::now();
    let new_run_epochs = || -> usize {
        let info = std::fs::read_to_string(run.join("run.toml")).unwrap_or_default();
        let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap_or_default();
        if info.contains("source = \"mnist\"") {
            csv.lines().count().saturating_sub(1)
        } else {
            0
        }
    };
    while new_run_epochs() < 2 {
        assert!(started.elapsed().as_secs() < 120, "no epoch finished");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{}", describe(&out));
    assert!(stderr.contains("training interrupted"), "{stderr}");
    // The new run kept a model; nothing of the earlier run is left beside it (its export
    // included), and nothing is left hidden.
    assert!(run.join("model.bpk").is_file(), "{:?}", names(&run));
    assert!(!run.join("model.safetensors").exists(), "{:?}", names(&run));
    assert!(
        !names(&run).iter().any(|n| n.starts_with(".replaced")),
        "{:?}",
        names(&run)
    );
    let out = run_cli(&["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
}

/// A new run that fails before its first epoch into a directory that did not exist leaves no
/// directory behind, and does not claim to have put an earlier run back.
#[test]
fn a_failed_first_run_leaves_no_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("new").join("run");
    let out = run_cli(&as_strs(&diverging_mnist(&run)));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("training diverged"), "{stderr}");
    assert!(!stderr.contains("put back"), "{stderr}");
    assert!(!run.exists(), "{} was left", run.display());
}

/// The pid of a process that has ended.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn what_a_killed_replacement_left_is_settled_by_the_next_command() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_folder(&data, 12);
    let run = tmp.path().join("run");
    train_folder(&data, &run, 2);
    let earlier = hashes(&run);
    let r = run.to_str().unwrap();

    // As a `train` into the directory killed with -9 before its first epoch ended: the
    // earlier run's files in .replaced-PID, the new run's run.toml and metrics in place.
    let backup = run.join(format!(".replaced-{}", dead_pid()));
    std::fs::create_dir(&backup).unwrap();
    for name in [
        "model.bpk",
        "run.toml",
        "metrics.csv",
        "checkpoint",
        "curves.png",
        "curves.svg",
    ] {
        std::fs::rename(run.join(name), backup.join(name)).unwrap();
    }
    std::fs::copy(backup.join("run.toml"), run.join("run.toml")).unwrap();
    std::fs::write(run.join("metrics.csv"), "epoch\n").unwrap();
    // A checkpoint cut short (no scheduler file: no epoch finished) and a picture the earlier
    // run did not have.
    std::fs::create_dir(run.join("checkpoint")).unwrap();
    std::fs::write(run.join("checkpoint").join("model-1.bpk"), b"cut").unwrap();
    std::fs::write(run.join("templates.png"), b"new run's").unwrap();
    let out = run_cli(&["eval", r]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("it is put back"),
        "{}",
        describe(&out)
    );
    assert!(!backup.exists());
    let now = hashes(&run);
    for (file, hash) in &earlier {
        assert_eq!(now.get(file), Some(hash), "{} not put back", file.display());
    }
    // Nothing of the new run stays: every checkpoint file is the earlier run's.
    for (file, hash) in now.iter().filter(|(f, _)| f.starts_with("checkpoint")) {
        assert_eq!(earlier.get(file), Some(hash), "{} stayed", file.display());
    }
    assert!(!run.join("templates.png").exists());

    // Killed after its first epoch instead: the new run stays (it can resume); a reading
    // command leaves the earlier one aside, a new run (or a resume) removes it.
    let backup = run.join(format!(".replaced-{}", dead_pid()));
    std::fs::create_dir(&backup).unwrap();
    std::fs::copy(run.join("model.bpk"), backup.join("model.bpk")).unwrap();
    let out = run_cli(&["eval", r]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(backup.join("model.bpk").is_file());
    assert!(run.join("checkpoint").is_dir());
    train_folder(&data, &run, 1);
    assert!(!backup.exists());
    assert!(
        !names(&run).iter().any(|n| n.starts_with(".replaced-")),
        "{:?}",
        names(&run)
    );
}

/// A small tmpfs mounted on a folder for the life of the value (unmounted on drop).
struct SmallDisk(PathBuf);

impl SmallDisk {
    /// None where this process may not mount (mounting needs CAP_SYS_ADMIN).
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_during_training_keeps_the_finished_epochs_and_says_resume() {
    let tmp = tempfile::tempdir().unwrap();
    // Room for run.toml, metrics.csv and two epochs' checkpoints of an MNIST model (31 KB
    // each), not for the third.
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk"), "100k") else {
        eprintln!("skipped: this process may not mount a small tmpfs to fill");
        return;
    };
    let run = disk.0.join("run");
    let train = |extra: &[&str]| {
        let mut args = vec!["train"];
        args.extend(extra);
        run_cli(&args)
    };
    let out_dir = format!("output.dir={}", run.display());
    let args = [
        "--set",
        "train.epochs=30",
        "--set",
        "data.train_limit=3000",
        "--set",
        &out_dir,
    ];
    let out = train(&args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap();
    assert!(line.starts_with("error: training failed: "), "{err}");
    assert!(line.contains("No space left on device"), "{err}");
    let resume = format!(
        "the disk holding {} is full: free some space on it, then continue with `linclass train --resume {}`",
        run.display(),
        run.display()
    );
    assert!(line.contains(&resume), "{err}");
    assert!(line.contains("was kept in"), "{err}");
    assert!(line.contains("the model after epoch "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // metrics.csv holds the epochs whose checkpoints are complete; the model is the best of them.
    let done = rows(&run).len();
    assert!((1..30).contains(&done), "{done} epochs recorded");
    assert!(run.join("model.bpk").is_file());

    disk.resize("4m");
    let out = train(&["--resume", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        describe(&out).contains(&format!(
            "resuming {} after epoch {done} of 30",
            run.display()
        )),
        "{}",
        describe(&out)
    );
    assert_eq!(rows(&run).len(), 30);
    assert!(run.join("curves.png").is_file());
}
