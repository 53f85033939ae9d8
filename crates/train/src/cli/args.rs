//! The command line's arguments (clap): the subcommands and their options.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::backend::Backend;
use crate::infer::export::ExportFormat;
use crate::infer::input::Preparation;
use crate::inspect::pictures::templates::TemplateScale;

#[derive(Parser, Debug)]
#[command(
    name = "linclass",
    version,
    about = "Train, evaluate and use linear image classifiers"
)]
pub(crate) struct Cli {
    /// Compute backend (among those compiled in; default: the first of cpu, ndarray, gpu).
    #[arg(long, global = true, value_enum)]
    pub(crate) backend: Option<Backend>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The experiment config (TOML) of a command: by position or with `--config`.
#[derive(clap::Args, Debug)]
pub(crate) struct ConfigPath {
    /// Experiment config (TOML); the same as --config.
    #[arg(value_name = "CONFIG", conflicts_with = "config")]
    file: Option<PathBuf>,
    /// Experiment config (TOML).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

const DEFAULT_CONFIG: &str = "configs/mnist.toml";

impl ConfigPath {
    /// The given config, looked for in the working directory, then (a relative path such as
    /// `configs/cifar10.toml`) in the source tree the binary was built from, so that the shipped
    /// configs work from any directory; the latter is said, except for the default.
    pub(crate) fn path(&self) -> PathBuf {
        let given = self.file.as_ref().unwrap_or(&self.config);
        let tree = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        if given.is_relative()
            && !given.exists()
            && let Ok(found) = tree.join(given).canonicalize()
        {
            if given != Path::new(DEFAULT_CONFIG) {
                eprintln!(
                    "note: {} is not in the working directory; reading the shipped {}",
                    given.display(),
                    found.display()
                );
            }
            return found;
        }
        given.clone()
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Train a model as a TOML config says; writes the run directory (`output.dir`).
    Train(TrainArgs),
    /// Evaluate a run's model on the test split of its dataset.
    Eval(EvalArgs),
    /// Classify image files (PNG, JPEG, BMP, WebP, GIF, TIFF, PNM, TGA, QOI) with a run's model.
    Predict(PredictArgs),
    /// Serve runs over HTTP: a page to draw on or drop a photo into that shows why each class
    /// got its score, and an inference API (KServe v2, predict and explain routes, /metrics).
    Serve(ServeArgs),
    /// Measure `serve` under load on 127.0.0.1: requests/s and latency per concurrency, and
    /// every answer counted with one bad request in ten.
    BenchServe(BenchServeArgs),
    /// Write the class templates (rows of W as images): a grid and one PNG per class.
    Templates(TemplatesArgs),
    /// Write a self-contained HTML report of a run (RUN/report.html).
    Report {
        /// The run directory (`output.dir` of the training).
        run: PathBuf,
    },
    /// Write a run's model for other tools: safetensors with `weight` [C, D] and `bias` [C]
    /// (PyTorch nn.Linear's names and layout) and the input's shape, normalization and classes
    /// as metadata.
    Export(ExportArgs),
    /// Train every combination of a grid of values; rank by validation accuracy.
    Sweep(SweepArgs),
    /// Compare autodiff gradients with finite differences for the configured loss.
    Gradcheck(GradcheckArgs),
    /// Download datasets and inspect what a config finds.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Measure seconds per epoch, inference images/s, load time and peak memory.
    Bench(BenchArgs),
    /// JPEG decoding speed into small targets, full vs reduced-size decoding (images/s, one
    /// thread).
    BenchDecode(BenchDecodeArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct TrainArgs {
    #[command(flatten)]
    pub(crate) config: ConfigPath,
    /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Print only the final summary, no per-epoch lines.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Continue an interrupted run from its last checkpoint (its own config is used).
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "file", "sets"])]
    pub(crate) resume: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct EvalArgs {
    /// The run directory (`output.dir` of the training).
    pub(crate) run: PathBuf,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct PredictArgs {
    /// The run directory (`output.dir` of the training).
    pub(crate) run: PathBuf,
    /// Image files to classify.
    #[arg(required = true)]
    pub(crate) images: Vec<PathBuf>,
    /// Invert the pixels first (dark strokes on a light background).
    #[arg(long)]
    pub(crate) invert: bool,
    /// How a picture becomes the model's input: `digit` prepares it as MNIST's digits were
    /// (inverted if its background is light, cropped, fitted into 20×20, centred by mass);
    /// `auto` does so for MNIST runs unless the picture already looks like MNIST's (28×28,
    /// light on dark).
    #[arg(long, value_enum, default_value_t)]
    pub(crate) prepare: Preparation,
    /// Write what the model saw (its input, enlarged) to this PNG file; with several images,
    /// one file each, numbered (FILE-1.png, FILE-2.png, …).
    #[arg(long, value_name = "FILE.png")]
    pub(crate) show_input: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Run directories to serve (`output.dir` of trainings), each named by its directory.
    #[arg(required = true)]
    pub(crate) runs: Vec<PathBuf>,
    /// Address to listen on, HOST:PORT or a port (on 127.0.0.1); 127.0.0.1 serves this
    /// machine only, 0.0.0.0 every network.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) addr: String,
    /// Largest request body in bytes (a larger one gets 413).
    #[arg(long, default_value_t = 8 << 20, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_body: u32,
    /// Longest a request may take in seconds (a longer one gets 408).
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub(crate) timeout: f64,
    /// Log every request on stderr.
    #[arg(long)]
    pub(crate) log: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BenchServeArgs {
    /// Run directories to serve (default: MNIST and CIFAR-10 on random pixels, trained for
    /// the purpose).
    pub(crate) runs: Vec<PathBuf>,
    /// Requests kept in flight, one measurement each.
    #[arg(long = "concurrency", default_values_t = [1usize, 8, 64])]
    pub(crate) concurrency: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    pub(crate) seconds: f64,
}

#[derive(clap::Args, Debug)]
pub(crate) struct TemplatesArgs {
    /// The run directory (`output.dir` of the training).
    pub(crate) run: PathBuf,
    /// Folder for the pictures (default: the run directory).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Colour scale: each template's own (per-class) or one for all (shared, to compare
    /// templates). Zero is always the neutral colour.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) scale: TemplateScale,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ExportArgs {
    /// The run directory (`output.dir` of the training).
    pub(crate) run: PathBuf,
    #[arg(long, value_enum, default_value = "safetensors")]
    pub(crate) format: ExportFormat,
    /// Output file (default: RUN/model.safetensors).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct SweepArgs {
    #[command(flatten)]
    pub(crate) config: ConfigPath,
    /// Values to try, e.g. --grid optimizer.lr=0.01,0.1 (repeatable).
    #[arg(long = "grid", value_name = "SECTION.KEY=V1,V2,...")]
    pub(crate) grid: Vec<String>,
    /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub(crate) sets: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct GradcheckArgs {
    #[command(flatten)]
    pub(crate) config: ConfigPath,
    /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Training images the loss is averaged over.
    #[arg(long, default_value_t = 8)]
    pub(crate) samples: usize,
    /// Weights compared (every bias is compared too).
    #[arg(long, default_value_t = 40)]
    pub(crate) weights: usize,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) config: ConfigPath,
    /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub(crate) sets: Vec<String>,
    /// Append the result to this CSV file.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// For CIFAR-10, imagenet32 or imagenet64 without their files: random pixels in the
    /// official layout (ImageNet's written into data.dir, and kept, when it is set).
    #[arg(long)]
    pub(crate) synthetic: bool,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BenchDecodeArgs {
    /// Folder of JPEG files (default: photo-sized JPEGs written for the purpose).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Target sizes (square), e.g. --size 32 --size 64.
    #[arg(long = "size", default_values_t = [32usize, 64])]
    pub(crate) sizes: Vec<usize>,
    /// Images to decode per size.
    #[arg(long, default_value_t = 100)]
    pub(crate) count: usize,
}

#[derive(Subcommand, Debug)]
pub(crate) enum DataCommand {
    /// Download a dataset's official files (checksums verified) into its folder.
    Fetch {
        /// mnist, fashion-mnist, cifar10 or cifar100.
        dataset: String,
        /// Target folder (default: data/<dataset>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// URL prefix tried before the official mirrors (repeatable).
        #[arg(long = "mirror")]
        mirrors: Vec<String>,
        /// Try only the --mirror addresses, not the official ones.
        #[arg(long, requires = "mirrors")]
        only_mirrors: bool,
    },
    /// List the decoded-image cache files (each folder version keeps its own), or remove them.
    Cache {
        /// Remove every cache file (they are rebuilt by the next read of their folder); other
        /// files in the cache folder are left alone.
        #[arg(long)]
        clear: bool,
    },
    /// Print what a config's data section finds: samples per split, classes, shape, paths.
    Info {
        #[command(flatten)]
        config: ConfigPath,
        /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
    },
}
