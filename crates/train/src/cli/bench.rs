//! `bench`: seconds per training epoch (median), inference throughput, data loading time and
//! peak memory, on the configured dataset, printed as one `BENCH` line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use burn::prelude::*;
use linclass_data::folder::CacheStatus;
use linclass_data::mnist::Split;
use linclass_data::{ImageBatcher, ImageSet, Normalization};
use linclass_model::LinearClassifier;

use crate::backend::Backend;
use crate::cli::args::{BenchArgs, BenchDecodeArgs};
use crate::cli::terminal::{DownloadBar, Terminal};
use crate::config::ExperimentConfig;
use crate::datasets::{open_split_cached, open_training};
use crate::fit::train::train;
use crate::logits::logits;
use linclass_data::synthetic::photo_jpeg;

/// Peak resident set size of this process in MB (Linux), or 0 where unknown.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// This process's anonymous resident memory (heap, stacks: not file pages such as a
/// memory-mapped cache) in MB (Linux `RssAnon`), if known.
pub(crate) fn anon_rss_mb() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
        })
}

/// The highest [`anon_rss_mb`] seen while it runs (sampled every 10 ms on its own thread):
/// Linux keeps a peak of the whole resident set (`VmHWM`) but none of its anonymous part.
pub(crate) struct AnonPeak {
    stop: Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<f64>,
}

impl AnonPeak {
    pub(crate) fn start() -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0f64;
            loop {
                peak = peak.max(anon_rss_mb().unwrap_or(0.0));
                if flag.load(Ordering::Relaxed) {
                    return peak;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        });
        Self { stop, sampler }
    }

    /// The peak in MB (0 where unknown).
    pub(crate) fn finish(self) -> f64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap_or(0.0)
    }
}

/// One benchmark result. Time: `epoch_s` is a whole epoch (training pass, validation pass,
/// checkpoint), `train_img_s` the training images over the training pass alone, as a bare
/// training loop (the NumPy and PyTorch references) measures it; both the median of the
/// epochs after the first. Memory: `peak_rss_mb` is the whole resident set's peak (pages of a
/// memory-mapped cache included), `anon_peak_mb` the process's own memory (model, optimizer,
/// batches; pixels read into memory, but not mapped ones), `data_mb` the training split's
/// pixels as u8.
pub(crate) struct BenchLine {
    pub backend: String,
    pub dataset: String,
    /// `train.gradient`: analytic or autodiff.
    pub gradient: String,
    /// `train.batch_size`: a number or `full`.
    pub batch: String,
    pub epoch_s: f64,
    pub train_img_s: f64,
    pub infer_img_s: f64,
    pub load_s: f64,
    pub peak_rss_mb: f64,
    pub anon_peak_mb: f64,
    pub data_mb: f64,
    pub mapped: bool,
}

impl BenchLine {
    pub(crate) fn line(&self) -> String {
        format!(
            "BENCH backend={} dataset={} gradient={} batch={} epoch_s={:.4} train_img_s={:.0} infer_img_s={:.0} load_s={:.3} peak_rss_mb={:.1} anon_peak_mb={:.1} data_mb={:.1} mapped={}",
            self.backend,
            self.dataset,
            self.gradient,
            self.batch,
            self.epoch_s,
            self.train_img_s,
            self.infer_img_s,
            self.load_s,
            self.peak_rss_mb,
            self.anon_peak_mb,
            self.data_mb,
            self.mapped
        )
    }

    pub(crate) const CSV_HEADER: &'static str = "backend,dataset,gradient,batch,epoch_s,train_img_s,infer_img_s,load_s,peak_rss_mb,anon_peak_mb,data_mb,mapped";

    pub(crate) fn csv_row(&self) -> String {
        format!(
            "{},{},{},{},{:.4},{:.0},{:.0},{:.3},{:.1},{:.1},{:.1},{}",
            self.backend,
            self.dataset,
            self.gradient,
            self.batch,
            self.epoch_s,
            self.train_img_s,
            self.infer_img_s,
            self.load_s,
            self.peak_rss_mb,
            self.anon_peak_mb,
            self.data_mb,
            self.mapped
        )
    }
}

/// Training images per archive of the synthetic downsampled ImageNet (ten archives: 20 per
/// class), and validation images.
pub(crate) const SYNTHETIC_IMAGENET_PER_ARCHIVE: usize = 2_000;
pub(crate) const SYNTHETIC_IMAGENET_VAL: usize = 2_000;
/// The file that marks a folder of archives as [`synthetic_imagenet`]'s (written last).
pub(crate) const SYNTHETIC_MARK: &str = "SYNTHETIC.txt";

/// Writes a downsampled-ImageNet folder of random pixels at `size` (the official archive
/// names and format, 1000 classes, [`SYNTHETIC_IMAGENET_PER_ARCHIVE`] images per training
/// archive) in `dir`, for benchmarking 1000 classes where the real archives are absent.
pub(crate) fn synthetic_imagenet(dir: &Path, size: usize) -> Result<()> {
    use npyz::WriterBuilder;
    std::fs::create_dir_all(dir)?;
    let dim = 3 * size * size;
    let mut rng = linclass_data::split::SplitMix64::new(11);
    let files = linclass_data::downsampled::TRAIN_FILES
        .iter()
        .map(|f| (f, SYNTHETIC_IMAGENET_PER_ARCHIVE))
        .chain([(
            &linclass_data::downsampled::VAL_FILE,
            SYNTHETIC_IMAGENET_VAL,
        )]);
    for (k, (name, n)) in files.enumerate() {
        let mut pixels = vec![0u8; n * dim];
        for chunk in pixels.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        // Every class in every archive, 1…1000.
        let labels: Vec<i64> = (0..n).map(|i| 1 + ((i + k) % 1000) as i64).collect();
        // Written under a temporary name: an interrupted run leaves no archive that looks whole.
        let tmp = dir.join(format!(".{name}.partial"));
        let mut npz = npyz::npz::NpzWriter::create(&tmp)?;
        let mut w = npz
            .array::<u8>("data", Default::default())?
            .default_dtype()
            .shape(&[n as u64, dim as u64])
            .begin_nd()?;
        w.extend(pixels.iter().copied())?;
        w.finish()?;
        let mut w = npz
            .array::<i64>("labels", Default::default())?
            .default_dtype()
            .shape(&[n as u64])
            .begin_nd()?;
        w.extend(labels.iter().copied())?;
        w.finish()?;
        drop(npz);
        std::fs::rename(&tmp, dir.join(name))?;
    }
    std::fs::write(
        dir.join(SYNTHETIC_MARK),
        "Random pixels and labels in downsampled ImageNet's format, written by `linclass bench --synthetic`.\n",
    )?;
    Ok(())
}

/// Writes a CIFAR-10 binary folder of random pixels (the official layout and sizes: 5 × 10,000
/// training and 10,000 test records) under `root`, for benchmarking where the real files are
/// absent.
pub(crate) fn synthetic_cifar10(root: &Path) -> Result<()> {
    let dir = root.join(linclass_data::cifar::CIFAR10_DIR);
    std::fs::create_dir_all(&dir)?;
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(dir.join("batches.meta.txt"), names)?;
    let mut rng = linclass_data::split::SplitMix64::new(7);
    for name in linclass_data::cifar::cifar10_files(Split::Train)
        .into_iter()
        .chain(linclass_data::cifar::cifar10_files(Split::Test))
    {
        let mut bytes = vec![0u8; 10_000 * 3073];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        for record in bytes.chunks_exact_mut(3073) {
            record[0] %= 10;
        }
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

/// `bench`: measures a training run of the config and prints its `BENCH` line.
pub(crate) fn bench(args: BenchArgs, backend: Backend) -> Result<()> {
    let config = ExperimentConfig::load(&args.config.path(), &args.sets)?;
    let line = run(&config, backend, args.csv.as_deref(), args.synthetic)?;
    crate::say!("{}", line.line());
    Ok(())
}

/// `bench-decode`: JPEG decoding speed, one `BENCH` line per size.
pub(crate) fn bench_decode(args: BenchDecodeArgs) -> Result<()> {
    for line in decode_bench(args.dir.as_deref(), &args.sizes, args.count)? {
        crate::say!("{line}");
    }
    Ok(())
}

/// Trains `config` (into a temporary run directory) and measures. With `synthetic`, a
/// CIFAR-10 config whose files are missing runs on random pixels in the official layout.
fn run(
    config: &ExperimentConfig,
    backend: Backend,
    csv: Option<&Path>,
    synthetic: bool,
) -> Result<BenchLine> {
    let device = backend.device()?;
    let tmp = tempfile::tempdir()?;
    let (mut config, dataset, stand_in) = with_stand_in(config, tmp.path(), synthetic)?;
    let started = Instant::now();
    let mut bar = DownloadBar::default();
    let (data, seed) = (&config.data, config.train.seed);
    let (set, caches) = open_split_cached(data, seed, Split::Train, &mut bar)?;
    let (mapped, data_mb) = (
        set.is_mapped(),
        set.all_pixels().len() as f64 / (1 << 20) as f64,
    );
    drop(set);
    let training = open_training(data, seed, &mut bar)?;
    let load_s = started.elapsed().as_secs_f64();
    let (normalization, images) = (training.normalization.clone(), training.split.train.len());
    drop(training);

    config.output.dir = tmp.path().join("run");
    // The bench measures epochs; a refit would add an unmeasured second training.
    config.train.refit = false;
    let anon = AnonPeak::start();
    let trained = train(&config, backend, Arc::new(Terminal::new(true)))?;
    // The first epoch pays for warm-up; the median of the rest is the steady state.
    let steady = |times: Vec<f64>| match times.get(1..) {
        Some(rest) if !rest.is_empty() => median(rest.to_vec()),
        _ => median(times),
    };
    let epoch_s = steady(trained.epochs.iter().map(|e| e.seconds).collect());
    let train_pass_s = steady(trained.train_pass_seconds.clone());
    let (test, test_cache) = open_split_cached(&config.data, seed, Split::Test, &mut bar)?;
    let infer_img_s = inference_rate(&trained.model, test, &normalization, &device);
    let anon_peak_mb = anon.finish();
    // Cache files of a synthetic set would only fill the user's cache folder.
    if stand_in {
        for status in [caches, test_cache].into_iter().flatten() {
            if let CacheStatus::Built(f) | CacheStatus::Rebuilt(f, _) | CacheStatus::Used(f) =
                status
            {
                let _ = std::fs::remove_file(f);
            }
        }
    }
    let gradient = toml::Value::try_from(config.train.gradient)?;
    let line = BenchLine {
        backend: backend.name().to_string(),
        dataset,
        gradient: gradient.as_str().unwrap_or_default().to_string(),
        batch: config.train.batch_size.to_string(),
        epoch_s,
        train_img_s: images as f64 / train_pass_s,
        infer_img_s,
        load_s,
        peak_rss_mb: peak_rss_mb(),
        anon_peak_mb,
        data_mb,
        mapped,
    };
    if let Some(csv) = csv {
        append_csv(csv, &line)?;
    }
    Ok(line)
}

/// The config to measure and its dataset's name: with `synthetic`, a CIFAR-10 or downsampled
/// ImageNet config whose files are missing reads random pixels in the official layout
/// (written into `tmp`, or where `data.dir` says for ImageNet). The flag says whether it does.
fn with_stand_in(
    config: &ExperimentConfig,
    tmp: &Path,
    synthetic: bool,
) -> Result<(ExperimentConfig, String, bool)> {
    use linclass_data::DatasetKind::{self, Cifar10, Imagenet32, Imagenet64};
    let mut config = config.clone();
    let mut dataset = config.data.source.name().to_string();
    if synthetic && !matches!(config.data.source, Cifar10 | Imagenet32 | Imagenet64) {
        anyhow::bail!(
            "bench --synthetic: only cifar10, imagenet32 and imagenet64 have synthetic stand-ins, not {}",
            config.data.source.name()
        );
    }
    let source = crate::datasets::source(&config.data, config.train.seed);
    let marked = Path::new(&config.data.dir).join(SYNTHETIC_MARK).exists();
    let missing = !source.missing_in(&source.resolved_dir()).is_empty() || marked;
    if !(synthetic && missing) {
        return Ok((config, dataset, false));
    }
    if config.data.source == Cifar10 {
        synthetic_cifar10(tmp)?;
        config.data.dir = tmp.display().to_string();
    } else {
        // Written where data.dir says (kept for `just bench-ref` to read the same archives).
        let kind = config.data.source;
        let dir = if config.data.dir.is_empty() {
            tmp.join(kind.name())
        } else {
            PathBuf::from(&config.data.dir)
        };
        let size = if kind == DatasetKind::Imagenet32 {
            32
        } else {
            64
        };
        if !dir.join(SYNTHETIC_MARK).exists() {
            synthetic_imagenet(&dir, size)?;
        }
        config.data.dir = dir.display().to_string();
    }
    dataset.push_str("-synthetic");
    Ok((config, dataset, true))
}

/// Images per second the model scores over the test set: five rounds after a warm-up.
fn inference_rate(
    model: &LinearClassifier,
    test: ImageSet,
    normalization: &Normalization,
    device: &Device,
) -> f64 {
    let test = Arc::new(test);
    let batcher = ImageBatcher::new(test.clone(), normalization);
    let indices: Vec<usize> = (0..test.len()).collect();
    let _ = logits(model, &batcher, &indices, device);
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(logits(model, &batcher, &indices, device));
    }
    (rounds * test.len()) as f64 / started.elapsed().as_secs_f64()
}

/// Appends `line` to the CSV file `csv`; a file from a version with other columns is moved
/// aside, not appended to.
fn append_csv(csv: &Path, line: &BenchLine) -> Result<()> {
    use std::io::Write;
    let header = std::fs::read_to_string(csv)
        .ok()
        .and_then(|t| t.lines().next().map(str::to_string));
    if header.as_ref().is_some_and(|h| h != BenchLine::CSV_HEADER) {
        let mut aside = csv.as_os_str().to_owned();
        aside.push(".old-columns");
        std::fs::rename(csv, &aside)?;
        eprintln!(
            "{} had other columns: moved to {}",
            csv.display(),
            Path::new(&aside).display()
        );
    }
    let new = !csv.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(csv)?;
    if new {
        writeln!(f, "{}", BenchLine::CSV_HEADER)?;
    }
    writeln!(f, "{}", line.csv_row())?;
    Ok(())
}

/// A decoding function of `linclass_data::decode`.
type Decoder = dyn Fn(&[u8], [usize; 3], &Path) -> linclass_data::Result<Vec<u8>>;

/// JPEG decoding speed into a small target: images/s of the `image` crate's decoder and of
/// libjpeg at full size (every pixel, then resized) and of the reduced-size decoder
/// (`decode_jpeg_reduced`), one thread, over the JPEG
/// files of `dir`, or over `count` photo-sized JPEGs (1600×1200, textured) written for the
/// purpose. One `BENCH` line per target size.
fn decode_bench(dir: Option<&Path>, sizes: &[usize], count: usize) -> Result<Vec<String>> {
    use linclass_data::decode::{decode_bytes, decode_bytes_full};
    if count == 0 || sizes.contains(&0) {
        anyhow::bail!("bench-decode: --count and every --size must be at least 1");
    }
    let files = match dir {
        Some(dir) => jpeg_files(dir, count)?,
        None => (0..count)
            .map(|i| {
                (
                    format!("photo-{i}.jpg").into(),
                    photo_jpeg(i as u32, 1600, 1200),
                )
            })
            .collect(),
    };
    let source = dir.map_or_else(
        || format!("synthetic-1600x1200x{}", files.len()),
        |d| format!("{}x{}", d.display(), files.len()),
    );
    let mut lines = Vec::new();
    for &size in sizes {
        let shape = [3, size, size];
        // Best of three passes after one unmeasured warm-up: the least disturbed by other work.
        let rate = |decode: &Decoder| {
            let mut best = 0f64;
            for pass in 0..4 {
                let start = Instant::now();
                for (path, bytes) in &files {
                    decode(bytes, shape, path)?;
                }
                if pass > 0 {
                    best = best.max(files.len() as f64 / start.elapsed().as_secs_f64());
                }
            }
            Ok::<f64, anyhow::Error>(best)
        };
        // The `image` crate's own JPEG decoder (zune-jpeg, every pixel), for reference: fast,
        // but it fills corrupt data in where libjpeg refuses it.
        let image_crate = |bytes: &[u8], shape: [usize; 3], path: &Path| {
            let img = image::load_from_memory(bytes)
                .map_err(|e| linclass_data::DataError::format(path, e.to_string()))?;
            Ok(linclass_data::decode::convert_image(&img, shape))
        };
        let zune = rate(&image_crate)?;
        let full = rate(&decode_bytes_full)?;
        let reduced = rate(&decode_bytes)?;
        lines.push(format!(
            "BENCH decode source={source} size={size} image_crate_img_s={zune:.1} full_img_s={full:.1} reduced_img_s={reduced:.1} speedup={:.2} speedup_vs_image_crate={:.2}",
            reduced / full,
            reduced / zune
        ));
    }
    Ok(lines)
}

/// The first `count` JPEG files under `dir` (subfolders included), in name order, read.
fn jpeg_files(dir: &Path, count: usize) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut paths = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .map_err(|e| anyhow::anyhow!("{}: cannot list ({e})", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            if path.is_dir() {
                pending.push(path);
            } else if matches!(ext.as_str(), "jpg" | "jpeg" | "jpe" | "jfif") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths.truncate(count);
    if paths.is_empty() {
        anyhow::bail!("{}: no .jpg/.jpeg files", dir.display());
    }
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p)?;
            Ok((p, bytes))
        })
        .collect()
}
