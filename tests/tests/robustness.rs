//! Bad input gives one-line errors that name the culprit and exit with status 2, never a
//! panic; Ctrl-C and kill -9 lose at most the epoch in progress, and `--resume` ends with the
//! same record as an uninterrupted run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use linclass_data::idx::encode_idx;
use linclass_tests::{
    Reply, TestServer, describe, linclass, linclass_bin, repo_root, write_cifar10,
};

/// An MNIST-layout folder whose files are changed by `damage`.
fn idx_dir(root: &Path, name: &str, damage: impl Fn(&Path)) -> String {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let n = 30;
    let images = encode_idx(&[n, 28, 28], &vec![7u8; n * 784]);
    let labels = encode_idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>());
    for prefix in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), &images).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), &labels).unwrap();
    }
    damage(&dir);
    dir.display().to_string()
}

fn edit(path: &Path, f: impl Fn(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).unwrap();
    f(&mut bytes);
    std::fs::write(path, bytes).unwrap();
}

/// Trains one epoch on 300 MNIST images into `run`: a finished run to damage or resume.
fn train_tiny(run: &Path) {
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--quiet",
            "--set",
            "data.train_limit=300",
            "--set",
            "train.epochs=1",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn table_of_bad_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: PathBuf| p.display().to_string();

    // A small trained run to damage copies of.
    let good = t.join("good");
    train_tiny(&good);
    let no_record = t.join("no-record");
    std::fs::create_dir_all(&no_record).unwrap();
    std::fs::copy(good.join("run.toml"), no_record.join("run.toml")).unwrap();
    let misfit = t.join("misfit");
    std::fs::create_dir_all(&misfit).unwrap();
    std::fs::copy(good.join("model.bpk"), misfit.join("model.bpk")).unwrap();
    let info = std::fs::read_to_string(good.join("run.toml")).unwrap();
    std::fs::write(
        misfit.join("run.toml"),
        info.replace(
            "input_shape = [\n    1,\n    28,\n    28,\n]",
            "input_shape = [\n    3,\n    32,\n    32,\n]",
        ),
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(misfit.join("run.toml"))
            .unwrap()
            .contains("32"),
        "run.toml layout changed"
    );

    let configs = t.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::write(configs.join("syntax.toml"), "[train\nepochs = 3\n").unwrap();
    std::fs::write(configs.join("type.toml"), "[optimizer]\nlr = \"fast\"\n").unwrap();
    std::fs::write(
        configs.join("unknown.toml"),
        "[train]\nepochs = 3\nepoch = 4\n",
    )
    .unwrap();

    let wrong_magic = idx_dir(t, "magic", |d| {
        edit(&d.join("train-images-idx3-ubyte"), |b| b[1] = 9)
    });
    let truncated = idx_dir(t, "truncated", |d| {
        edit(&d.join("train-images-idx3-ubyte"), |b| {
            b.truncate(b.len() - 1)
        })
    });
    let bad_label = idx_dir(t, "label", |d| {
        edit(&d.join("train-labels-idx1-ubyte"), |b| b[9] = 12)
    });
    let mismatch = idx_dir(t, "count", |d| {
        std::fs::write(
            d.join("train-labels-idx1-ubyte"),
            encode_idx(&[29], &[1; 29]),
        )
        .unwrap()
    });

    let cifar_short = t.join("cifar-short");
    let dir = write_cifar10(&cifar_short, 4);
    edit(&dir.join("data_batch_3.bin"), |b| b.truncate(100));
    let cifar_label = t.join("cifar-label");
    let dir = write_cifar10(&cifar_label, 4);
    edit(&dir.join("test_batch.bin"), |b| b[0] = 42);

    let empty = t.join("empty-folder");
    std::fs::create_dir_all(&empty).unwrap();
    let unreadable = t.join("unreadable");
    std::fs::create_dir_all(unreadable.join("a")).unwrap();
    for i in 0..6 {
        std::fs::write(
            unreadable.join("a").join(format!("{i}.png")),
            b"not a png at all",
        )
        .unwrap();
    }
    let not_image = t.join("not-image.png");
    std::fs::write(&not_image, b"GIF89a? no").unwrap();

    let server = TestServer::start(vec![
        (
            "/sum/cifar-10-binary.tar.gz",
            Reply::Body(b"not the archive".to_vec()),
        ),
        ("/down/cifar-10-binary.tar.gz", Reply::Status(500)),
    ]);

    let set = |kv: &str| vec!["train".to_string(), "--set".into(), kv.to_string()];
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (
            set(&format!("data.dir={wrong_magic}")),
            vec!["train-images-idx3-ubyte", "magic number"],
        ),
        (
            set(&format!("data.dir={truncated}")),
            vec!["train-images-idx3-ubyte", "truncated"],
        ),
        (
            set(&format!("data.dir={bad_label}")),
            vec!["train-labels-idx1-ubyte", "label 12"],
        ),
        (
            set(&format!("data.dir={mismatch}")),
            vec!["29 labels do not match the 30 images"],
        ),
        (
            vec![
                "train".into(),
                "--set".into(),
                "data.source=cifar10".into(),
                "--set".into(),
                format!("data.dir={}", cifar_short.display()),
                "--set".into(),
                "data.subset=true".into(),
            ],
            vec!["data_batch_3.bin", "3073-byte records"],
        ),
        (
            // Whole records, but not the official 10,000 per file.
            vec![
                "train".into(),
                "--set".into(),
                "data.source=cifar10".into(),
                "--set".into(),
                format!("data.dir={}", cifar_label.display()),
            ],
            vec![
                "data_batch_1.bin",
                "4 records",
                "official file holds 10000",
                "data.subset",
            ],
        ),
        (
            vec!["eval".into(), s(not_image.clone())],
            vec!["not-image.png is a file, not a run directory"],
        ),
        (
            vec!["predict".into(), s(good.clone()), s(t.to_path_buf())],
            vec!["is a folder: predict takes image files"],
        ),
        (
            vec![
                "eval".into(),
                s(good.clone()),
                "--backend".into(),
                "cpu".into(),
            ],
            vec![],
        ), // replaced below
        (
            vec![
                "train".into(),
                "--set".into(),
                "data.source=folder".into(),
                "--set".into(),
                format!("data.dir={}", empty.display()),
            ],
            vec!["empty-folder", "no class folders"],
        ),
        (
            vec![
                "train".into(),
                "--set".into(),
                "data.source=folder".into(),
                "--set".into(),
                format!("data.dir={}", t.join("absent").display()),
            ],
            vec!["absent", "does not exist"],
        ),
        (
            vec![
                "train".into(),
                "--set".into(),
                "data.source=folder".into(),
                "--set".into(),
                format!("data.dir={}", unreadable.display()),
            ],
            vec!["unreadable", "cannot decode", "skip_unreadable"],
        ),
        (
            vec![
                "train".into(),
                "--config".into(),
                s(configs.join("syntax.toml")),
            ],
            vec!["syntax.toml:1"],
        ),
        (
            vec![
                "train".into(),
                "--config".into(),
                s(configs.join("type.toml")),
            ],
            vec!["type.toml:2", "lr"],
        ),
        (
            vec![
                "train".into(),
                "--config".into(),
                s(configs.join("unknown.toml")),
            ],
            vec!["unknown.toml:3", "epoch"],
        ),
        (
            vec![
                "train".into(),
                "--config".into(),
                s(configs.join("absent.toml")),
            ],
            vec!["cannot read config", "absent.toml"],
        ),
        (set("optimizer.lr=0"), vec!["optimizer.lr = 0", "positive"]),
        (set("optimizer.lr=-0.1"), vec!["optimizer.lr = -0.1"]),
        (set("train.batch_size=0"), vec!["train.batch_size = 0"]),
        (set("train.batch_size=-5"), vec!["batch size -5"]),
        (set("train.epochs=0"), vec!["train.epochs = 0"]),
        (
            set("data.valid_fraction=1.5"),
            vec!["data.valid_fraction = 1.5"],
        ),
        (
            set("data.valid_fraction=0"),
            vec!["data.valid_fraction = 0"],
        ),
        (
            set("optimizer.speed=2"),
            vec!["unknown key 'optimizer.speed'"],
        ),
        (set("model.init=gaussian"), vec!["gaussian"]),
        (
            set(&format!("output.dir={}", "/proc/linclass-run")),
            vec!["/proc/linclass-run"],
        ),
        (
            vec!["eval".into(), s(no_record.clone())],
            vec!["model.bpk", "no model record"],
        ),
        (
            vec!["eval".into(), s(t.join("nowhere"))],
            vec!["nowhere", "not a run directory"],
        ),
        (
            vec!["predict".into(), s(misfit.clone()), s(not_image.clone())],
            vec!["model.bpk", "input shape [3, 32, 32]"],
        ),
        (
            vec!["predict".into(), s(good.clone()), s(not_image.clone())],
            vec!["not-image.png", "cannot decode"],
        ),
        (
            vec!["predict".into(), s(good.clone()), s(t.join("missing.png"))],
            vec!["missing.png"],
        ),
        (
            vec![
                "data".into(),
                "fetch".into(),
                "cifar10".into(),
                "--dir".into(),
                s(t.join("dl1")),
                "--only-mirrors".into(),
                "--mirror".into(),
                server.url("/sum"),
            ],
            vec!["cifar-10-binary.tar.gz", "MD5", "does not match"],
        ),
        (
            vec![
                "data".into(),
                "fetch".into(),
                "cifar10".into(),
                "--dir".into(),
                s(t.join("dl2")),
                "--only-mirrors".into(),
                "--mirror".into(),
                server.url("/down"),
            ],
            vec!["cifar-10-binary.tar.gz", "500"],
        ),
        (
            vec!["data".into(), "fetch".into(), "imagenet".into()],
            vec!["unknown dataset 'imagenet'"],
        ),
        (
            vec!["train".into(), "--backend".into(), "gpu".into()],
            vec!["backend 'gpu' is not compiled"],
        ),
        (
            set("optimizer.schedule=cosine")
                .into_iter()
                .chain(["--set".into(), "optimizer.lr=2".into()])
                .collect(),
            vec!["cosine", "learning rate 2"],
        ),
        (
            vec![
                "train".into(),
                "--set".into(),
                "data.source=cifar10".into(),
                "--set".into(),
                format!("data.dir={}", cifar_label.display()),
                "--set".into(),
                "data.subset=true".into(),
            ],
            // The training files are fine; the test split is checked before the first epoch.
            vec!["test_batch.bin", "label 42"],
        ),
        (
            vec!["train".into(), "--set".into(), "data.source=folder".into()],
            vec!["data.dir"],
        ),
    ];
    let mut checked = 0;
    for (args, expected) in cases {
        if expected.is_empty() {
            continue;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = linclass(&repo_root(), &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        // Progress lines may come first; the error is one line, the last.
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(stderr.trim_end().ends_with(errors[0]), "{args:?}: {stderr}");
        let stderr = errors[0];
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        for e in expected {
            assert!(stderr.contains(e), "{args:?}: expected {e:?} in: {stderr}");
        }
        checked += 1;
    }
    assert!(checked >= 30, "{checked} cases");
    // Nothing half-written was left by the failed downloads.
    for d in ["dl1", "dl2"] {
        let left: Vec<_> = std::fs::read_dir(t.join(d))
            .map(|r| r.collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{d}: {left:?}");
    }

    // Bad test split of an otherwise good dataset: found before training, nothing written.
    let run = t.join("cifar-run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--quiet",
            "--set",
            "data.source=cifar10",
            "--set",
            &format!("data.dir={}", cifar_label.display()),
            "--set",
            "data.subset=true",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !run.exists(),
        "a run directory was created for a failing start"
    );

    // Usage errors (clap) exit with 2 as well.
    let out = linclass(&repo_root(), &["trian"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Starts training in the background and waits until `rows` epochs are in its metrics and the
/// checkpoint of epoch `rows` is on disk. The caller reaps the returned child.
#[allow(clippy::zombie_processes)]
fn start_and_wait(run: &Path, sets: &[&str], rows: usize) -> std::process::Child {
    let mut cmd = Command::new(linclass_bin());
    cmd.current_dir(repo_root()).arg("train").arg("--quiet");
    for s in sets
        .iter()
        .map(|s| s.to_string())
        .chain([format!("output.dir={}", run.display())])
    {
        cmd.arg("--set").arg(s);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let n = std::fs::read_to_string(run.join("metrics.csv"))
            .map_or(0, |t| t.lines().count().saturating_sub(1));
        let saved = ["model", "optim", "scheduler"]
            .iter()
            .all(|k| run.join(format!("checkpoint/{k}-{rows}.bpk")).is_file());
        if n >= rows && saved {
            return child;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("training made no progress");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SLOW: [&str; 5] = [
    "data.train_limit=20000",
    "train.epochs=3",
    "train.batch_size=1",
    "optimizer.lr=0.01",
    "optimizer.momentum=0.5",
];

fn resume(run: &Path) {
    let out = linclass(
        &repo_root(),
        &["train", "--quiet", "--resume", run.to_str().unwrap()],
    );
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    assert!(
        out.status.success(),
        "{}\nrun: {:?}\ncheckpoint: {:?}\nmetrics.csv:\n{}",
        describe(&out),
        listing(run),
        listing(&run.join("checkpoint")),
        std::fs::read_to_string(run.join("metrics.csv")).unwrap_or_default()
    );
}

/// An uninterrupted run of `sets` into `run`, to compare an interrupted one with.
fn train_whole(run: &Path, sets: &[&str]) {
    let out = linclass(
        &repo_root(),
        &[
            &["train", "--quiet"][..],
            &sets.iter().flat_map(|s| ["--set", *s]).collect::<Vec<_>>()[..],
            &["--set", &format!("output.dir={}", run.display())],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", describe(&out));
}

/// Sends Ctrl-C (SIGINT) to `child`, checks that it exits with 130, and returns its stderr.
fn ctrl_c(child: std::process::Child) -> String {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    stderr
}

#[test]
fn ctrl_c_during_the_refit_keeps_the_validated_model_and_resume_refits() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    let sets = [
        "data.train_limit=10000",
        "train.epochs=2",
        "train.batch_size=1",
        "optimizer.lr=0.01",
        "train.refit=true",
    ];
    train_whole(&whole, &sets);

    // Both epochs done and checkpointed: the refit (as long again) is under way.
    let child = start_and_wait(&cut, &sets, 2);
    std::thread::sleep(Duration::from_millis(800));
    let stderr = ctrl_c(child);
    assert!(
        stderr.contains("the refit was interrupted")
            && stderr.contains("model.bpk is the validated model of epoch")
            && stderr.contains("--resume"),
        "{stderr}"
    );
    let info = std::fs::read_to_string(cut.join("run.toml")).unwrap();
    assert!(!info.contains("[refit]"), "{info}");
    // The record is the validated model: the kept epoch's checkpoint.
    let kept: usize = stderr
        .split("validated model of epoch ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let device = linclass::Backend::Cpu.device().unwrap();
    let weights = |m: &linclass_model::LinearClassifier| -> Vec<f32> {
        m.weights().into_data().try_into_vec::<f32>().unwrap()
    };
    let record = linclass::Classifier::load(&cut, &device).unwrap();
    let info = linclass::RunDir::new(&cut).load_info().unwrap();
    let checkpoint = linclass::load_checkpoint_model(
        &linclass::RunDir::new(&cut),
        kept,
        &info.model,
        info.config.train.loss,
        &device,
    )
    .unwrap();
    assert!(weights(record.model()) == weights(&checkpoint));
    let refit = linclass::Classifier::load(&whole, &device).unwrap();
    assert!(weights(record.model()) != weights(refit.model()));

    resume(&cut);
    let info = std::fs::read_to_string(cut.join("run.toml")).unwrap();
    assert!(info.contains("[refit]\nimages = 10000\n"), "{info}");
    assert!(
        std::fs::read(whole.join("model.bpk")).unwrap()
            == std::fs::read(cut.join("model.bpk")).unwrap(),
        "the resumed refit differs from the uninterrupted one"
    );
}

#[test]
fn ctrl_c_then_resume_gives_the_uninterrupted_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    train_whole(&whole, &SLOW);

    let child = start_and_wait(&cut, &SLOW, 1);
    std::thread::sleep(Duration::from_millis(300));
    let stderr = ctrl_c(child);
    assert!(
        stderr.contains("training interrupted") && stderr.contains("--resume"),
        "{stderr}"
    );
    // The run is usable at once: its record is the last finished epoch's, with its curves.
    assert!(cut.join("model.bpk").is_file());
    assert!(cut.join("curves.png").is_file() && cut.join("curves.svg").is_file());
    let rows = std::fs::read_to_string(cut.join("metrics.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(
        rows < 3,
        "the interruption came too late to test anything ({rows} epochs)"
    );

    resume(&cut);
    assert!(
        std::fs::read(whole.join("model.bpk")).unwrap()
            == std::fs::read(cut.join("model.bpk")).unwrap(),
        "resumed record differs"
    );
    assert_eq!(
        std::fs::read_to_string(cut.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn kill_9_loses_at_most_the_epoch_in_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, cut) = (tmp.path().join("whole"), tmp.path().join("cut"));
    train_whole(&whole, &SLOW);

    let mut child = start_and_wait(&cut, &SLOW, 1);
    std::thread::sleep(Duration::from_millis(500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Every file in the run directory is whole: no temporary names left where files belong.
    let names: Vec<String> = std::fs::read_dir(&cut)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
    resume(&cut);
    assert!(
        std::fs::read(whole.join("model.bpk")).unwrap()
            == std::fs::read(cut.join("model.bpk")).unwrap(),
        "resumed record differs"
    );
}

#[test]
fn resume_refuses_finished_or_empty_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("r");
    train_tiny(&run);
    let out = linclass(&repo_root(), &["train", "--resume", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("its one epoch is done"));
    // An interrupted run (no epoch in its metrics) without checkpoints.
    std::fs::remove_dir_all(run.join("checkpoint")).unwrap();
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    std::fs::write(run.join("metrics.csv"), csv.lines().next().unwrap()).unwrap();
    let out = linclass(&repo_root(), &["train", "--resume", run.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no complete checkpoint"),
        "{}",
        describe(&out)
    );
}

#[test]
fn ctrl_c_stops_a_sweep_not_just_its_combination() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("sweep");
    let child = linclass_tests::linclass_command(
        &repo_root(),
        &["sweep", "--grid", "optimizer.lr=0.01,0.02"],
    )
    // SLOW without its learning rate, which the grid sets.
    .args(
        SLOW.iter()
            .filter(|s| !s.starts_with("optimizer.lr"))
            .flat_map(|s| ["--set", s]),
    )
    .args(["--set", &format!("output.dir={}", root.display())])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Stopped in the second combination, once the first is done.
    let second = root.join("001_lr=0.02").join("metrics.csv");
    let started = Instant::now();
    while std::fs::read_to_string(&second).map_or(0, |t| t.lines().count()) < 2 {
        assert!(started.elapsed() < Duration::from_secs(180), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = ctrl_c(child);
    assert!(
        stderr.contains("sweep stopped at optimizer.lr=0.02 (1 of 2 combinations done, their table is in sweep.md"),
        "{stderr}"
    );
    // The finished combination's row is kept, and the table says where it stopped.
    let md = std::fs::read_to_string(root.join("sweep.md")).unwrap();
    assert!(md.lines().any(|l| l.starts_with("| 0.01 | ")), "{md}");
    assert!(
        md.contains("Stopped (Ctrl-C) at optimizer.lr=0.02: 1 of 2 combinations done"),
        "{md}"
    );
    let csv = std::fs::read_to_string(root.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[test]
fn a_killed_extension_of_a_refit_run_keeps_model_and_record_in_agreement() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let sets = [
        "data.train_limit=20000",
        "train.epochs=1",
        "train.batch_size=1",
        "optimizer.lr=0.01",
        "train.refit=true",
    ];
    train_whole(&run, &sets);
    let refit_model = std::fs::read(run.join("model.bpk")).unwrap();
    let info_path = run.join("run.toml");
    let text = std::fs::read_to_string(&info_path).unwrap();
    assert!(text.contains("[refit]"));
    // Two more epochs asked for, then kill -9 once the second has finished (Ctrl-C would
    // let the run settle its files first).
    let text = text.replacen("epochs = 1\n", "epochs = 3\n", 1);
    std::fs::write(&info_path, text).unwrap();
    let child = linclass_tests::linclass_command(
        &repo_root(),
        &["train", "--quiet", "--resume", run.to_str().unwrap()],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(run.join("metrics.csv")).map_or(0, |t| t.lines().count()) < 3 {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut child = child;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Either the refit model stays with its record, or a validated model replaces both.
    let info = std::fs::read_to_string(&info_path).unwrap();
    let still_refit = std::fs::read(run.join("model.bpk")).unwrap() == refit_model;
    assert_eq!(info.contains("[refit]"), still_refit, "{stderr}\n{info}");
}
