//! The one in-memory representation every reader fills: u8 pixels, labels and class names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, Result};

/// Where the pixels of an [`ImageSet`] live: in memory, or in a memory-mapped file (the
/// decoded-image cache), whose pages the operating system reads as batches touch them and may
/// drop again, so that a set larger than the memory can be used.
#[derive(Clone)]
pub enum Pixels {
    Owned(Vec<u8>),
    Mapped {
        map: Arc<memmap2::Mmap>,
        start: usize,
        len: usize,
    },
}

impl Pixels {
    /// `len` bytes of `map` from `start`.
    ///
    /// Panics if they are not inside the map.
    pub fn mapped(map: Arc<memmap2::Mmap>, start: usize, len: usize) -> Self {
        assert!(start + len <= map.len(), "pixels outside the map");
        Pixels::Mapped { map, start, len }
    }

    /// Whether the pixels are memory-mapped rather than held in memory.
    pub fn is_mapped(&self) -> bool {
        matches!(self, Pixels::Mapped { .. })
    }

    fn truncate(&mut self, n: usize) {
        match self {
            Pixels::Owned(v) => v.truncate(n),
            Pixels::Mapped { len, .. } => *len = (*len).min(n),
        }
    }
}

impl std::ops::Deref for Pixels {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Pixels::Owned(v) => v,
            Pixels::Mapped { map, start, len } => &map[*start..*start + *len],
        }
    }
}

impl std::fmt::Debug for Pixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_mapped() { "mapped" } else { "owned" };
        write!(f, "Pixels({kind}, {} bytes)", self.len())
    }
}

impl PartialEq for Pixels {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// A set of same-sized images kept as contiguous u8 pixels, N × C × H × W, channel-major per
/// image (all of channel 0, then channel 1, ...), with one label per image and, for sets read
/// from image files, the file each image came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSet {
    pixels: Pixels,
    labels: Vec<u16>,
    shape: [usize; 3],
    classes: Vec<String>,
    files: Option<Arc<[PathBuf]>>,
}

impl ImageSet {
    /// Builds a set, checking that pixels, labels and class names agree with each other.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u16>,
        shape: [usize; 3],
        classes: Vec<String>,
    ) -> Result<Self> {
        Self::with_pixels(Pixels::Owned(pixels), labels, shape, classes)
    }

    /// [`ImageSet::new`] over pixels held anywhere (memory-mapped ones included).
    pub fn with_pixels(
        pixels: Pixels,
        labels: Vec<u16>,
        shape: [usize; 3],
        classes: Vec<String>,
    ) -> Result<Self> {
        let dim: usize = shape.iter().product();
        if dim == 0 {
            return Err(DataError::Invalid(format!(
                "image shape {shape:?} has a zero dimension"
            )));
        }
        if pixels.len() != labels.len() * dim {
            return Err(DataError::Invalid(format!(
                "{} pixel bytes do not make {} images of shape {shape:?}",
                pixels.len(),
                labels.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= classes.len()) {
            return Err(DataError::Invalid(format!(
                "label {bad} is out of range for {} classes",
                classes.len()
            )));
        }
        Ok(Self {
            pixels,
            labels,
            shape,
            classes,
            files: None,
        })
    }

    /// The set, knowing the file each image was read from (one path per image, in order).
    ///
    /// Errors: not one path per image.
    pub fn with_files(mut self, files: Vec<PathBuf>) -> Result<Self> {
        if files.len() != self.len() {
            return Err(DataError::Invalid(format!(
                "{} file paths for {} images",
                files.len(),
                self.len()
            )));
        }
        self.files = Some(files.into());
        Ok(self)
    }

    /// The file image `index` was read from, for sets read from image files.
    pub fn file(&self, index: usize) -> Option<&Path> {
        self.files.as_ref().map(|f| f[index].as_path())
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// [channels, height, width] of every image.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Values per image: channels × height × width.
    pub fn dim(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    pub fn labels(&self) -> &[u16] {
        &self.labels
    }

    pub fn label(&self, index: usize) -> usize {
        self.labels[index] as usize
    }

    /// Every image's pixels, one after the other (N × C × H × W).
    pub fn all_pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Whether the pixels are memory-mapped (read from the decoded-image cache).
    pub fn is_mapped(&self) -> bool {
        self.pixels.is_mapped()
    }

    /// The pixels of image `index`, channel-major.
    pub fn image(&self, index: usize) -> &[u8] {
        let dim = self.dim();
        &self.pixels[index * dim..(index + 1) * dim]
    }

    /// Asks the CPU to start loading image `index` into its caches. Batches visit images in a
    /// shuffled order, so without this each image is a run of cache and TLB misses; a few
    /// images ahead, the loads overlap with the work on the current one.
    #[inline]
    pub fn prefetch(&self, index: usize) {
        #[cfg(target_arch = "x86_64")]
        for line in self.image(index).chunks(64) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch is only a hint; the address lies inside the pixel buffer.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = index;
    }

    /// A new set holding the first `n` images (all of them if `n` is larger).
    pub fn truncated(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.dim());
        self.labels.truncate(n);
        if let Some(files) = &mut self.files {
            *files = files[..n].into();
        }
        self
    }

    /// A new set of at most `n` images drawn evenly from every class (seeded; images keep their
    /// order): a small sample of a set stored class by class, as image folders are, where the
    /// first `n` images would all be of the first classes.
    pub fn sampled_evenly(&self, n: usize, seed: u64) -> Self {
        if n >= self.len() {
            return self.clone();
        }
        let classes = self.classes.len().max(1);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
        for (i, &l) in self.labels.iter().enumerate() {
            by_class[l as usize].push(i);
        }
        let mut rng = crate::split::SplitMix64::new(seed ^ 0x5a3b_1e07);
        for v in &mut by_class {
            rng.shuffle(v);
        }
        // Round-robin over the classes until n are taken, so small classes give all they have.
        let mut picked = Vec::with_capacity(n);
        let mut round = 0;
        while picked.len() < n {
            let before = picked.len();
            for v in &by_class {
                if picked.len() < n && round < v.len() {
                    picked.push(v[round]);
                }
            }
            if picked.len() == before {
                break;
            }
            round += 1;
        }
        picked.sort_unstable();
        let dim = self.dim();
        let mut pixels = Vec::with_capacity(picked.len() * dim);
        for &i in &picked {
            pixels.extend_from_slice(self.image(i));
        }
        let labels = picked.iter().map(|&i| self.labels[i]).collect();
        let files = self
            .files
            .as_ref()
            .map(|f| picked.iter().map(|&i| f[i].clone()).collect());
        Self {
            pixels: Pixels::Owned(pixels),
            labels,
            shape: self.shape,
            classes: self.classes.clone(),
            files,
        }
    }

    /// A 64-bit XXH3 digest of the labels, the pixels, the shape and the class names, as 16
    /// hex digits: any change to an image or a label changes it (with probability 1 − 2⁻⁶⁴).
    /// Reads every pixel once (about 10 GB/s).
    pub fn fingerprint(&self) -> String {
        use xxhash_rust::xxh3::Xxh3;
        let mut h = Xxh3::new();
        for d in self.shape {
            h.update(&(d as u64).to_le_bytes());
        }
        for name in &self.classes {
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
        h.update(&(self.labels.len() as u64).to_le_bytes());
        let labels: Vec<u8> = self.labels.iter().flat_map(|l| l.to_le_bytes()).collect();
        h.update(&labels);
        h.update(self.all_pixels());
        format!("{:016x}", h.digest())
    }

    /// Number of images of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}
