//! ImageNet's layouts and names in image folders: WordNet-id class folders shown by name
//! (LOC_synset_mapping.txt or classes.txt), and the localization release's flat val/ folder
//! labelled by LOC_val_solution.csv, as the test split; and downsampled ImageNet's npz
//! archives (imagenet32 / imagenet64), written here with numpy's format.

use std::path::Path;

use image::{Rgb, RgbImage};
use linclass_data::folder::{CacheStatus, FolderOptions, list, read_folder};
use linclass_data::mnist::Split;
use linclass_tests::{describe, linclass, linclass_command, repo_root};

const WNIDS: [&str; 3] = ["n01440764", "n01443537", "n02012849"];
const MAPPING: &str = "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn02012849 crane\nn03126707 crane\n";

/// An image of class `c` (its own colour), `.JPEG` as ImageNet names them.
fn photo(path: &Path, c: usize, i: u32) {
    let colour = [[200u8, 40, 40], [40, 200, 40], [40, 40, 200]][c];
    RgbImage::from_fn(40 + i, 30, |x, _| {
        let v = (x % 7) as u8;
        Rgb(colour.map(|k| k.saturating_add(v)))
    })
    .save_with_format(path, image::ImageFormat::Jpeg)
    .unwrap();
}

/// The Kaggle release's tree under `top`: LOC_*.{txt,csv} at the top, the images under
/// ILSVRC/Data/CLS-LOC/{train,val,test}; returns the CLS-LOC folder.
fn release(top: &Path, per_class: u32, val_per_class: u32) -> std::path::PathBuf {
    let cls_loc = top.join("ILSVRC/Data/CLS-LOC");
    let mut csv = String::from("ImageId,PredictionString\n");
    let mut n = 0;
    for (c, wnid) in WNIDS.iter().enumerate() {
        let dir = cls_loc.join("train").join(wnid);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            photo(&dir.join(format!("{wnid}_{i}.JPEG")), c, i);
        }
        std::fs::create_dir_all(cls_loc.join("val")).unwrap();
        for i in 0..val_per_class {
            n += 1;
            let id = format!("ILSVRC2012_val_{n:08}");
            photo(&cls_loc.join("val").join(format!("{id}.JPEG")), c, i);
            csv.push_str(&format!("{id},{wnid} 10 20 30 40 {wnid} 1 2 3 4\n"));
        }
    }
    // The unlabelled test images.
    std::fs::create_dir_all(cls_loc.join("test")).unwrap();
    photo(&cls_loc.join("test/ILSVRC2012_test_00000001.JPEG"), 0, 0);
    std::fs::write(top.join("LOC_val_solution.csv"), csv).unwrap();
    std::fs::write(top.join("LOC_synset_mapping.txt"), MAPPING).unwrap();
    cls_loc
}

fn options() -> FolderOptions {
    FolderOptions {
        channels: 3,
        height: 8,
        width: 8,
        cache: false,
        ..Default::default()
    }
}

#[test]
fn the_localization_release_reads_with_names_and_its_val_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let root = release(tmp.path(), 4, 3);
    let listing = list(&root).unwrap();
    // Names from LOC_synset_mapping.txt two folders up: the first synonym; the two "crane"s of
    // ImageNet (only one of which is here) keep their plain name.
    assert_eq!(listing.classes, ["tench", "goldfish", "crane"]);
    let test = listing.test.as_ref().unwrap();
    assert_eq!(test.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3]);
    // Each val image went to the class its CSV row names (the colour says which).
    let set = read_folder(&root, Split::Test, &options(), 1).unwrap();
    for i in 0..set.set.len() {
        let px = set.set.image(i);
        let plane = 64;
        let means: Vec<u32> = (0..3)
            .map(|c| {
                px[c * plane..(c + 1) * plane]
                    .iter()
                    .map(|&v| v as u32)
                    .sum::<u32>()
                    / 64
            })
            .collect();
        let brightest = (0..3).max_by_key(|&c| means[c]).unwrap();
        assert_eq!(brightest, set.set.label(i), "image {i}: {means:?}");
    }
    // The unlabelled test/ folder is said not to be read.
    assert!(
        set.notes.is_empty()
            && read_folder(&root, Split::Train, &options(), 1)
                .unwrap()
                .notes
                .iter()
                .any(|n| n.contains("test/ is not read") && n.contains("unlabelled")),
    );

    // From the CLI: eval names the classes.
    let run = tmp.path().join("run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--config",
            "configs/image-folder.toml",
            "--set",
            &format!("data.dir={}", root.display()),
            "--set",
            "data.folder.height=8",
            "--set",
            "data.folder.width=8",
            "--set",
            "data.valid_fraction=0.25",
            "--set",
            "optimizer.schedule=constant",
            "--set",
            "optimizer.lr=0.05",
            "--set",
            "train.epochs=5",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["classes"],
        serde_json::json!(["tench", "goldfish", "crane"])
    );
    assert_eq!(json["n"], 9);
}

#[test]
fn names_files_and_their_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pets");
    for (c, wnid) in WNIDS.iter().enumerate() {
        std::fs::create_dir_all(root.join(wnid)).unwrap();
        for i in 0..4 {
            photo(&root.join(wnid).join(format!("{i}.jpg")), c, i);
        }
    }
    // No names file: the folder names.
    assert_eq!(list(&root).unwrap().classes, WNIDS);
    // A classes.txt beside them: whole names, and a repeated name is told apart by its folder.
    std::fs::write(
        root.join("classes.txt"),
        "# folder name\nn01440764 tench fish\nn01443537 crane\nn02012849 crane\n",
    )
    .unwrap();
    assert_eq!(
        list(&root).unwrap().classes,
        ["tench fish", "crane (n01443537)", "crane (n02012849)"]
    );
    // A folder the file does not name: an error naming the file and the folder.
    std::fs::write(root.join("classes.txt"), "n01440764 tench\n").unwrap();
    let e = list(&root).unwrap_err().to_string();
    assert!(
        e.contains("classes.txt") && e.contains("'n01443537'"),
        "{e}"
    );

    // A byte-order mark (Windows editors) and CRLF line ends are read as plain text.
    std::fs::write(
        root.join("classes.txt"),
        "\u{feff}n01440764 tench\r\nn01443537 goldfish\r\nn02012849 crane\r\n",
    )
    .unwrap();
    assert_eq!(list(&root).unwrap().classes, ["tench", "goldfish", "crane"]);
    std::fs::remove_file(root.join("classes.txt")).unwrap();

    // In a train/test layout, a classes.txt beside the class folders (in train/) is read too.
    let split = tmp.path().join("split");
    for (part, n) in [("train", 3), ("test", 1)] {
        for (c, wnid) in WNIDS.iter().enumerate() {
            let d = split.join(part).join(wnid);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                photo(&d.join(format!("{i}.JPEG")), c, i);
            }
        }
    }
    std::fs::write(
        split.join("train/classes.txt"),
        "n01440764 tench\nn01443537 goldfish\nn02012849 crane\n",
    )
    .unwrap();
    assert_eq!(
        list(&split).unwrap().classes,
        ["tench", "goldfish", "crane"]
    );

    // A flat val/ whose CSV names a class training lacks: an error naming both.
    let tmp2 = tempfile::tempdir().unwrap();
    let root2 = release(tmp2.path(), 2, 1);
    let csv = tmp2.path().join("LOC_val_solution.csv");
    let text = std::fs::read_to_string(&csv)
        .unwrap()
        .replace("n02012849", "n09999999");
    std::fs::write(&csv, text).unwrap();
    let e = list(&root2).unwrap_err().to_string();
    assert!(
        e.contains("n09999999") && e.contains("LOC_val_solution.csv"),
        "{e}"
    );
    // One image labelled twice with different classes: an error naming both.
    let rows = "ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3 4\nILSVRC2012_val_00000001,n01443537 1 2 3 4\n";
    std::fs::write(&csv, rows).unwrap();
    let e = list(&root2).unwrap_err().to_string();
    assert!(e.contains("labelled both n01440764 and n01443537"), "{e}");
    // Images without a row: said, not silently dropped.
    std::fs::write(
        &csv,
        "ImageId,PredictionString\nILSVRC2012_val_00000001,n01440764 1 2 3 4\n",
    )
    .unwrap();
    let listing = list(&root2).unwrap();
    assert!(
        listing
            .notes
            .iter()
            .any(|n| n.contains("2 image(s) have no row")),
        "{:?}",
        listing.notes
    );
}

/// One npz archive as the downsampled ImageNet release has them: `data` u8 [N, 3·s·s] and
/// `labels` (int64, 1…1000), plus `mean` in training archives (ignored).
fn write_npz(path: &Path, data: &[u8], labels: &[i64], dim: u64) {
    write_npz_with(path, data, labels, dim, Default::default(), npyz::Order::C);
}

/// [`write_npz`] without compression (as `np.savez`).
fn write_npz_stored(path: &Path, data: &[u8], labels: &[i64], dim: u64) {
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    write_npz_with(path, data, labels, dim, stored, npyz::Order::C);
}

/// [`write_npz`] with `data`'s header saying `order` (the bytes are written as given).
fn write_npz_ordered(path: &Path, data: &[u8], labels: &[i64], dim: u64, order: npyz::Order) {
    write_npz_with(path, data, labels, dim, Default::default(), order);
}

/// [`write_npz`] with the zip entries' options and `data`'s order given.
fn write_npz_with(
    path: &Path,
    data: &[u8],
    labels: &[i64],
    dim: u64,
    entry: zip::write::FileOptions,
    order: npyz::Order,
) {
    use npyz::WriterBuilder;
    let mut npz = npyz::npz::NpzWriter::create(path).unwrap();
    let mut w = npz
        .array::<u8>("data", entry)
        .unwrap()
        .default_dtype()
        .shape(&[labels.len() as u64, dim])
        .order(order)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    let mut w = npz
        .array::<i64>("labels", entry)
        .unwrap()
        .default_dtype()
        .shape(&[labels.len() as u64])
        .begin_nd()
        .unwrap();
    w.extend(labels.iter().copied()).unwrap();
    w.finish().unwrap();
}

/// A `map_clsloc.txt` naming the 1000 classes: `first` lines as given, then `n…  i  class_i`.
fn names_file(first: &str) -> String {
    let given = first.lines().count();
    let mut text = first.to_string();
    for i in given + 1..=1000 {
        text.push_str(&format!("n{:08} {i} class_{i}\n", 9_000_000 + i));
    }
    text
}

/// `linclass data info` on the downsampled ImageNet (32 × 32) folder `dir`, not started.
fn imagenet32_info(dir: &Path) -> std::process::Command {
    linclass_command(
        &repo_root(),
        &[
            "data",
            "info",
            "configs/mnist.toml",
            "--set",
            "data.source=imagenet32",
            "--set",
            &format!("data.dir={}", dir.display()),
        ],
    )
}

/// Pixels of an image of class `label` (1-based): channel-planar, one colour per class.
fn downsampled_image(label: i64, size: usize) -> Vec<u8> {
    let plane = size * size;
    let mut px = vec![0u8; 3 * plane];
    let channel = (label as usize - 1) % 3;
    for (i, v) in px[channel * plane..(channel + 1) * plane]
        .iter_mut()
        .enumerate()
    {
        *v = 150 + (i % 50) as u8;
    }
    px
}

#[test]
fn downsampled_imagenet_npz_archives_read_and_train() {
    use linclass_data::downsampled;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imagenet32");
    std::fs::create_dir_all(&dir).unwrap();
    let size = 32;
    let dim = (3 * size * size) as u64;
    // Ten training archives of 6 images over classes 1, 2, 3; a validation archive of 6.
    let labels: Vec<i64> = (0..6).map(|i| 1 + i % 3).collect();
    let data: Vec<u8> = labels
        .iter()
        .flat_map(|&l| downsampled_image(l, size))
        .collect();
    for file in downsampled::TRAIN_FILES {
        write_npz(&dir.join(file), &data, &labels, dim);
    }
    write_npz(&dir.join(downsampled::VAL_FILE), &data, &labels, dim);
    std::fs::write(
        dir.join("map_clsloc.txt"),
        names_file("n02119789 1 kit_fox\nn02100735 2 English_setter\nn02110185 3 Siberian_husky\n"),
    )
    .unwrap();
    let (train, status) = downsampled::read(&dir, Split::Train, 32, false).unwrap();
    assert!(matches!(status, CacheStatus::Off(_)), "{status:?}");
    assert!(!train.is_mapped());
    assert_eq!(train.len(), 60);
    assert_eq!(train.shape(), [3, 32, 32]);
    assert_eq!(train.classes().len(), 1000);
    assert_eq!(
        &train.classes()[..3],
        ["kit fox", "English setter", "Siberian husky"]
    );
    assert_eq!(train.classes()[999], "class 1000");
    // Labels 1…1000 become 0…999; pixels as stored (channel-planar).
    assert_eq!(train.label(1), 1);
    assert_eq!(train.image(1), &downsampled_image(2, 32)[..]);
    let (test, _) = downsampled::read(&dir, Split::Test, 32, false).unwrap();
    assert_eq!(test.len(), 6);

    // From the CLI: trains, and eval names the classes.
    let run = tmp.path().join("run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--set",
            "data.source=imagenet32",
            "--set",
            &format!("data.dir={}", dir.display()),
            "--set",
            "optimizer.lr=0.1",
            "--set",
            "train.epochs=3",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["n"], 6);
    assert_eq!(json["k"], 5);
    assert!(json["top1"].as_f64().unwrap() > 0.99, "{json}");
    assert_eq!(json["classes"][0], "kit fox");

    // Through the cache: unpacked once into a file that later reads map, pixels unchanged.
    let cache = tmp.path().join("cache");
    let info = |what: &str| {
        let out = imagenet32_info(&dir)
            .env("LINCLASS_CACHE", &cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.lines()
                .any(|l| l.starts_with("decoded-image cache, training split:") && l.contains(what)),
            "{text}"
        );
    };
    info("stored them in");
    info("used");
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(files.len(), 2, "one cache file per split: {files:?}");
    let cached = files
        .iter()
        .map(|f| std::fs::read(f.path()).unwrap())
        .find(|bytes| bytes.len() > 60 * 3072)
        .expect("the training split's cache file");
    // Header (60 bytes), the 60 images as stored in the archives, the source and its length,
    // CRC-32.
    let stored: Vec<u8> = std::iter::repeat_n(&data, 10).flatten().copied().collect();
    assert_eq!(&cached[60..60 + stored.len()], &stored[..]);
    let source = String::from_utf8_lossy(&cached[60 + stored.len()..cached.len() - 8]);
    assert!(source.ends_with("imagenet32, training split"), "{source}");

    // An array saved in Fortran order holds the images interleaved: refused, not misread.
    let fortran = tmp.path().join("fortran");
    std::fs::create_dir_all(&fortran).unwrap();
    write_npz_ordered(
        &fortran.join(downsampled::VAL_FILE),
        &data,
        &labels,
        dim,
        npyz::Order::Fortran,
    );
    let e = downsampled::read(&fortran, Split::Test, 32, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("val_data.npz") && e.contains("Fortran"), "{e}");

    // Two classes with one name (ImageNet's two "crane"s) are told apart by their WordNet id.
    std::fs::write(
        dir.join("map_clsloc.txt"),
        names_file("n02012849 1 crane\nn03126707 2 crane\nn02110185 3 Siberian_husky\n"),
    )
    .unwrap();
    assert_eq!(
        &downsampled::class_names(&dir).unwrap()[..3],
        ["crane (n02012849)", "crane (n03126707)", "Siberian husky"]
    );
    // A names file that is cut, not text, or not a file: an error naming it; none: numbers.
    let names = dir.join("map_clsloc.txt");
    let full = std::fs::read_to_string(&names).unwrap();
    let half: String = full.lines().take(500).map(|l| format!("{l}\n")).collect();
    std::fs::write(&names, half).unwrap();
    let e = downsampled::class_names(&dir).unwrap_err().to_string();
    assert!(
        e.contains("map_clsloc.txt") && e.contains("names 500 of the 1000"),
        "{e}"
    );
    let mut latin1 = full.clone().into_bytes();
    latin1[40] = 0xE9;
    std::fs::write(&names, latin1).unwrap();
    let e = downsampled::class_names(&dir).unwrap_err().to_string();
    assert!(
        e.contains("map_clsloc.txt") && e.contains("not UTF-8"),
        "{e}"
    );
    std::fs::write(&names, "").unwrap();
    assert!(downsampled::class_names(&dir).is_err());
    std::fs::remove_file(&names).unwrap();
    std::fs::create_dir(&names).unwrap();
    assert!(downsampled::class_names(&dir).is_err());
    std::fs::remove_dir(&names).unwrap();
    assert_eq!(downsampled::class_names(&dir).unwrap()[999], "1000");

    // An archive stored without compression (np.savez) has only its zip CRC-32 to show damage:
    // a byte changed inside `data` or `labels` is an error naming the archive.
    let stored = tmp.path().join("stored");
    std::fs::create_dir_all(&stored).unwrap();
    let val = stored.join(downsampled::VAL_FILE);
    write_npz_stored(&val, &data, &labels, dim);
    let (read, _) = downsampled::read(&stored, Split::Test, 32, false).unwrap();
    assert_eq!(read.image(1), &downsampled_image(2, 32)[..]);
    let good = std::fs::read(&val).unwrap();
    let at = |needle: &[u8]| {
        good.windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    };
    for (what, offset) in [
        ("data", at(b"data.npy") + 2000),
        ("labels", at(b"labels.npy") + 150),
    ] {
        let mut bad = good.clone();
        bad[offset] ^= 0x01;
        std::fs::write(&val, &bad).unwrap();
        let e = downsampled::read(&stored, Split::Test, 32, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("val_data.npz") && e.to_lowercase().contains("checksum"),
            "{what}: {e}"
        );
    }

    // The wrong size, a label out of range, a missing archive: one line naming the file.
    let e = downsampled::read(&dir, Split::Test, 64, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("val_data.npz")
            && e.contains("uint8 (u1) [N, 12288]")
            && e.contains("imagenet32"),
        "{e}"
    );
    write_npz(
        &dir.join(downsampled::VAL_FILE),
        &data,
        &[0, 1, 2, 3, 4, 1001],
        dim,
    );
    let e = downsampled::read(&dir, Split::Test, 32, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("label 0 is outside 1 to 1000"), "{e}");
    std::fs::write(dir.join(downsampled::VAL_FILE), b"not a zip").unwrap();
    let e = downsampled::read(&dir, Split::Test, 32, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("val_data.npz") && e.contains("npz"), "{e}");
    // A validation archive of no images: every command refuses the empty split, naming it,
    // rather than report accuracies over nothing.
    write_npz(&dir.join(downsampled::VAL_FILE), &[], &[], dim);
    let dir_set = format!("data.dir={}", dir.display());
    let train = [
        "train",
        "--set",
        "data.source=imagenet32",
        "--set",
        &dir_set,
        "--set",
        "output.dir=/nonexistent/x",
    ];
    let commands = [
        linclass_command(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]),
        imagenet32_info(&dir),
        linclass_command(&repo_root(), &train),
    ];
    for mut command in commands {
        let out = command.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{command:?}: {}",
            describe(&out)
        );
        assert!(
            err.contains("the test split is empty") && err.contains("val_data.npz hold no images"),
            "{command:?}: {err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains('%'));
    }
    std::fs::remove_file(dir.join(downsampled::VAL_FILE)).unwrap();
    let out = imagenet32_info(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing val_data.npz") && err.contains("image-net.org"),
        "{err}"
    );
}

/// Pixels of image `i` of class `label` (1-based): a pattern of the class, plus noise that grows
/// with the class number, so that classes range from easy to hard.
fn patterned_image(label: i64, i: u64, size: usize) -> Vec<u8> {
    let mut state = (label as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x1234_5678;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pattern: Vec<u8> = (0..3 * size * size).map(|_| (next() % 256) as u8).collect();
    let mut noise = (i + 1).wrapping_mul(0xd1b5_4a32_d192_ed03);
    pattern
        .into_iter()
        .map(|p| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            let amount = (label as u64 % 1000) / 4;
            let n = (noise % (2 * amount + 1)) as i64 - amount as i64;
            (i64::from(p) + n).clamp(0, 255) as u8
        })
        .collect()
}

#[test]
fn a_thousand_classes_give_a_readable_eval_and_report() {
    use linclass_data::downsampled;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("imagenet32");
    std::fs::create_dir_all(&dir).unwrap();
    let size = 32;
    let dim = (3 * size * size) as u64;
    // Ten archives of 300 training images (3 per class in all), 1000 validation images.
    for (k, file) in downsampled::TRAIN_FILES.iter().enumerate() {
        let labels: Vec<i64> = (0..300)
            .map(|i| 1 + ((k * 300 + i) % 1000) as i64)
            .collect();
        let data: Vec<u8> = labels
            .iter()
            .enumerate()
            .flat_map(|(i, &l)| patterned_image(l, (k * 300 + i) as u64, size))
            .collect();
        write_npz(&dir.join(file), &data, &labels, dim);
    }
    let labels: Vec<i64> = (1..=1000).collect();
    let data: Vec<u8> = labels
        .iter()
        .flat_map(|&l| patterned_image(l, 10_000 + l as u64, size))
        .collect();
    write_npz(&dir.join(downsampled::VAL_FILE), &data, &labels, dim);
    let names: String = (1..=1000)
        .map(|i| format!("n{:08} {i} class_{i}\n", 1_000_000 + i))
        .collect();
    std::fs::write(dir.join("map_clsloc.txt"), names).unwrap();

    let run = tmp.path().join("run");
    let out = linclass(
        &repo_root(),
        &[
            "train",
            "--quiet",
            "--set",
            "data.source=imagenet32",
            "--set",
            &format!("data.dir={}", dir.display()),
            "--set",
            "data.valid_fraction=0.05",
            "--set",
            "optimizer.lr=0.05",
            "--set",
            "train.epochs=4",
            "--set",
            &format!("output.dir={}", run.display()),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));

    // data info: the range of the per-class counts, not 1000 rows.
    let out = imagenet32_info(&dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("per class: train 3 to 3 images, test 1 to 1"),
        "{text}"
    );
    assert!(text.lines().count() < 15, "{text}");

    // eval: the summary with names, no 1000-line table, no 1000 × 1000 picture.
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("top-5 accuracy"), "{text}");
    assert!(
        text.contains("per-class accuracy of the 1000 classes: eval --json"),
        "{text}"
    );
    assert!(text.lines().count() < 30, "{text}");
    let easiest = text
        .lines()
        .find(|l| l.starts_with("easiest classes: class "))
        .unwrap();
    let hardest = text
        .lines()
        .find(|l| l.starts_with("hardest classes: class "))
        .unwrap();
    assert_ne!(easiest, hardest);
    assert!(text.contains("no confusion matrix picture"), "{text}");
    assert!(!run.join("confusion.png").exists());
    let top1: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("top-1 accuracy: "))
        .and_then(|v| v.trim_end_matches('%').parse().ok())
        .unwrap();
    assert!(top1 > 30.0, "the patterns are learnable: {text}");

    // report: the 20 easiest and hardest classes' templates, the full grid as its own file.
    let out = linclass(&repo_root(), &["report", run.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("Templates of the 20 easiest classes"),
        "report"
    );
    assert!(
        html.contains("Templates of the 20 hardest classes"),
        "report"
    );
    assert!(html.contains("href=\"templates.png\""));
    assert!(!html.contains("<h2>Confusion matrix"));
    // The easiest and hardest classes are listed by their names ("class N").
    assert!(
        html.matches("<td>class ").count() >= 10,
        "names in the report"
    );
    let grid = image::open(run.join("templates.png")).unwrap();
    // 32 columns of 32-pixel templates at one pixel per weight: a few megapixels at most.
    assert!(
        grid.width() < 1400 && grid.height() < 2100,
        "{:?}",
        (grid.width(), grid.height())
    );
    assert_eq!(
        std::fs::read_dir(run.join("templates")).unwrap().count(),
        1000
    );

    // eval reads only the test split: the training archives may be gone (another machine).
    std::fs::remove_file(dir.join(downsampled::TRAIN_FILES[0])).unwrap();
    let out = linclass(&repo_root(), &["eval", run.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = imagenet32_info(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("missing train_data_batch_1.npz"),
        "{err}"
    );
}
