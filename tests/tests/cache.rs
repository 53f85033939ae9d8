//! The decoded-image cache of image folders: a second read maps the cache instead of decoding,
//! any change to the files rebuilds it, and a cut or damaged cache file is never trusted.

use std::path::{Path, PathBuf};
use std::process::Output;

use image::{Rgb, RgbImage};
use linclass_tests::{describe, linclass_command, repo_root};

/// A folder of `classes` classes × `per_class` PNGs (24 × 24 RGB, a colour per class).
fn write_folder(root: &Path, classes: usize, per_class: u32) {
    for c in 0..classes {
        let dir = root.join(format!("class{c}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = RgbImage::from_fn(24, 24, |x, y| {
                let v = ((x * 7 + y * 3 + i * 11) % 64) as u8;
                Rgb([v + 60 * c as u8, 200 - v, (i * 5) as u8])
            });
            img.save(dir.join(format!("{i}.png"))).unwrap();
        }
    }
}

/// `linclass data info` on the folder, with `cache` as the cache folder.
fn info(data: &Path, cache: &Path, extra: &[&str]) -> (String, Output) {
    let mut args = vec![
        "data".to_string(),
        "info".into(),
        "configs/image-folder.toml".into(),
        "--set".into(),
        format!("data.dir={}", data.display()),
        "--set".into(),
        "data.folder.height=16".into(),
        "--set".into(),
        "data.folder.width=16".into(),
    ];
    for e in extra {
        args.extend(["--set".to_string(), e.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = linclass_command(&repo_root(), &args)
        .env("LINCLASS_CACHE", cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    (String::from_utf8_lossy(&out.stdout).into_owned(), out)
}

fn cache_files(cache: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(cache)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// The line of `data info` about the training split's cache.
fn train_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("decoded-image cache, training split:"))
        .unwrap_or_else(|| panic!("no cache line in {text}"))
}

#[test]
fn the_second_read_maps_the_cache_and_a_changed_file_rebuilds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    write_folder(&data, 3, 10);
    let (first, _) = info(&data, &cache, &[]);
    assert!(
        train_line(&first).contains("decoded every image and stored"),
        "{first}"
    );
    // One file per split (the test part is held out of the same folder).
    let files = cache_files(&cache);
    assert_eq!(files.len(), 2, "{files:?}");
    let (second, _) = info(&data, &cache, &[]);
    assert!(
        train_line(&second).contains("(no image decoded)"),
        "{second}"
    );
    // The same images either way: the per-class counts and sizes agree.
    let counts = |t: &str| {
        t.lines()
            .filter(|l| l.contains("class"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&first), counts(&second));

    // Training on the cached folder gives the same record as decoding (cache off).
    let run = |name: &str, cache_on: bool| -> Vec<u8> {
        let dir = tmp.path().join(name);
        let out = linclass_command(&repo_root(), &[])
            .args(["train", "--quiet", "--config", "configs/image-folder.toml"])
            .args(["--set", &format!("data.dir={}", data.display())])
            .args([
                "--set",
                "data.folder.height=16",
                "--set",
                "data.folder.width=16",
            ])
            .args(["--set", "train.epochs=2"])
            .args(["--set", &format!("data.folder.cache={cache_on}")])
            .args(["--set", &format!("output.dir={}", dir.display())])
            .env("LINCLASS_CACHE", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        std::fs::read(dir.join("model.bpk")).unwrap()
    };
    assert_eq!(run("cached", true), run("decoded", false));

    // A file rewritten with other pixels: another key, decoded again.
    std::thread::sleep(std::time::Duration::from_millis(20));
    RgbImage::from_pixel(24, 24, Rgb([1, 2, 3]))
        .save(data.join("class0/3.png"))
        .unwrap();
    let (changed, _) = info(&data, &cache, &[]);
    assert!(
        train_line(&changed).contains("decoded every image and stored"),
        "{changed}"
    );
    // A new class: the same.
    write_folder(&tmp.path().join("more"), 4, 10);
    std::fs::rename(tmp.path().join("more/class3"), data.join("class3")).unwrap();
    let (grown, _) = info(&data, &cache, &[]);
    assert!(
        train_line(&grown).contains("decoded every image and stored"),
        "{grown}"
    );
    assert!(grown.contains("classes: 4"), "{grown}");
    // Another size: another cache.
    let (bigger, _) = info(&data, &cache, &["data.folder.height=20"]);
    assert!(
        train_line(&bigger).contains("decoded every image and stored"),
        "{bigger}"
    );
    // Off: not used, nothing written.
    let before = cache_files(&cache).len();
    let (off, _) = info(&data, &cache, &["data.folder.cache=false"]);
    assert!(train_line(&off).contains("not used"), "{off}");
    assert_eq!(cache_files(&cache).len(), before);
}

#[test]
fn a_cut_or_damaged_cache_is_rebuilt_never_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    write_folder(&data, 2, 8);
    let (reference, _) = info(&data, &cache, &[]);
    let files = cache_files(&cache);
    let original: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();

    // Each kind of damage, to every cache file: the read says so, decodes again, and leaves a
    // good cache behind (byte-identical to the first).
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "bytes, expected",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() / 2)),
        ),
        (
            "bytes, expected",
            Box::new(|b: &mut Vec<u8>| b.truncate(10)),
        ),
        (
            "checksum does not match",
            Box::new(|b: &mut Vec<u8>| {
                let i = b.len() - 100;
                b[i] ^= 0x40;
            }),
        ),
        (
            "another format or key",
            Box::new(|b: &mut Vec<u8>| b[0] = b'X'),
        ),
    ];
    for (expect, damage) in damages {
        for (f, good) in files.iter().zip(&original) {
            let mut bytes = good.clone();
            damage(&mut bytes);
            std::fs::write(f, &bytes).unwrap();
        }
        let (text, out) = info(&data, &cache, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            train_line(&text).contains("was not trusted") && train_line(&text).contains(expect),
            "{expect}: {text}"
        );
        assert!(stderr.contains("decoded-image cache"), "{stderr}");
        // What was read is the real data, not the damaged bytes.
        let counts = |t: &str| {
            t.lines()
                .filter(|l| l.contains("class"))
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert_eq!(counts(&text), counts(&reference));
        for (f, good) in files.iter().zip(&original) {
            assert_eq!(
                &std::fs::read(f).unwrap(),
                good,
                "{expect}: {}",
                f.display()
            );
        }
        let (again, _) = info(&data, &cache, &[]);
        assert!(train_line(&again).contains("(no image decoded)"), "{again}");
    }

    // A crash while writing leaves a temporary file, never a file under a cache name: one
    // lying around is not read.
    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    std::fs::write(
        cache.join(".tmpABC123"),
        &original[0][..original[0].len() / 2],
    )
    .unwrap();
    let (text, _) = info(&data, &cache, &[]);
    assert!(
        train_line(&text).contains("decoded every image and stored"),
        "{text}"
    );

    // A cache folder that cannot be written: decoded, said so, and the command still works.
    let blocked = tmp.path().join("blocked");
    std::fs::write(&blocked, b"a file, not a folder").unwrap();
    let (text, _) = info(&data, &blocked, &[]);
    assert!(train_line(&text).contains("not stored"), "{text}");
}

#[test]
fn a_training_limit_on_a_folder_takes_every_class() {
    // Folders are read class by class: the first 9 images would all be class0's.
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    write_folder(&data, 3, 10);
    let (text, _) = info(&data, &cache, &["data.train_limit=9", "data.test_limit=3"]);
    assert!(text.contains("samples: train 9 (of which"), "{text}");
    for c in 0..3 {
        let row = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&format!("class{c}")))
            .unwrap_or_else(|| panic!("{text}"));
        let counts: Vec<&str> = row.split_whitespace().skip(2).collect();
        assert_eq!(counts, ["3", "1"], "{text}");
    }
}

#[test]
fn skipped_files_leave_no_cache_but_the_images_read_are_right() {
    // With train/ and test/ folders and an unreadable file skipped, the images are still
    // written out a chunk at a time and mapped, but no file stays under a cache name: a later
    // read decodes again and skips again.
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    write_folder(&data.join("train"), 2, 6);
    write_folder(&data.join("test"), 2, 3);
    std::fs::write(
        data.join("train/class1/broken.png"),
        b"\x89PNG\r\n\x1a\n cut",
    )
    .unwrap();
    let skip = ["data.folder.skip_unreadable=true"];
    let (text, out) = info(&data, &cache, &skip);
    assert!(
        train_line(&text).contains("skipped; the cache holds whole folders only"),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.png"));
    // Only the test split (nothing skipped there) is stored; no temporary is left behind.
    assert_eq!(cache_files(&cache).len(), 1, "{:?}", cache_files(&cache));

    // The images read are those of the folder without the broken file: the same model as
    // training on a clean copy decoded in memory.
    let run = |data: &Path, name: &str, extra: &str| -> Vec<u8> {
        let dir = tmp.path().join(name);
        let out = linclass_command(&repo_root(), &[])
            .args(["train", "--quiet", "--config", "configs/image-folder.toml"])
            .args(["--set", &format!("data.dir={}", data.display())])
            .args(["--set", "train.epochs=2", "--set", extra])
            .args(["--set", &format!("output.dir={}", dir.display())])
            .env("LINCLASS_CACHE", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        std::fs::read(dir.join("model.bpk")).unwrap()
    };
    let skipped = run(&data, "skipped", skip[0]);
    let clean = tmp.path().join("clean");
    write_folder(&clean.join("train"), 2, 6);
    write_folder(&clean.join("test"), 2, 3);
    assert_eq!(skipped, run(&clean, "clean", "data.folder.cache=false"));
    // Training read the test split too (at the config's 32×32): one more file, of it alone.
    assert_eq!(cache_files(&cache).len(), 2, "{:?}", cache_files(&cache));
    let out = linclass_command(&repo_root(), &["data", "cache"])
        .env("LINCLASS_CACHE", &cache)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.matches("test split").count(), 2, "{listed}");
    assert!(!listed.contains("training split"), "{listed}");
}

/// `data cache` lists what the cache folder holds (each version of a folder keeps its own
/// file) and `--clear` removes those files and nothing else in the folder.
#[test]
fn data_cache_lists_the_files_and_clear_removes_only_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cache = tmp.path().join("cache");
    write_folder(&data, 2, 5);
    info(&data, &cache, &[]);
    // Another version of the folder: a second file.
    write_folder(&data, 2, 6);
    info(&data, &cache, &[]);
    // Two versions, each with its training and its test part.
    let ours = cache_files(&cache);
    assert_eq!(ours.len(), 4, "{ours:?}");
    std::fs::write(cache.join("notes.txt"), "kept").unwrap();
    std::fs::write(cache.join("short"), b"LCCACHE1").unwrap();
    // A file of the first format (no source recorded): listed as such, and cleared.
    let mut first_format = std::fs::read(&ours[0]).unwrap();
    first_format[..8].copy_from_slice(b"LCCACHE1");
    let old_images = u64::from_le_bytes(first_format[52..60].try_into().unwrap()) as usize;
    std::fs::write(cache.join("old.cache"), first_format).unwrap();

    let data_cache = |extra: &[&str]| {
        let mut args = vec!["data", "cache"];
        args.extend(extra);
        let out = linclass_command(&repo_root(), &args)
            .env("LINCLASS_CACHE", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = data_cache(&[]);
    let lines: Vec<&str> = listed
        .lines()
        .filter(|l| l.contains(" images of 3×16×16, "))
        .collect();
    assert_eq!(lines.len(), 5, "{listed}");
    assert!(listed.contains("from an unrecorded source"), "{listed}");
    let images: usize = lines
        .iter()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(images, 10 + 12 + old_images, "{listed}");
    assert!(listed.contains("5 cache file(s)"), "{listed}");
    // Each file says where its images came from.
    let data = std::path::absolute(&data).unwrap();
    for split in ["training", "test"] {
        let from = format!("from {}, {split} split", data.display());
        assert_eq!(listed.matches(&from).count(), 2, "{from}: {listed}");
    }
    assert!(
        !listed.contains("notes.txt") && !listed.contains("short"),
        "{listed}"
    );

    let cleared = data_cache(&["--clear"]);
    assert!(cleared.contains("removed 5 cache file(s)"), "{cleared}");
    assert_eq!(
        cache_files(&cache),
        vec![cache.join("notes.txt"), cache.join("short")]
    );
    assert!(data_cache(&[]).contains("0 cache file(s)"));
    // The next read builds it again.
    let (text, _) = info(&data, &cache, &[]);
    assert!(train_line(&text).contains("stored them"), "{text}");
}
