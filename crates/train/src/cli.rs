//! The command line: `train`, `eval`, `predict`, `bench`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use linclass_data::mnist::Split;

use crate::backend::Backend;
use crate::classifier::Classifier;
use crate::config::ExperimentConfig;
use crate::datasets::open_split;
use crate::eval::evaluate;
use crate::predict::predict;
use crate::runfiles::RunDir;

#[derive(Parser, Debug)]
#[command(
    name = "linclass",
    version,
    about = "Train, evaluate and use linear image classifiers"
)]
struct Cli {
    /// Compute backend (among those compiled in; default: the first of cpu, ndarray, gpu).
    #[arg(long, global = true, value_enum)]
    backend: Option<Backend>,

    #[command(subcommand)]
    command: Command,
}

/// The experiment config (TOML) of a command: by position or with `--config`.
#[derive(clap::Args, Debug)]
struct ConfigPath {
    /// Experiment config (TOML); the same as --config.
    #[arg(value_name = "CONFIG", conflicts_with = "config")]
    file: Option<PathBuf>,
    /// Experiment config (TOML).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

const DEFAULT_CONFIG: &str = "configs/mnist.toml";

impl ConfigPath {
    /// The given config; the default one is looked for in the working directory, then in the
    /// source tree (so that the binary works from any directory).
    fn path(&self) -> PathBuf {
        if let Some(file) = &self.file {
            return file.clone();
        }
        let tree = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        if self.config == Path::new(DEFAULT_CONFIG)
            && !self.config.exists()
            && let Ok(found) = tree.join(DEFAULT_CONFIG).canonicalize()
        {
            return found;
        }
        self.config.clone()
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model as a TOML config says; writes the run directory (`output.dir`).
    Train {
        #[command(flatten)]
        config: ConfigPath,
        /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
        /// Print only the final summary, no per-epoch lines.
        #[arg(long)]
        quiet: bool,
        /// Continue an interrupted run from its last checkpoint (its own config is used).
        #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "file", "sets"])]
        resume: Option<PathBuf>,
    },
    /// Evaluate a run's model on the test split of its dataset.
    Eval {
        run: PathBuf,
        /// Print one JSON object instead of the report.
        #[arg(long)]
        json: bool,
    },
    /// Classify image files (PNG, JPEG, BMP, WebP, GIF, TIFF, PNM, TGA, QOI) with a run's model.
    Predict {
        run: PathBuf,
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Invert the pixels first (dark strokes on a light background).
        #[arg(long)]
        invert: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the class templates (rows of W as images): a grid and one PNG per class.
    Templates {
        run: PathBuf,
        /// Folder for the pictures (default: the run directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Colour scale: each template's own (per-class) or one for all (shared, to compare
        /// templates). Zero is always the neutral colour.
        #[arg(long, value_enum, default_value_t)]
        scale: crate::pictures::templates::TemplateScale,
    },
    /// Write a self-contained HTML report of a run (RUN/report.html).
    Report { run: PathBuf },
    /// Write a run's model for other tools: safetensors with `weight` [C, D] and `bias` [C]
    /// (PyTorch nn.Linear's names and layout) and the input's shape, normalization and classes
    /// as metadata.
    Export {
        run: PathBuf,
        #[arg(long, value_enum, default_value = "safetensors")]
        format: crate::export::ExportFormat,
        /// Output file (default: RUN/model.safetensors).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Train every combination of a grid of values; rank by validation accuracy.
    Sweep {
        #[command(flatten)]
        config: ConfigPath,
        /// Values to try, e.g. --grid optimizer.lr=0.01,0.1 (repeatable).
        #[arg(long = "grid", value_name = "SECTION.KEY=V1,V2,...")]
        grid: Vec<String>,
        /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Compare autodiff gradients with finite differences for the configured loss.
    Gradcheck {
        #[command(flatten)]
        config: ConfigPath,
        /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
        /// Training images the loss is averaged over.
        #[arg(long, default_value_t = 8)]
        samples: usize,
        /// Weights compared (every bias is compared too).
        #[arg(long, default_value_t = 40)]
        weights: usize,
    },
    /// Download datasets and inspect what a config finds.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Measure seconds per epoch, inference images/s, load time and peak memory.
    Bench {
        #[command(flatten)]
        config: ConfigPath,
        /// Override a config key, e.g. --set optimizer.lr=0.05 (repeatable).
        #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
        sets: Vec<String>,
        /// Append the result to this CSV file.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// For CIFAR-10, imagenet32 or imagenet64 without their files: random pixels in the
        /// official layout (ImageNet's written into data.dir, and kept, when it is set).
        #[arg(long)]
        synthetic: bool,
    },
    /// JPEG decoding speed into small targets, full vs reduced-size decoding (images/s, one
    /// thread).
    BenchDecode {
        /// Folder of JPEG files (default: photo-sized JPEGs written for the purpose).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Target sizes (square), e.g. --size 32 --size 64.
        #[arg(long = "size", default_values_t = [32usize, 64])]
        sizes: Vec<usize>,
        /// Images to decode per size.
        #[arg(long, default_value_t = 100)]
        count: usize,
    },
}

#[derive(Subcommand, Debug)]
enum DataCommand {
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

/// Runs the CLI; errors are printed as one line and give a non-zero exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            if e.is::<crate::training::Interrupted>() {
                ExitCode::from(130)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let backend = cli.backend.unwrap_or_else(Backend::default_compiled);
    match cli.command {
        Command::Train {
            config,
            sets,
            quiet,
            resume,
        } => {
            let result = match resume {
                Some(run) => crate::training::resume(&run, backend, quiet),
                None => {
                    let config = ExperimentConfig::load(&config.path(), &sets)?;
                    crate::training::train(&config, backend, quiet)
                }
            };
            let trained = match result {
                Ok(trained) => trained,
                Err(e) => {
                    // An interrupted run is usable as it is: it gets its curves too.
                    if let Some(stop) = e.downcast_ref::<crate::training::Interrupted>()
                        && stop.resumable
                    {
                        let run = RunDir::new(&stop.run);
                        if let Ok(info) = run.load_info()
                            && let Err(curves) = crate::visuals::write_curves(&run, &info)
                        {
                            eprintln!("warning: {curves:#}");
                        }
                    }
                    return Err(e);
                }
            };
            crate::visuals::write_curves(&trained.run, &trained.info)?;
            let kept = trained
                .epochs
                .iter()
                .find(|e| Some(e.epoch) == trained.kept);
            let total: f64 = trained.epochs.iter().map(|e| e.seconds).sum();
            let rule = match trained.info.config.train.keep {
                crate::config::Keep::Best => "lowest validation loss",
                crate::config::Keep::Last => "the last",
            };
            match kept {
                Some(e) => crate::say!(
                    "done: {} epoch{} in {:.1} s; kept epoch {} ({rule}): valid accuracy {:.2}% (top-{} {:.2}%); run saved to {}",
                    trained.epochs.len(),
                    if trained.epochs.len() == 1 { "" } else { "s" },
                    total,
                    e.epoch,
                    100.0 * e.valid.accuracy,
                    crate::training::top_k(trained.info.classes.len()),
                    100.0 * e.valid.top5,
                    trained.run.path.display()
                ),
                None => crate::say!("run saved to {}", trained.run.path.display()),
            }
            if let Some(r) = &trained.info.refit {
                crate::say!(
                    "refit: model.bpk is now trained on all {} images for {} epoch{} in {:.1} s (last epoch: train loss {:.4}, acc {:.2}%); the validation figures above are the first fit's",
                    r.images,
                    r.epochs,
                    if r.epochs == 1 { "" } else { "s" },
                    r.seconds,
                    r.train_loss,
                    100.0 * r.train_accuracy
                );
            }
            Ok(())
        }
        Command::Eval { run, json } => {
            let run = RunDir::new(run);
            let info = run.load_info()?;
            let device = backend.device()?;
            let model = run.load_model(&info, &device)?;
            let test = open_split(&info.config.data, info.config.train.seed, Split::Test)?;
            check_fits(&info, &test)?;
            let mut evaluation = evaluate(&model, Arc::new(test), &info.normalization, &device);
            evaluation.trained_with = Some(info.config.train.loss);
            evaluation.refit = info.refit.clone();
            let picture = match crate::visuals::write_confusion(&run, &evaluation) {
                Ok(written) => written.map(|(path, _)| path),
                Err(e) => {
                    eprintln!("warning: {e:#}");
                    None
                }
            };
            if json {
                crate::say!("{}", serde_json::to_string(&evaluation)?);
            } else {
                {
                    use std::io::Write as _;
                    let _ = write!(std::io::stdout(), "{}", evaluation.render());
                }
                match picture {
                    Some(path) => crate::say!("\nconfusion matrix picture: {}", path.display()),
                    None if evaluation.classes.len() > crate::visuals::MANY_CLASSES => crate::say!(
                        "\n{} classes: no confusion matrix picture (the most confused pairs are above)",
                        evaluation.classes.len()
                    ),
                    None => {}
                }
            }
            Ok(())
        }
        Command::Predict {
            run,
            images,
            invert,
            json,
        } => {
            let device = backend.device()?;
            let classifier = Classifier::load(&run, &device)?.inverted(invert);
            let predictions = predict(&classifier, &images)?;
            if json {
                crate::say!("{}", serde_json::to_string(&predictions)?);
            } else {
                for p in predictions.iter().filter(|p| p.error.is_none()) {
                    crate::say!("{}", p.file.display());
                    for (rank, r) in p.top.iter().enumerate() {
                        crate::say!(
                            "  {}. {:<12} {:6.2}%",
                            rank + 1,
                            r.class,
                            100.0 * r.probability
                        );
                    }
                }
            }
            // The files that could not be read, after the others' results: one error line.
            let failed: Vec<&String> = predictions
                .iter()
                .filter_map(|p| p.error.as_ref())
                .collect();
            match failed[..] {
                [] => Ok(()),
                [one] => Err(anyhow::anyhow!("{one}")),
                _ => Err(anyhow::anyhow!(
                    "{} of {} files could not be classified: {}",
                    failed.len(),
                    predictions.len(),
                    failed
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        }
        Command::Templates { run, out, scale } => {
            let run = RunDir::new(run);
            let info = run.load_info()?;
            let device = backend.device()?;
            let model = run.load_model(&info, &device)?;
            let out = out.unwrap_or_else(|| run.path.clone());
            let (grid, each) = crate::visuals::write_templates(&out, &model, &info.classes, scale)?;
            crate::say!(
                "wrote {} and {} class templates in {}",
                grid.display(),
                each.len(),
                out.join(crate::visuals::TEMPLATES_DIR).display()
            );
            Ok(())
        }
        Command::Export { run, format, out } => {
            let run = RunDir::new(run);
            let info = run.load_info()?;
            let device = backend.device()?;
            let model = run.load_model(&info, &device)?;
            let out = out.unwrap_or_else(|| crate::export::default_path(&run, format));
            crate::export::export(&model, &info, format, &out)?;
            crate::say!(
                "wrote {} (weight [{}, {}], bias, input {:?}, {} classes)",
                out.display(),
                model.num_classes(),
                model.input_shape().iter().product::<usize>(),
                info.model.input_shape,
                info.classes.len()
            );
            Ok(())
        }
        Command::Report { run } => {
            let run = RunDir::new(run);
            let info = run.load_info()?;
            let device = backend.device()?;
            let model = run.load_model(&info, &device)?;
            let test = Arc::new(open_split(
                &info.config.data,
                info.config.train.seed,
                Split::Test,
            )?);
            check_fits(&info, &test)?;
            let evaluation = evaluate(&model, test.clone(), &info.normalization, &device);
            let path = crate::visuals::write_report(&run, &info, &model, test, &evaluation)?;
            crate::say!("wrote {}", path.display());
            Ok(())
        }
        Command::Sweep { config, grid, sets } => {
            let config = ExperimentConfig::load(&config.path(), &sets)?;
            crate::sweep::sweep(&config, &grid, &sets, backend)?;
            Ok(())
        }
        Command::Gradcheck {
            config,
            sets,
            samples,
            weights,
        } => {
            let config = ExperimentConfig::load(&config.path(), &sets)?;
            let r = crate::gradcheck::gradcheck(&config, backend, samples, weights)?;
            crate::say!(
                "loss {}: compared {} gradients on {} samples; largest relative error {:.3e}, largest absolute error {:.3e}",
                toml::Value::try_from(config.train.loss)?
                    .as_str()
                    .unwrap_or_default(),
                r.checked,
                samples,
                r.max_relative,
                r.max_absolute
            );
            Ok(())
        }
        Command::Data { command } => crate::datainfo::run(command_parts(command)),
        Command::Bench {
            config,
            sets,
            csv,
            synthetic,
        } => {
            let config = ExperimentConfig::load(&config.path(), &sets)?;
            let line = crate::bench::run(&config, backend, csv.as_deref(), synthetic)?;
            crate::say!("{}", line.line());
            Ok(())
        }
        Command::BenchDecode { dir, sizes, count } => {
            for line in crate::bench::decode_bench(dir.as_deref(), &sizes, count)? {
                crate::say!("{line}");
            }
            Ok(())
        }
    }
}

fn command_parts(command: DataCommand) -> crate::datainfo::DataAction {
    match command {
        DataCommand::Fetch {
            dataset,
            dir,
            mirrors,
            only_mirrors,
        } => crate::datainfo::DataAction::Fetch {
            dataset,
            dir,
            mirrors,
            official: !only_mirrors,
        },
        DataCommand::Cache { clear } => crate::datainfo::DataAction::Cache { clear },
        DataCommand::Info { config, sets } => crate::datainfo::DataAction::Info {
            config: config.path(),
            sets,
        },
    }
}

/// Checks that a dataset has the shape and classes the run's model was trained for.
fn check_fits(info: &crate::runfiles::RunInfo, set: &linclass_data::ImageSet) -> Result<()> {
    if set.shape() != info.model.input_shape || set.classes().len() != info.model.num_classes {
        anyhow::bail!(
            "the test data ({} classes of shape {:?}) does not fit the model ({} classes of shape {:?})",
            set.classes().len(),
            set.shape(),
            info.model.num_classes,
            info.model.input_shape
        );
    }
    if set.classes() != info.classes {
        anyhow::bail!(
            "the test data's classes {:?} are not the run's {:?} (renamed or reordered class folders?)",
            set.classes(),
            info.classes
        );
    }
    Ok(())
}
