//! Image folders, ImageNet style: `root/<class>/…images…`, or `root/train/<class>/…` beside
//! `root/test/<class>/…` (or `val/`, `valid/`, `validation/`; any letter case). Class indices
//! follow the sorted class names; images are found in each class folder and its subfolders,
//! decoded once, in parallel, converted to the configured channels and resized.
//!
//! Folders come from every system, so what other systems leave beside the images is ignored
//! (names starting with `.`, such as macOS's `._photo.jpg` and `.DS_Store`, `__MACOSX/`,
//! Windows' `Thumbs.db` and `desktop.ini`), names are compared after Unicode normalization (NFC:
//! macOS writes "café" decomposed, Linux composed), and every other file that is not read is
//! reported with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::cache::Writer;
use crate::decode::{IMAGE_FORMATS, decode_all, is_image_file};
use crate::error::{DataError, Result};
use crate::image_set::ImageSet;
use crate::mnist::Split;
use crate::split::SplitMix64;

/// The layouts recognized, for error messages.
pub const LAYOUTS: &str = "root/<class>/<images> (a test part is held out per class), or root/train/<class>/<images> beside root/test/<class>/ (or val/, valid/, validation/; any letter case; or a flat val/ labelled by ImageNet's LOC_val_solution.csv)";

/// Names of split folders (compared case-insensitively), in order of preference.
const TRAIN_NAMES: [&str; 2] = ["train", "training"];
const TEST_NAMES: [&str; 5] = ["test", "testing", "val", "valid", "validation"];

/// How a folder of images becomes an image set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FolderOptions {
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Without train/ and test/ subfolders: the fraction of each class kept for testing.
    pub test_fraction: f64,
    /// Skip files that cannot be decoded (and say how many) instead of failing.
    pub skip_unreadable: bool,
    /// Keep the decoded images in the decoded-image cache (see [`crate::cache`]) and read
    /// them from there while no file changes.
    pub cache: bool,
}

impl Default for FolderOptions {
    fn default() -> Self {
        Self {
            channels: 3,
            height: 32,
            width: 32,
            test_fraction: 0.2,
            skip_unreadable: false,
            cache: true,
        }
    }
}

impl FolderOptions {
    /// [channels, height, width] of the images read.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// [`FolderOptions::shape`], checked: 1 or 3 channels and a non-zero size.
    fn checked_shape(&self) -> Result<[usize; 3]> {
        if !matches!(self.channels, 1 | 3) || self.height == 0 || self.width == 0 {
            return Err(DataError::Invalid(format!(
                "data.folder: channels = {}, height = {}, width = {}: expected 1 or 3 channels and a non-zero size",
                self.channels, self.height, self.width
            )));
        }
        Ok(self.shape())
    }
}

/// A file of an image folder that was not read, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: SkipReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SkipReason {
    /// The extension (lower case, empty if none) is not one of an image format read here.
    NotAnImage(String),
    /// The file could not be decoded (with `skip_unreadable`); the decoder's message.
    Unreadable(String),
    /// A link (or a second path) that is not followed, and why: it dangles, it leads back into a
    /// folder already read, or to a file already read under another path.
    Link(String),
}

/// One line saying how many files were skipped and why, e.g. "skipped 3 files: 2 .heic, 1 .svg
/// (not a PNG, JPEG, … image); 1 unreadable (a/b.png: …)"; `None` when nothing was skipped.
pub fn describe_skipped(skipped: &[Skipped]) -> Option<String> {
    if skipped.is_empty() {
        return None;
    }
    let mut by_ext: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut links = Vec::new();
    for s in skipped {
        match &s.reason {
            SkipReason::NotAnImage(ext) => *by_ext.entry(ext.as_str()).or_default() += 1,
            SkipReason::Unreadable(why) => unreadable.push((&s.path, why)),
            SkipReason::Link(why) => links.push(format!("{} {why}", s.path.display())),
        }
    }
    let mut parts = Vec::new();
    if !by_ext.is_empty() {
        let mut exts: Vec<(&str, usize)> = by_ext.into_iter().collect();
        exts.sort_by_key(|&(e, n)| (std::cmp::Reverse(n), e));
        let list = exts
            .iter()
            .map(|(e, n)| {
                if e.is_empty() {
                    format!("{n} without extension")
                } else {
                    format!("{n} .{e}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        parts.push(format!("{list} (not a {IMAGE_FORMATS} file)"));
    }
    if let Some((path, why)) = unreadable.first() {
        // Decoders' messages may name the file already.
        let why = why
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(why);
        parts.push(format!(
            "{} unreadable (e.g. {}: {why})",
            unreadable.len(),
            path.display()
        ));
    }
    if !links.is_empty() {
        let more = if links.len() > 5 { "; …" } else { "" };
        parts.push(format!(
            "{} link(s) not followed ({}{more})",
            links.len(),
            links[..links.len().min(5)].join("; ")
        ));
    }
    Some(format!(
        "skipped {} file(s): {}",
        skipped.len(),
        parts.join("; ")
    ))
}

pub use crate::cache::CacheStatus;

/// What was read from a folder.
#[derive(Debug, Clone)]
pub struct FolderSet {
    pub set: ImageSet,
    /// Files that were not read, with the reason.
    pub skipped: Vec<Skipped>,
    /// Folders that were not read (reported with the training split).
    pub notes: Vec<String>,
    /// What the decoded-image cache did.
    pub cache: CacheStatus,
}

/// Whether a name is something an operating system or archiver leaves beside the images.
pub fn is_os_debris(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.')
        || name.eq_ignore_ascii_case("Thumbs.db")
        || name.eq_ignore_ascii_case("desktop.ini")
        || name.eq_ignore_ascii_case("ehthumbs.db")
        || name == "__MACOSX"
}

/// The name of `path` as a class name: valid UTF-8, in Unicode normalization form C.
fn class_name(path: &Path) -> Result<String> {
    let raw = path.file_name().unwrap_or_default();
    match raw.to_str() {
        Some(name) => Ok(name.nfc().collect()),
        None => Err(DataError::format(
            path,
            format!(
                "folder name {} is not UTF-8 (written on another system with another encoding?); rename it",
                raw.as_encoded_bytes().escape_ascii()
            ),
        )),
    }
}

/// The entries of `dir` that are not OS debris, sorted.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if !is_os_debris(&entry.file_name()) {
            entries.push(entry.path());
        }
    }
    entries.sort();
    Ok(entries)
}

/// What a file or folder is on disk, whatever path (or link) leads to it.
#[cfg(unix)]
type Identity = (u64, u64);
#[cfg(not(unix))]
type Identity = PathBuf;

#[cfg(unix)]
fn identity(_: &Path, meta: &std::fs::Metadata) -> Identity {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(path: &Path, _: &std::fs::Metadata) -> Identity {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The walk over a dataset's folders: links are followed, as a file manager and torchvision's
/// `ImageFolder` follow them, but each real folder is entered once and each real file read
/// once, under the first path that reached it; the other paths are skipped and said.
#[derive(Default)]
struct Walk {
    /// Folders entered, or about to be (the root, split and class folders are reserved first,
    /// so that a link into another class is not read as this one).
    folders: HashSet<Identity>,
    /// The first path of each image file listed.
    files: HashMap<Identity, PathBuf>,
    /// The path of each file inside the dataset's folder reached without a link: a link to
    /// one of them is not read (the file is, under its own path and class).
    owned: HashMap<Identity, PathBuf>,
    /// The folders whose files are in `owned`.
    owned_folders: HashSet<Identity>,
    skipped: Vec<Skipped>,
}

impl Walk {
    /// A walk of the dataset in `root`, knowing the real paths of the files inside it.
    fn new(root: &Path) -> Result<Self> {
        let mut walk = Walk::default();
        walk.own(root)?;
        walk.reserve_path(root)?;
        Ok(walk)
    }

    /// Records the files under `dir`, links inside it not followed (`dir` itself may be one);
    /// of two paths to one file (hard links), the first in path order owns it.
    fn own(&mut self, dir: &Path) -> Result<()> {
        let meta = std::fs::metadata(dir).map_err(|e| DataError::io(dir, e))?;
        if !self.owned_folders.insert(identity(dir, &meta)) {
            return Ok(());
        }
        for path in entries(dir)? {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                self.own(&path)?;
            } else if meta.is_file() {
                self.owned.entry(identity(&path, &meta)).or_insert(path);
            }
        }
        Ok(())
    }

    /// Reserves the folder `dir` before it is walked; `false` (and said) when a link led to a
    /// folder already reserved.
    fn reserve(&mut self, dir: &Path, meta: &std::fs::Metadata) -> bool {
        if self.folders.insert(identity(dir, meta)) {
            return true;
        }
        let real = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        self.link(
            dir,
            format!(
                "leads to {}, a folder read once, under its own path",
                real.display()
            ),
        );
        false
    }

    /// [`Walk::reserve`] of a folder not yet looked at.
    fn reserve_path(&mut self, dir: &Path) -> Result<bool> {
        let meta = std::fs::metadata(dir).map_err(|e| DataError::io(dir, e))?;
        Ok(self.reserve(dir, &meta))
    }

    fn link(&mut self, path: &Path, why: String) {
        self.skipped.push(Skipped {
            path: path.to_path_buf(),
            reason: SkipReason::Link(why),
        });
    }

    /// `path`'s metadata, following links; `None` (and said) for a link that leads nowhere.
    fn metadata(&mut self, path: &Path) -> Result<Option<std::fs::Metadata>> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) => match std::fs::read_link(path) {
                Ok(target) => {
                    let which = if e.kind() == std::io::ErrorKind::NotFound {
                        "does not exist".to_string()
                    } else {
                        format!("cannot be read ({e})")
                    };
                    let why = format!("is a dangling link to {}, which {which}", target.display());
                    self.link(path, why);
                    Ok(None)
                }
                Err(_) => Err(DataError::io(path, e)),
            },
        }
    }

    /// Every image file under `dir` (sorted, subfolders included), and the other files.
    fn collect_images(&mut self, dir: &Path, images: &mut Vec<PathBuf>) -> Result<()> {
        for path in entries(dir)? {
            let Some(meta) = self.metadata(&path)? else {
                continue;
            };
            if meta.is_dir() {
                if self.reserve(&path, &meta) {
                    self.collect_images(&path, images)?;
                }
            } else if is_image_file(&path) {
                let id = identity(&path, &meta);
                if let Some(real) = self.owned.get(&id).filter(|real| **real != path) {
                    let why = if is_link(&path) {
                        format!("leads to {}, which is read there", real.display())
                    } else {
                        format!(
                            "is the same file as {} (a hard link), which is read there",
                            real.display()
                        )
                    };
                    self.link(&path, why);
                    continue;
                }
                match self.files.entry(id) {
                    std::collections::hash_map::Entry::Occupied(first) => {
                        let why = format!(
                            "is another path to {}, which is read once",
                            first.get().display()
                        );
                        self.link(&path, why);
                    }
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(path.clone());
                        images.push(path);
                    }
                }
            } else {
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                self.skipped.push(Skipped {
                    path,
                    reason: SkipReason::NotAnImage(ext),
                });
            }
        }
        Ok(())
    }
}

/// Whether `path` is a symbolic link itself.
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// The class folders of `dir`, reserved before any is walked (so that a link from one split or
/// class into another's folder is not read there), with the number of loose images beside them.
/// The files of a class folder reached through a link are owned by it, as those of the others.
fn class_folders(dir: &Path, walk: &mut Walk) -> Result<(Vec<PathBuf>, usize)> {
    let mut loose = 0usize;
    let mut folders = Vec::new();
    for path in entries(dir)? {
        let Some(meta) = walk.metadata(&path)? else {
            continue;
        };
        if !meta.is_dir() {
            loose += usize::from(is_image_file(&path));
        } else if walk.reserve(&path, &meta) {
            walk.own(&path)?;
            folders.push(path);
        }
    }
    Ok((folders, loose))
}

/// Class folders of `dir` (found by [`class_folders`]), sorted by name, with their image files.
fn scan_classes(
    dir: &Path,
    (folders, loose): (Vec<PathBuf>, usize),
    walk: &mut Walk,
) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let mut classes: Vec<(String, PathBuf, Vec<PathBuf>)> = Vec::new();
    for path in folders {
        let name = class_name(&path)?;
        if let Some((_, other, _)) = classes.iter().find(|(n, _, _)| *n == name) {
            return Err(DataError::format(
                dir,
                format!(
                    "folders {:?} and {:?} are the same class name '{name}' once Unicode-normalized; merge or rename one",
                    other.file_name().unwrap_or_default(),
                    path.file_name().unwrap_or_default()
                ),
            ));
        }
        let mut files = Vec::new();
        walk.collect_images(&path, &mut files)?;
        classes.push((name, path, files));
    }
    if classes.is_empty() {
        let found = if loose > 0 {
            format!("{loose} image(s) but no class folders")
        } else {
            "no class folders".to_string()
        };
        return Err(DataError::format(
            dir,
            format!("{found}; expected {LAYOUTS}"),
        ));
    }
    if let Some((_, path, _)) = classes.iter().find(|(_, _, files)| files.is_empty()) {
        return Err(DataError::format(
            path,
            format!("class folder holds no {IMAGE_FORMATS} images; expected {LAYOUTS}"),
        ));
    }
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(classes.into_iter().map(|(n, _, f)| (n, f)).collect())
}

/// Where the test split of a train/test layout comes from.
#[derive(Debug, Clone)]
enum TestDir {
    /// A folder of class folders, like train/.
    Classes(PathBuf),
    /// A flat folder of images labelled by a `LOC_val_solution.csv` (ImageNet's val/).
    Flat { dir: PathBuf, labels: PathBuf },
}

impl TestDir {
    fn dir(&self) -> &Path {
        match self {
            TestDir::Classes(dir) | TestDir::Flat { dir, .. } => dir,
        }
    }
}

/// The train and test folders of `root`, when it is laid out that way, and a line for each
/// other test-like folder that is not read (`val/` beside `test/`, an unlabelled flat folder).
fn split_dirs(root: &Path) -> Result<Option<(PathBuf, TestDir, Vec<String>)>> {
    let dirs: Vec<PathBuf> = entries(root)?.into_iter().filter(|p| p.is_dir()).collect();
    let named = |want: &str| {
        dirs.iter().find(|d| {
            d.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(want))
        })
    };
    let Some(train) = TRAIN_NAMES.iter().find_map(|n| named(n)) else {
        return Ok(None);
    };
    // A class may be called "train" (trains, cars, buses): a split folder holds folders.
    if !entries(train)?.iter().any(|p| p.is_dir()) {
        return Ok(None);
    }
    let labels = crate::imagenet::find_upwards(root, crate::imagenet::VAL_SOLUTION_FILE);
    let mut chosen: Option<TestDir> = None;
    let mut notes = Vec::new();
    for dir in TEST_NAMES.iter().filter_map(|n| named(n)) {
        if let Some(test) = &chosen {
            // Test-like folders after the chosen one are not read, which is said, not silent.
            notes.push(format!(
                "{}/ is not read: the test split is {}",
                dir.display(),
                test.dir().display()
            ));
        } else if entries(dir)?.iter().any(|p| p.is_dir()) {
            chosen = Some(TestDir::Classes(dir.clone()));
        } else if let Some(labels) = labels.as_ref().filter(|_| {
            // LOC_val_solution.csv labels the validation images, not test/'s.
            dir.file_name().and_then(OsStr::to_str).is_some_and(|n| {
                ["val", "valid", "validation"]
                    .iter()
                    .any(|v| n.eq_ignore_ascii_case(v))
            })
        }) {
            chosen = Some(TestDir::Flat {
                dir: dir.clone(),
                labels: labels.clone(),
            });
        } else {
            notes.push(format!(
                "{}/ is not read: it holds no class folders (unlabelled images), and no {} gives their classes",
                dir.display(),
                crate::imagenet::VAL_SOLUTION_FILE
            ));
        }
    }
    let Some(test) = chosen else {
        let flat = if notes.is_empty() {
            String::new()
        } else {
            format!(
                " ({} was looked for in {} and up to three folders above)",
                crate::imagenet::VAL_SOLUTION_FILE,
                root.display()
            )
        };
        return Err(DataError::format(
            root,
            format!(
                "{} holds class folders but there is no test/ (or val/, valid/, validation/) with class folders or labels beside it{flat}; expected {LAYOUTS}",
                train.display()
            ),
        ));
    };
    Ok(Some((train.clone(), test, notes)))
}

/// The image files of both splits of a folder with their class indices, the class names and
/// the files that are not images.
#[derive(Debug, Clone)]
pub struct Listing {
    pub classes: Vec<String>,
    /// With train/ and test/ folders: each split's files. Otherwise every file of each class
    /// (`train` holds them all, by class), for [`hold_out`] to split.
    pub train: Vec<Vec<PathBuf>>,
    pub test: Option<Vec<Vec<PathBuf>>>,
    pub skipped: Vec<Skipped>,
    /// Folders of the layout that are not read, one line each.
    pub notes: Vec<String>,
}

/// Lists an image folder: its layout, classes and image files (nothing is decoded).
///
/// Errors: no folder, no class folders, a class folder without images, a name that is not
/// UTF-8 or that two folders share once normalized, a test class that training lacks.
pub fn list(root: &Path) -> Result<Listing> {
    if !root.is_dir() {
        let what = if root.exists() {
            "is not a folder"
        } else {
            "does not exist"
        };
        return Err(DataError::format(
            root,
            format!("image folder {what}; expected {LAYOUTS}"),
        ));
    }
    let mut walk = Walk::new(root)?;
    let Some((train_dir, test_dir, mut notes)) = split_dirs(root)? else {
        let found = class_folders(root, &mut walk)?;
        let classes = scan_classes(root, found, &mut walk)?;
        let (folders, files): (Vec<String>, _) = classes.into_iter().unzip();
        return Ok(Listing {
            classes: display_names(root, root, folders)?,
            train: files,
            test: None,
            skipped: walk.skipped,
            notes: Vec::new(),
        });
    };
    for dir in [&train_dir, test_dir.dir()] {
        walk.reserve_path(dir)?;
    }
    let train_found = class_folders(&train_dir, &mut walk)?;
    let test_found = match &test_dir {
        TestDir::Classes(dir) => Some(class_folders(dir, &mut walk)?),
        TestDir::Flat { .. } => None,
    };
    let train = scan_classes(&train_dir, train_found, &mut walk)?;
    let folders: Vec<String> = train.iter().map(|(n, _)| n.clone()).collect();
    let mut test = vec![Vec::new(); folders.len()];
    match &test_dir {
        TestDir::Classes(dir) => {
            let found = test_found.unwrap_or_default();
            for (name, files) in scan_classes(dir, found, &mut walk)? {
                let index = folders.iter().position(|n| *n == name).ok_or_else(|| {
                    DataError::format(
                        dir,
                        format!(
                            "class '{name}' is not among the {} training classes of {}",
                            folders.len(),
                            train_dir.display()
                        ),
                    )
                })?;
                test[index] = files;
            }
        }
        TestDir::Flat { dir, labels } => {
            test = flat_test(dir, labels, &folders, &train_dir, &mut walk, &mut notes)?;
        }
    }
    Ok(Listing {
        classes: display_names(root, &train_dir, folders)?,
        train: train.into_iter().map(|(_, f)| f).collect(),
        test: Some(test),
        skipped: walk.skipped,
        notes,
    })
}

/// The test images of a flat folder (ImageNet's `val/`), labelled by the `labels` CSV
/// (`LOC_val_solution.csv`), one list per training class of `folders`.
fn flat_test(
    dir: &Path,
    labels: &Path,
    folders: &[String],
    train_dir: &Path,
    walk: &mut Walk,
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<PathBuf>>> {
    let solution = crate::imagenet::val_solution(labels)?;
    let mut files = Vec::new();
    walk.collect_images(dir, &mut files)?;
    let mut test = vec![Vec::new(); folders.len()];
    let mut unlabelled = 0usize;
    for file in files {
        let id = file.file_stem().and_then(OsStr::to_str).unwrap_or_default();
        let Some(wnid) = solution.get(id) else {
            unlabelled += 1;
            continue;
        };
        let index = folders.iter().position(|n| n == wnid).ok_or_else(|| {
            DataError::format(
                labels,
                format!(
                    "labels {id} as '{wnid}', which is not among the {} training classes of {}",
                    folders.len(),
                    train_dir.display()
                ),
            )
        })?;
        test[index].push(file);
    }
    if unlabelled > 0 {
        notes.push(format!(
            "{}: {unlabelled} image(s) have no row in {} and are not read",
            dir.display(),
            labels.display()
        ));
    }
    if test.iter().all(Vec::is_empty) {
        return Err(DataError::format(
            dir,
            format!("none of its images has a row in {}", labels.display()),
        ));
    }
    Ok(test)
}

/// The class names: the folder names, or the names a `classes.txt` / `LOC_synset_mapping.txt`
/// gives them (see [`crate::imagenet`]).
fn display_names(root: &Path, class_dir: &Path, folders: Vec<String>) -> Result<Vec<String>> {
    Ok(
        match crate::imagenet::class_names(&[root, class_dir], &folders)? {
            Some((names, _)) => names,
            None => folders,
        },
    )
}

/// Splits each class's items (in their listed order) into (train, test), holding out the
/// `fraction` of each class for testing (stratified, shuffled by `seed`).
pub fn hold_out<T: Clone>(
    per_class: &[Vec<T>],
    fraction: f64,
    seed: u64,
) -> (Vec<Vec<T>>, Vec<Vec<T>>) {
    let mut rng = SplitMix64::new(seed ^ 0x7e57_5917);
    let mut train = Vec::with_capacity(per_class.len());
    let mut test = Vec::with_capacity(per_class.len());
    for items in per_class {
        let mut order: Vec<usize> = (0..items.len()).collect();
        rng.shuffle(&mut order);
        let n_test = ((items.len() as f64) * fraction).round() as usize;
        let (held, kept) = order.split_at(n_test.min(items.len()));
        let pick = |idx: &[usize]| {
            let mut idx = idx.to_vec();
            idx.sort_unstable();
            idx.into_iter()
                .map(|i| items[i].clone())
                .collect::<Vec<T>>()
        };
        test.push(pick(held));
        train.push(pick(kept));
    }
    (train, test)
}

/// Reads one split of an image folder.
///
/// Errors: those of [`list`], an undecodable image (unless `options.skip_unreadable`: then it
/// is skipped before the test part is held out, so no class loses test images to it), a
/// split without readable images.
pub fn read_folder(
    root: &Path,
    split: Split,
    options: &FolderOptions,
    seed: u64,
) -> Result<FolderSet> {
    let (mut read, chosen) = read_chosen(root, split, options, seed)?;
    let unreadable: HashSet<&Path> = read.skipped.iter().map(|s| s.path.as_path()).collect();
    let files = chosen
        .into_iter()
        .flatten()
        .filter(|p| !unreadable.contains(p.as_path()))
        .collect();
    read.set = read.set.with_files(files)?;
    Ok(read)
}

/// [`read_folder`] before it says which file each image came from: the split's images and
/// the files it chose to read, class by class (the unreadable ones among them were skipped).
fn read_chosen(
    root: &Path,
    split: Split,
    options: &FolderOptions,
    seed: u64,
) -> Result<(FolderSet, Vec<Vec<PathBuf>>)> {
    let shape = options.checked_shape()?;
    let listing = list(root)?;
    // Files that are not images are reported once, with the training split (which lists the
    // whole folder); unreadable ones with the split that decoded them.
    let (mut skipped, notes) = if split == Split::Train {
        (listing.skipped, listing.notes)
    } else {
        (Vec::new(), Vec::new())
    };
    let chosen: Vec<Vec<PathBuf>> = match (listing.test, split) {
        (Some(_), Split::Train) => listing.train,
        (Some(test), Split::Test) => test,
        (None, _) => {
            if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
                return Err(DataError::Invalid(format!(
                    "data.folder.test_fraction = {}: without train/ and test/ subfolders a fraction strictly between 0 and 1 is needed",
                    options.test_fraction
                )));
            }
            if options.skip_unreadable {
                // Decode everything first, so that the test part is held out of readable images.
                let mut unreadable = Vec::new();
                let decoded = decode_classes(&listing.train, shape, true, &mut unreadable)?;
                // The held-out part depends only on the class sizes and the seed: the readable
                // files are held out exactly as their pixels are.
                let bad: HashSet<&Path> = unreadable.iter().map(|s| s.path.as_path()).collect();
                let readable: Vec<Vec<PathBuf>> = (listing.train.iter())
                    .map(|c| {
                        c.iter()
                            .filter(|p| !bad.contains(p.as_path()))
                            .cloned()
                            .collect()
                    })
                    .collect();
                let (train, test) = hold_out(&decoded, options.test_fraction, seed);
                check_held_out(root, &train, &test, options.test_fraction)?;
                let (files_train, files_test) = hold_out(&readable, options.test_fraction, seed);
                let (part, files) = match split {
                    Split::Train => (train, files_train),
                    Split::Test => (test, files_test),
                };
                if split == Split::Train {
                    skipped.extend(unreadable);
                }
                let mut read =
                    assemble(root, split, part, shape, listing.classes, (skipped, notes))?;
                read.cache = CacheStatus::Off(
                    "skip_unreadable without train/ and test/ folders decodes the whole folder first"
                        .into(),
                );
                return Ok((read, files));
            }
            let (train, test) = hold_out(&listing.train, options.test_fraction, seed);
            check_held_out(root, &train, &test, options.test_fraction)?;
            if split == Split::Train { train } else { test }
        }
    };
    if options.cache
        && let Some(dir) = crate::cache::cache_dir()
    {
        let read = read_cached(
            root,
            split,
            &chosen,
            options,
            listing.classes,
            &dir,
            (skipped, notes),
        )?;
        return Ok((read, chosen));
    }
    let decoded = decode_classes(&chosen, shape, options.skip_unreadable, &mut skipped)?;
    let mut read = assemble(
        root,
        split,
        decoded,
        shape,
        listing.classes,
        (skipped, notes),
    )?;
    read.cache = CacheStatus::Off(if options.cache {
        crate::cache::NO_CACHE_DIR.into()
    } else {
        "data.folder.cache = false".into()
    });
    Ok((read, chosen))
}

/// A training or test part held out of a folder without train/ and test/ that got no image at
/// all: `fraction` of every class rounded to none, or to all of it.
fn check_held_out<T>(root: &Path, train: &[Vec<T>], test: &[Vec<T>], fraction: f64) -> Result<()> {
    if train.iter().all(Vec::is_empty) {
        return Err(DataError::format(
            root,
            format!(
                "data.folder.test_fraction = {fraction} holds out every image of every class for the test split, leaving none to train on; lower it (0.2 is usual)"
            ),
        ));
    }
    if test.iter().any(|c| !c.is_empty()) {
        return Ok(());
    }
    let least = (0.5 / fraction).ceil() as usize;
    Err(DataError::format(
        root,
        format!(
            "no class has enough images to hold one out for the test split: with data.folder.test_fraction = {fraction} a class needs at least {least}; add images, raise test_fraction, or give train/ and test/ folders"
        ),
    ))
}

/// The error of a split without a readable image.
fn no_readable_images(root: &Path, split: Split) -> DataError {
    DataError::format(
        root,
        format!("no readable images in the {split:?} split").to_lowercase(),
    )
}

/// The label of each file of `chosen` (one list per class), in order.
fn labels_of(chosen: &[Vec<PathBuf>]) -> Vec<u16> {
    chosen
        .iter()
        .enumerate()
        .flat_map(|(class, files)| std::iter::repeat_n(class as u16, files.len()))
        .collect()
}

/// [`read_folder`]'s decoding through the decoded-image cache in `dir`: memory-maps a valid
/// cache of exactly these files, else decodes them and stores the result (when every file was
/// read).
fn read_cached(
    root: &Path,
    split: Split,
    chosen: &[Vec<PathBuf>],
    options: &FolderOptions,
    classes: Vec<String>,
    dir: &Path,
    (mut skipped, notes): (Vec<Skipped>, Vec<String>),
) -> Result<FolderSet> {
    use crate::cache::{Lookup, key, load, path};
    let shape = options.shape();
    let key = key(chosen, shape)?;
    let file = path(dir, &key);
    let n: usize = chosen.iter().map(Vec::len).sum();
    let stale = match load(&file, &key, shape, n) {
        Lookup::Hit(pixels) => {
            let labels = labels_of(chosen);
            if labels.is_empty() {
                return Err(no_readable_images(root, split));
            }
            return Ok(FolderSet {
                set: ImageSet::with_pixels(pixels, labels, shape, classes)?,
                skipped,
                notes,
                cache: CacheStatus::Used(file),
            });
        }
        Lookup::Missing => None,
        Lookup::Invalid(why) => Some(why),
    };
    let before = skipped.len();
    let streamed = decode_into_cache(
        chosen,
        shape,
        options.skip_unreadable,
        &mut skipped,
        Writer::create(dir, key, shape, &crate::cache::source(root, split)),
    )?;
    let whole = |skipped: &Vec<Skipped>| skipped.len() == before;
    let finished = streamed.and_then(|(writer, labels)| {
        let pixels = writer.finish(whole(&skipped).then_some(file.as_path()))?;
        Ok((pixels, labels))
    });
    let (pixels, labels) = match finished {
        Ok(read) => read,
        Err(e) => {
            return decode_in_memory(
                root,
                split,
                chosen,
                options,
                classes,
                e,
                (skipped, notes),
                before,
            );
        }
    };
    let status = match (whole(&skipped), stale) {
        (true, None) => CacheStatus::Built(file),
        (true, Some(why)) => CacheStatus::Rebuilt(file, why),
        (false, _) => CacheStatus::Off(
            "unreadable files were skipped; the cache holds whole folders only".into(),
        ),
    };
    if labels.is_empty() {
        return Err(no_readable_images(root, split));
    }
    Ok(FolderSet {
        set: ImageSet::with_pixels(pixels, labels, shape, classes)?,
        skipped,
        notes,
        cache: status,
    })
}

/// The cache could not be written (`error`): the images are decoded again into memory.
#[allow(clippy::too_many_arguments)]
fn decode_in_memory(
    root: &Path,
    split: Split,
    chosen: &[Vec<PathBuf>],
    options: &FolderOptions,
    classes: Vec<String>,
    error: DataError,
    (mut skipped, notes): (Vec<Skipped>, Vec<String>),
    before: usize,
) -> Result<FolderSet> {
    skipped.truncate(before);
    let decoded = decode_classes(
        chosen,
        options.shape(),
        options.skip_unreadable,
        &mut skipped,
    )?;
    let mut read = assemble(
        root,
        split,
        decoded,
        options.shape(),
        classes,
        (skipped, notes),
    )?;
    read.cache = CacheStatus::Unavailable(error.to_string());
    Ok(read)
}

/// Bytes of decoded images held at once while a cache file is written.
const DECODE_CHUNK_BYTES: usize = 64 << 20;

/// Decodes the files of each class a chunk at a time, appending each chunk to the cache file
/// being written, so that memory holds one chunk rather than the folder. Returns the writer
/// and the labels of the images written (undecodable files skipped with `skip`), or, as the
/// inner error, why the cache file could not be written.
///
/// Errors: an undecodable file without `skip`.
fn decode_into_cache(
    per_class: &[Vec<PathBuf>],
    shape: [usize; 3],
    skip: bool,
    skipped: &mut Vec<Skipped>,
    writer: Result<Writer>,
) -> Result<std::result::Result<(Writer, Vec<u16>), DataError>> {
    let mut writer = match writer {
        Ok(w) => w,
        Err(e) => return Ok(Err(e)),
    };
    let dim: usize = shape.iter().product();
    let files: Vec<(u16, &Path)> = per_class
        .iter()
        .enumerate()
        .flat_map(|(class, files)| files.iter().map(move |p| (class as u16, p.as_path())))
        .collect();
    let mut labels = Vec::with_capacity(files.len());
    let chunk = (DECODE_CHUNK_BYTES / dim).max(64);
    for part in files.chunks(chunk) {
        let paths: Vec<&Path> = part.iter().map(|&(_, p)| p).collect();
        for (result, &(class, path)) in decode_all(&paths, shape).into_iter().zip(part) {
            if let Some(pixels) = kept(result, path, skip, skipped)? {
                if let Err(e) = writer.push(&pixels) {
                    return Ok(Err(e));
                }
                labels.push(class);
            }
        }
    }
    Ok(Ok((writer, labels)))
}

/// One decoding result: the pixels, or None for a file skipped (`skip`, noted in `skipped`).
///
/// Errors: the file's error, without `skip`.
fn kept(
    result: Result<Vec<u8>>,
    path: &Path,
    skip: bool,
    skipped: &mut Vec<Skipped>,
) -> Result<Option<Vec<u8>>> {
    match result {
        Ok(px) => Ok(Some(px)),
        Err(e) if skip => {
            skipped.push(Skipped {
                path: path.to_path_buf(),
                reason: SkipReason::Unreadable(match e {
                    DataError::Format { message, .. } => message,
                    other => other.to_string(),
                }),
            });
            Ok(None)
        }
        Err(e) => Err(DataError::Invalid(format!(
            "{e} (set data.folder.skip_unreadable = true to skip such files)"
        ))),
    }
}

/// Decodes the files of each class; undecodable files are skipped (`skip`) or an error.
fn decode_classes(
    per_class: &[Vec<PathBuf>],
    shape: [usize; 3],
    skip: bool,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<Vec<Vec<u8>>>> {
    let paths: Vec<&Path> = per_class.iter().flatten().map(PathBuf::as_path).collect();
    let mut decoded = decode_all(&paths, shape).into_iter().zip(paths);
    let mut out = Vec::with_capacity(per_class.len());
    for files in per_class {
        let mut class = Vec::with_capacity(files.len());
        for (result, path) in decoded.by_ref().take(files.len()) {
            class.extend(kept(result, path, skip, skipped)?);
        }
        out.push(class);
    }
    Ok(out)
}

fn assemble(
    root: &Path,
    split: Split,
    per_class: Vec<Vec<Vec<u8>>>,
    shape: [usize; 3],
    classes: Vec<String>,
    (skipped, notes): (Vec<Skipped>, Vec<String>),
) -> Result<FolderSet> {
    let n: usize = per_class.iter().map(Vec::len).sum();
    let mut pixels = Vec::with_capacity(n * shape.iter().product::<usize>());
    let mut labels = Vec::with_capacity(n);
    for (class, images) in per_class.into_iter().enumerate() {
        for px in images {
            pixels.extend_from_slice(&px);
            labels.push(class as u16);
        }
    }
    if labels.is_empty() {
        return Err(no_readable_images(root, split));
    }
    Ok(FolderSet {
        set: ImageSet::new(pixels, labels, shape, classes)?,
        skipped,
        notes,
        cache: CacheStatus::Off(String::new()),
    })
}
