//! `sweep`: trains every combination of a grid of config values, ranks them by validation
//! accuracy, and evaluates only the chosen one on the test split.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use linclass_data::mnist::Split;

use crate::backend::Backend;
use crate::config::{ExperimentConfig, parse_value, value_text};
use crate::datasets::open_split;
use crate::eval::evaluate;
use crate::runfiles::write_atomic;
use crate::training::train;

/// One trained combination.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub settings: Vec<(String, String)>,
    pub run: PathBuf,
    pub train_acc: f64,
    pub valid_acc: f64,
    pub train_loss: f64,
    pub valid_loss: f64,
    pub seconds: f64,
    /// Why the combination gave no model (its training failed, e.g. diverged); its metrics
    /// are then NaN and it ranks last.
    pub failed: Option<String>,
}

/// One key of the grid: its values, and where they were given (`--grid` or the config's
/// `[sweep] grid`), for error messages.
#[derive(Debug, Clone)]
pub struct GridKey {
    pub key: String,
    pub values: Vec<String>,
    pub from: &'static str,
}

/// The grid from `--grid key=v1,v2` arguments, then the config's `[sweep] grid` table (a key
/// given in both takes the `--grid` values). A key given twice with `--grid`, or a value twice
/// for one key, is an error: it would train a combination twice or drop values silently.
pub fn grid(config: &ExperimentConfig, args: &[String]) -> Result<Vec<GridKey>> {
    let mut grid: BTreeMap<String, GridKey> = config
        .sweep
        .grid
        .iter()
        .map(|(k, values)| {
            let key = GridKey {
                key: k.clone(),
                values: values.iter().map(value_text).collect(),
                from: "[sweep] grid",
            };
            (k.clone(), key)
        })
        .collect();
    let mut given = BTreeMap::new();
    for arg in args {
        let (key, values) = arg
            .split_once('=')
            .ok_or_else(|| anyhow!("--grid {arg}: expected section.key=v1,v2,..."))?;
        let key = key.trim().to_string();
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            bail!("--grid {arg}: no values");
        }
        if let Some(earlier) = given.insert(key.clone(), arg) {
            bail!(
                "--grid {key} is given twice (`{earlier}` and `{arg}`): give all its values once, comma-separated"
            );
        }
        grid.insert(
            key.clone(),
            GridKey {
                key,
                values,
                from: "--grid",
            },
        );
    }
    for g in grid.values() {
        // Compared as the values they set: 0.1, 0.10 and 1e-1 are one learning rate.
        let parsed: Vec<toml::Value> = g
            .values
            .iter()
            .map(|v| same_number(parse_value(v)))
            .collect();
        for (i, v) in g.values.iter().enumerate() {
            if let Some(j) = parsed[..i].iter().position(|p| *p == parsed[i]) {
                let earlier = &g.values[j];
                let also = if earlier == v {
                    String::new()
                } else {
                    format!(" (as {earlier})")
                };
                bail!(
                    "{} {}: the value {v} is listed twice{also}; each value is one training run",
                    g.from,
                    g.key
                );
            }
        }
    }
    let keys: Vec<&String> = grid.keys().collect();
    for a in &keys {
        for b in &keys {
            if b.starts_with(&format!("{a}.")) {
                bail!(
                    "the grid sets both {a} and {b}, which is part of it: the second would override the first in every run; keep one"
                );
            }
        }
    }
    if grid.is_empty() {
        bail!("nothing to sweep: give --grid section.key=v1,v2 or a [sweep] grid in the config");
    }
    if let Some(g) = grid.get("train.refit") {
        bail!(
            "{}: train.refit cannot be swept: combinations are ranked on the validation part, which a refit trains on; set train.refit = true to refit the chosen one",
            g.from
        );
    }
    Ok(grid.into_values().collect())
}

/// Integers as floats, so that `1` and `1.0` compare equal.
fn same_number(v: toml::Value) -> toml::Value {
    match v {
        toml::Value::Integer(i) => toml::Value::Float(i as f64),
        other => other,
    }
}

/// `--set` values that the grid would replace in every run: an error rather than a silent
/// loss (the grid's values are changed with `--grid`).
pub fn check_sets(sets: &[String], grid: &[GridKey]) -> Result<()> {
    for set in sets {
        let key = set.split_once('=').map_or(set.as_str(), |(k, _)| k).trim();
        if let Some(g) = grid.iter().find(|g| {
            g.key == key
                || key.starts_with(&format!("{}.", g.key))
                || g.key.starts_with(&format!("{key}."))
        }) {
            bail!(
                "--set {set}: {} is swept ({} {} = {}), so every run would replace it; change the swept values with --grid {}=…",
                g.key,
                g.from,
                g.key,
                g.values.join(", "),
                g.key
            );
        }
    }
    Ok(())
}

/// Every combination of the grid's values, as `key=value` overrides.
pub fn combinations(grid: &[GridKey]) -> Vec<Vec<(String, String)>> {
    grid.iter().fold(vec![Vec::new()], |acc, g| {
        acc.into_iter()
            .flat_map(|prefix| {
                g.values.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push((g.key.clone(), v.clone()));
                    next
                })
            })
            .collect()
    })
}

fn run_name(i: usize, settings: &[(String, String)]) -> String {
    let tail: String = settings
        .iter()
        .map(|(k, v)| format!("{}={v}", k.rsplit('.').next().unwrap_or(k)))
        .collect::<Vec<_>>()
        .join("_");
    let safe: String = tail
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "=._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{i:03}_{safe}")
}

/// Runs the sweep; writes `sweep.csv` and `sweep.md` into the config's output directory.
pub fn sweep(
    config: &ExperimentConfig,
    grid_args: &[String],
    sets: &[String],
    backend: Backend,
) -> Result<Vec<SweepRow>> {
    let grid = grid(config, grid_args)?;
    check_sets(sets, &grid)?;
    let combos = combinations(&grid);
    let root = config.output.dir.clone();
    // Check every combination before training any, and before writing anything.
    let from = match (
        grid.iter().any(|g| g.from == "--grid"),
        grid.iter().any(|g| g.from != "--grid"),
    ) {
        (true, true) => "--grid / [sweep] grid",
        (true, false) => "--grid",
        _ => "[sweep] grid",
    };
    let mut configs = Vec::new();
    for (i, settings) in combos.iter().enumerate() {
        let overrides: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut c = config.clone().with_overrides_from(&overrides, from)?;
        c.output.dir = root.join(run_name(i, settings));
        // Combinations are ranked on the validation part, which a refit would train on: only
        // the chosen one is refitted (as scikit-learn's `GridSearchCV(refit=True)`).
        c.train.refit = false;
        configs.push(c);
    }
    std::fs::create_dir_all(&root).map_err(|e| anyhow!("cannot create {}: {e}", root.display()))?;
    crate::say!(
        "sweep: {} combinations of {}",
        configs.len(),
        grid.iter()
            .map(|g| g.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rows = Vec::new();
    for (settings, c) in combos.into_iter().zip(&configs) {
        let label = settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        // A combination that fails (typically a learning rate that diverges) is a result of
        // the sweep, not the end of it.
        let trained = match train(c, backend, true) {
            Ok(t) => t,
            // Ctrl-C stops the sweep, not just this combination.
            Err(e) if e.is::<crate::training::Interrupted>() => {
                let done = rows.len();
                if done > 0 {
                    let mut md = write_tables(&root, &grid, &mut rows)?;
                    md.push_str(&format!(
                        "\nStopped (Ctrl-C) at {label}: {done} of {} combinations done, nothing tested.\n",
                        configs.len()
                    ));
                    write_atomic(&root.join("sweep.md"), md.as_bytes())?;
                }
                return Err(e.context(format!(
                    "sweep stopped at {label} ({done} of {} combinations done{}; `sweep` again trains them all anew)",
                    configs.len(),
                    if done > 0 { ", their table is in sweep.md" } else { "" }
                )));
            }
            Err(e) => {
                let why = format!("{e:#}");
                crate::say!("  {label}: failed: {why}");
                rows.push(SweepRow {
                    settings,
                    run: c.output.dir.clone(),
                    train_acc: f64::NAN,
                    valid_acc: f64::NAN,
                    train_loss: f64::NAN,
                    valid_loss: f64::NAN,
                    seconds: 0.0,
                    failed: Some(why),
                });
                continue;
            }
        };
        // Each combination is a run like any other, curves included.
        crate::visuals::write_curves(&trained.run, &trained.info)?;
        // The metrics of the epoch the run kept: the model that the test would see.
        let kept = trained
            .epochs
            .iter()
            .find(|e| Some(e.epoch) == trained.kept)
            .or(trained.epochs.last())
            .ok_or_else(|| anyhow!("{label}: no epoch finished"))?;
        let row = SweepRow {
            settings,
            run: c.output.dir.clone(),
            train_acc: kept.train.accuracy,
            valid_acc: kept.valid.accuracy,
            train_loss: kept.train.loss,
            valid_loss: kept.valid.loss,
            seconds: trained.epochs.iter().map(|e| e.seconds).sum(),
            failed: None,
        };
        crate::say!(
            "  {label}: valid accuracy {:.2}%, {:.1} s",
            100.0 * row.valid_acc,
            row.seconds
        );
        rows.push(row);
    }
    let mut md = write_tables(&root, &grid, &mut rows)?;
    if rows.iter().all(|r| r.failed.is_some()) {
        bail!(
            "every combination failed; the first: {}",
            rows[0].failed.as_deref().unwrap_or("")
        );
    }
    // The table is on disk before the refit and the test: a Ctrl-C there keeps it.
    // The test split is used once, for the configuration chosen on validation accuracy.
    let best = &rows[0];
    let chosen = configs
        .iter()
        .find(|c| c.output.dir == best.run)
        .expect("the best row comes from one of the configs");
    let run = crate::runfiles::RunDir::new(&best.run);
    let mut info = run.load_info()?;
    if config.train.refit {
        crate::say!(
            "refitting the chosen combination on the training and validation parts (train.refit)"
        );
        info.config.train.refit = true;
        run.save_info(&info)?;
        info = crate::training::resume(&best.run, backend, true)?.info;
    }
    let refit = match &info.refit {
        Some(r) => format!(", refit on all {} images for {} epochs", r.images, r.epochs),
        None => String::new(),
    };
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let test = Arc::new(open_split(&chosen.data, chosen.train.seed, Split::Test)?);
    let evaluation = evaluate(&model, test, &info.normalization, &device);
    let summary = format!(
        "\nChosen on validation accuracy: {}{refit} → test top-1 {:.2}%, top-{} {:.2}% ({} images).\n",
        best.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * evaluation.top1,
        evaluation.k,
        100.0 * evaluation.topk,
        evaluation.n
    );
    md.push_str(&summary);
    write_atomic(&root.join("sweep.md"), md.as_bytes())?;
    crate::say!("\n{md}");
    crate::say!(
        "wrote {} and {}",
        root.join("sweep.csv").display(),
        root.join("sweep.md").display()
    );
    Ok(rows)
}

/// Orders `rows` (best validation accuracy first, failed combinations last) and writes them
/// as `sweep.csv` and `sweep.md` under `root`; returns the markdown table.
fn write_tables(root: &Path, grid: &[GridKey], rows: &mut [SweepRow]) -> Result<String> {
    rows.sort_by(|a, b| {
        a.failed
            .is_some()
            .cmp(&b.failed.is_some())
            .then(b.valid_acc.total_cmp(&a.valid_acc))
    });
    let keys: Vec<&str> = grid.iter().map(|g| g.key.as_str()).collect();
    let mut csv = format!(
        "{},train_acc,valid_acc,train_loss,valid_loss,seconds,run,failed\n",
        keys.join(",")
    );
    let mut md = format!(
        "| {} | train acc | valid acc | train loss | valid loss | seconds |\n|{}---|---|---|---|---|\n",
        keys.join(" | "),
        "---|".repeat(keys.len())
    );
    for r in rows.iter() {
        let values: Vec<&str> = r.settings.iter().map(|(_, v)| v.as_str()).collect();
        if let Some(why) = &r.failed {
            // One short reason in both tables (the first clause of the error).
            let short = why.split([';', ':']).next().unwrap_or(why).trim();
            csv.push_str(&format!(
                "{},,,,,,{},\"{}\"\n",
                values.join(","),
                r.run.display(),
                why.replace('"', "'")
            ));
            md.push_str(&format!("| {} | {short} | | | | |\n", values.join(" | ")));
            continue;
        }
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.2},{},\n",
            values.join(","),
            r.train_acc,
            r.valid_acc,
            r.train_loss,
            r.valid_loss,
            r.seconds,
            r.run.display()
        ));
        md.push_str(&format!(
            "| {} | {:.2}% | {:.2}% | {:.4} | {:.4} | {:.1} |\n",
            values.join(" | "),
            100.0 * r.train_acc,
            100.0 * r.valid_acc,
            r.train_loss,
            r.valid_loss,
            r.seconds
        ));
    }
    write_atomic(&root.join("sweep.csv"), csv.as_bytes())?;
    write_atomic(&root.join("sweep.md"), md.as_bytes())?;
    Ok(md)
}
