//! The catalog of datasets: what each kind is called, where its files are looked for, how it is
//! read, and where its official archives are published.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cifar::{self, CIFAR10_DIR, CIFAR100_DIR, LabelKind};
use crate::downsampled;
use crate::error::{DataError, Result};
use crate::fetch::{FetchProgress, RemoteFile, fetch};
use crate::folder::{CacheStatus, FolderOptions, describe_skipped, read_folder};
use crate::image_set::ImageSet;
use crate::mnist::{self, Split};
use crate::official::Expect;

/// The folder where datasets live by default (`data/` of the source tree).
pub const DATA_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data");

/// Where Debian's `dataset-fashion-mnist` package puts its files.
pub const DEBIAN_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

const MNIST_MIRRORS: [&str; 2] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
];
const FASHION_MIRRORS: [&str; 1] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"];
const CIFAR_SITE: &str = "https://www.cs.toronto.edu/~kriz";

/// The dataset kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    Folder,
    /// Downsampled ImageNet, 32 × 32 (npz archives; see [`crate::downsampled`]).
    Imagenet32,
    /// Downsampled ImageNet, 64 × 64.
    Imagenet64,
}

impl DatasetKind {
    pub const ALL: [DatasetKind; 7] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Folder,
        DatasetKind::Imagenet32,
        DatasetKind::Imagenet64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
            DatasetKind::Imagenet32 => "imagenet32",
            DatasetKind::Imagenet64 => "imagenet64",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Where the files are expected when `data.dir` is empty (and where downloads go):
    /// `data/KIND` of the working directory when that folder exists, else that of the source
    /// tree the program was built from while the tree exists, else (a program used after its
    /// tree is gone) the working directory's again. The shipped MNIST is always the tree's.
    pub fn default_dir(self) -> PathBuf {
        let local = Path::new("data");
        // DATA_ROOT is spelled from this crate's folder (`crates/data/../../data`): shown
        // resolved.
        let tree = Path::new(DATA_ROOT);
        let root = if local.join(self.name()).is_dir() || !tree.is_dir() {
            local
        } else {
            tree
        };
        let root = root
            .canonicalize()
            .or_else(|_| std::path::absolute(root))
            .unwrap_or_else(|_| root.to_path_buf());
        root.join(self.name())
    }

    /// The files published for this kind.
    pub fn remote_files(self) -> Vec<RemoteFile> {
        let idx = |mirrors: &[&str], sums: [(&str, &str); 4]| {
            sums.iter()
                .map(|(name, md5)| RemoteFile {
                    name: name.to_string(),
                    md5: md5.to_string(),
                    urls: mirrors.iter().map(|m| format!("{m}/{name}")).collect(),
                    extract: false,
                })
                .collect()
        };
        let archive = |name: &str, md5: &str| {
            vec![RemoteFile {
                name: name.to_string(),
                md5: md5.to_string(),
                urls: vec![format!("{CIFAR_SITE}/{name}")],
                extract: true,
            }]
        };
        match self {
            DatasetKind::Mnist => idx(
                &MNIST_MIRRORS,
                [
                    (
                        "train-images-idx3-ubyte.gz",
                        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                    ),
                    (
                        "train-labels-idx1-ubyte.gz",
                        "d53e105ee54ea40749a09fcbcd1e9432",
                    ),
                    (
                        "t10k-images-idx3-ubyte.gz",
                        "9fb629c4189551a2d022fa330f9573f3",
                    ),
                    (
                        "t10k-labels-idx1-ubyte.gz",
                        "ec29112dd5afa0611ce80d1b7f02629c",
                    ),
                ],
            ),
            DatasetKind::FashionMnist => idx(
                &FASHION_MIRRORS,
                [
                    (
                        "train-images-idx3-ubyte.gz",
                        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                    ),
                    (
                        "train-labels-idx1-ubyte.gz",
                        "25c81989df183df01b3e8a0aad5dffbe",
                    ),
                    (
                        "t10k-images-idx3-ubyte.gz",
                        "bef4ecab320f06d8554ea6380940ec79",
                    ),
                    (
                        "t10k-labels-idx1-ubyte.gz",
                        "bb300cfdad3c16e7a12a480ee83cd310",
                    ),
                ],
            ),
            DatasetKind::Cifar10 => {
                archive("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
            }
            DatasetKind::Cifar100 => archive(
                "cifar-100-binary.tar.gz",
                "03b5dce01913d631647c71ecec9e9cb8",
            ),
            // Downsampled ImageNet needs an image-net.org account: no public address.
            DatasetKind::Folder | DatasetKind::Imagenet32 | DatasetKind::Imagenet64 => Vec::new(),
        }
    }

    /// The files (relative to the dataset folder) that must exist for the kind to be read.
    pub fn required_files(self) -> Vec<PathBuf> {
        let idx = || {
            [
                "train-images-idx3-ubyte",
                "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte",
            ]
            .iter()
            .map(|s| PathBuf::from(format!("{s}.gz")))
            .collect()
        };
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => idx(),
            DatasetKind::Cifar10 => [
                "batches.meta.txt",
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
                "test_batch.bin",
            ]
            .iter()
            .map(|f| Path::new(CIFAR10_DIR).join(f))
            .collect(),
            DatasetKind::Cifar100 => [
                "fine_label_names.txt",
                "coarse_label_names.txt",
                "train.bin",
                "test.bin",
            ]
            .iter()
            .map(|f| Path::new(CIFAR100_DIR).join(f))
            .collect(),
            DatasetKind::Folder => Vec::new(),
            DatasetKind::Imagenet32 | DatasetKind::Imagenet64 => downsampled::TRAIN_FILES
                .iter()
                .chain([&downsampled::VAL_FILE])
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// Everything needed to find and read a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    pub kind: DatasetKind,
    /// The dataset folder; empty: the kind's default (the shipped copy for MNIST).
    pub dir: PathBuf,
    /// CIFAR-100: fine or coarse labels.
    pub label: LabelKind,
    pub folder: FolderOptions,
    /// Download missing files from the official mirrors.
    pub download: bool,
    /// URL prefixes tried before the official mirrors.
    pub mirrors: Vec<String>,
    /// Whether the official addresses are tried after `mirrors`.
    pub official: bool,
    /// Seeds the test split of a folder without train/ and test/.
    pub seed: u64,
    /// The files are a custom subset of the official ones: other record counts are accepted.
    pub subset: bool,
}

/// A split as read, with what the user should hear about it.
#[derive(Debug, Clone)]
pub struct Opened {
    pub set: ImageSet,
    /// One line each: files skipped in an image folder, sums that differ from the official, a
    /// decoded-image cache that was not trusted or could not be written.
    pub warnings: Vec<String>,
    /// Image folders: what the decoded-image cache did.
    pub cache: Option<CacheStatus>,
}

impl DataSource {
    pub fn new(kind: DatasetKind) -> Self {
        Self {
            kind,
            dir: PathBuf::new(),
            label: LabelKind::Fine,
            folder: FolderOptions::default(),
            download: false,
            mirrors: Vec::new(),
            official: true,
            seed: 0,
            subset: false,
        }
    }

    /// Whether this is the MNIST copy shipped with the project.
    pub fn is_embedded(&self) -> bool {
        self.kind == DatasetKind::Mnist && self.dir.as_os_str().is_empty()
    }

    /// Whether an IDX-layout file is present raw or gzip-compressed.
    fn present(dir: &Path, file: &Path) -> bool {
        dir.join(file).is_file()
            || file
                .to_str()
                .and_then(|f| f.strip_suffix(".gz"))
                .is_some_and(|raw| dir.join(raw).is_file())
    }

    /// The files of `required_files` missing in `dir`.
    pub fn missing_in(&self, dir: &Path) -> Vec<PathBuf> {
        let alt = |f: &Path| {
            // CIFAR files may also sit directly in `dir`.
            f.file_name().map(|n| dir.join(n))
        };
        self.kind
            .required_files()
            .into_iter()
            .filter(|f| !Self::present(dir, f) && !alt(f).is_some_and(|p| p.is_file()))
            .collect()
    }

    /// The folder the files are read from: the configured one, or the default, or (for
    /// Fashion-MNIST) Debian's copy when the default has none.
    pub fn resolved_dir(&self) -> PathBuf {
        if self.is_embedded() {
            return PathBuf::from(mnist::EMBEDDED_DIR);
        }
        if !self.dir.as_os_str().is_empty() {
            return self.dir.clone();
        }
        let default = self.kind.default_dir();
        if self.kind == DatasetKind::FashionMnist
            && !self.missing_in(&default).is_empty()
            && !self.download
            && self.missing_in(Path::new(DEBIAN_FASHION_MNIST)).is_empty()
        {
            return PathBuf::from(DEBIAN_FASHION_MNIST);
        }
        default
    }

    /// The files of `split` (and those both splits need, such as class names) that are not in
    /// `dir`: reading the test split (`eval`) does not need the training files.
    pub fn missing_for(&self, dir: &Path, split: Split) -> Vec<PathBuf> {
        self.missing_in(dir)
            .into_iter()
            .filter(|f| needed_by(f, split))
            .collect()
    }

    /// Makes sure the files `split` needs are on disk: downloads what is missing when allowed,
    /// otherwise says which files to put where.
    pub fn ensure_present(
        &self,
        split: Split,
        progress: &mut dyn FetchProgress,
    ) -> Result<PathBuf> {
        self.ensure_splits_present(&[split], progress)
    }

    /// [`Self::ensure_present`] for both splits at once, as training reads both: one message
    /// lists every missing file.
    pub fn ensure_all_present(&self, progress: &mut dyn FetchProgress) -> Result<PathBuf> {
        self.ensure_splits_present(&[Split::Train, Split::Test], progress)
    }

    fn ensure_splits_present(
        &self,
        splits: &[Split],
        progress: &mut dyn FetchProgress,
    ) -> Result<PathBuf> {
        let dir = self.resolved_dir();
        if self.kind == DatasetKind::Folder || self.is_embedded() {
            return Ok(dir);
        }
        let missing_for = |dir: &Path| -> Vec<PathBuf> {
            let mut all: Vec<PathBuf> = Vec::new();
            for &split in splits {
                for f in self.missing_for(dir, split) {
                    if !all.contains(&f) {
                        all.push(f);
                    }
                }
            }
            all
        };
        let missing = missing_for(&dir);
        if missing.is_empty() {
            return Ok(dir);
        }
        if self.download && !self.kind.remote_files().is_empty() {
            self.fetch_into(&dir, progress)?;
            let still = missing_for(&dir);
            if still.is_empty() {
                return Ok(dir);
            }
            return Err(DataError::format(
                &dir,
                format!("after download, still missing {}", list(&still)),
            ));
        }
        Err(self.missing_error(&dir, &missing))
    }

    /// What to do about the `missing` files of `dir`: where to download them, or how.
    fn missing_error(&self, dir: &Path, missing: &[PathBuf]) -> DataError {
        if matches!(self.kind, DatasetKind::Imagenet32 | DatasetKind::Imagenet64) {
            return DataError::format(
                dir,
                format!(
                    "missing {}; download the {} npz files of \"Downsampled ImageNet\" from https://image-net.org/download-images (an account is needed) into this folder (and map_clsloc.txt for the class names)",
                    list(missing),
                    if self.kind == DatasetKind::Imagenet32 {
                        "32x32"
                    } else {
                        "64x64"
                    }
                ),
            );
        }
        // An archive holds every file; loose files are named only when missing.
        let all = self.kind.remote_files();
        let named: Vec<RemoteFile> = all
            .iter()
            .filter(|f| f.extract || missing.iter().any(|m| *m == f.name))
            .cloned()
            .collect();
        let files = if named.is_empty() { all } else { named };
        let how = files
            .iter()
            .map(|f| {
                format!(
                    "{} (MD5 {}) from {}",
                    f.name,
                    f.md5,
                    f.urls.first().map_or("", String::as_str)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let extract = if files.iter().any(|f| f.extract) {
            ", extracted there"
        } else {
            ""
        };
        DataError::format(
            dir,
            format!(
                "missing {}; run `linclass data fetch {}` or set data.download = true, or put {how} into this folder by hand{extract}{}",
                list(missing),
                self.kind.name(),
                if self.kind == DatasetKind::FashionMnist {
                    " (or install Debian's dataset-fashion-mnist package)"
                } else {
                    ""
                }
            ),
        )
    }

    /// Downloads every published file of the kind into `dir`.
    pub fn fetch_into(&self, dir: &Path, progress: &mut dyn FetchProgress) -> Result<()> {
        for mut file in self.kind.remote_files() {
            if !self.official {
                file.urls.clear();
            }
            fetch(&file.with_mirrors(&self.mirrors), dir, progress)?;
        }
        Ok(())
    }

    /// Reads one split. Files under their official names must hold the official number of
    /// records (unless `subset`); sums that differ from the published ones, and files of an
    /// image folder that were not read, come back as warnings.
    pub fn open(&self, split: Split, progress: &mut dyn FetchProgress) -> Result<Opened> {
        let dir = self.ensure_present(split, progress)?;
        let mut warnings = Vec::new();
        let mut cache = None;
        let expect = Expect {
            subset: self.subset,
            // The shipped copy was just checked against its SHA-256 sums.
            skip_sums: self.is_embedded(),
        };
        let set = match self.kind {
            DatasetKind::Mnist => {
                if self.is_embedded() {
                    mnist::verify_embedded()?;
                }
                mnist::read_split(
                    &dir,
                    split,
                    &mnist::DIGITS,
                    &expect,
                    &mnist::MNIST_SUMS,
                    &mut warnings,
                )?
            }
            DatasetKind::FashionMnist => mnist::read_split(
                &dir,
                split,
                &FASHION_CLASSES,
                &expect,
                &mnist::FASHION_SUMS,
                &mut warnings,
            )?,
            DatasetKind::Cifar10 => cifar::read_cifar10(&dir, split, &expect)?,
            DatasetKind::Cifar100 => cifar::read_cifar100(&dir, split, self.label, &expect)?,
            DatasetKind::Imagenet32 | DatasetKind::Imagenet64 => {
                let size = if self.kind == DatasetKind::Imagenet32 {
                    32
                } else {
                    64
                };
                let (set, status) = downsampled::read(&dir, split, size, self.folder.cache)?;
                cache_warning(split, &status, &mut warnings);
                cache = Some(status);
                set
            }
            DatasetKind::Folder => {
                if self.dir.as_os_str().is_empty() {
                    return Err(DataError::Invalid(
                        "data.source = \"folder\" needs data.dir, the folder of class folders"
                            .into(),
                    ));
                }
                let read = read_folder(&dir, split, &self.folder, self.seed)?;
                warnings.extend(read.notes);
                cache_warning(split, &read.cache, &mut warnings);
                cache = Some(read.cache.clone());
                // Files that are not images are listed once, for the whole folder (both splits);
                // unreadable ones with the split that decoded them.
                warnings.extend(
                    describe_skipped(&read.skipped)
                        .map(|line| format!("{}: {line}", dir.display())),
                );
                read.set
            }
        };
        if set.is_empty() {
            return Err(empty_split(self.kind, &dir, split));
        }
        Ok(Opened {
            set,
            warnings,
            cache,
        })
    }
}

/// A cache that was not trusted or could not be written is worth a warning.
fn cache_warning(split: Split, status: &CacheStatus, warnings: &mut Vec<String>) {
    if matches!(
        status,
        CacheStatus::Rebuilt(..) | CacheStatus::Unavailable(_)
    ) {
        warnings.push(format!(
            "decoded-image cache ({} split): {}",
            format!("{split:?}").to_lowercase(),
            status.describe()
        ));
    }
}

/// Whether the dataset file `file` is one that reading `split` needs (its images, or what both
/// splits need, such as class names).
fn needed_by(file: &Path, split: Split) -> bool {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let test = ["t10k", "test", "val_data"]
        .iter()
        .any(|p| name.starts_with(p));
    let train = ["train", "data_batch"].iter().any(|p| name.starts_with(p));
    match split {
        Split::Train => !test,
        Split::Test => !train,
    }
}

/// The error of a split without images: every command refuses it rather than report figures
/// over nothing. Names the split's image files (or the folder).
fn empty_split(kind: DatasetKind, dir: &Path, split: Split) -> DataError {
    let files: Vec<PathBuf> = kind
        .required_files()
        .into_iter()
        .filter(|f| needed_by(f, split) && !f.to_string_lossy().ends_with(".txt"))
        .map(|f| dir.join(f))
        .collect();
    let name = format!("{split:?}").to_lowercase();
    let what = if files.is_empty() {
        String::new()
    } else {
        format!(" ({} hold no images)", list(&files))
    };
    DataError::format(
        dir,
        format!("the {name} split is empty{what}; expected at least one image"),
    )
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
