//! A sweep's grid of config values: every combination's config, and the tables (`sweep.csv`,
//! `sweep.md`) that rank the trained combinations by validation accuracy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::config::{ExperimentConfig, parse_value, value_text};
use crate::fit::train::Trained;
use crate::run::files::write_atomic;

/// One trained combination.
#[derive(Debug, Clone)]
pub(crate) struct SweepRow {
    pub settings: Vec<(String, String)>,
    pub run: PathBuf,
    pub train_acc: f64,
    pub valid_acc: f64,
    pub train_loss: f64,
    pub valid_loss: f64,
    pub seconds: f64,
    /// The epoch whose model the run kept (`train.keep`): the row's metrics are its.
    pub epoch: Option<usize>,
    /// Why the combination gave no model (its training failed, e.g. diverged); its metrics
    /// are then NaN and it ranks last.
    pub failed: Option<String>,
}

/// One key of the grid: its values, and where they were given (`--grid` or the config's
/// `[sweep] grid`), for error messages.
#[derive(Debug, Clone)]
pub(crate) struct GridKey {
    pub key: String,
    pub values: Vec<String>,
    pub from: &'static str,
}

/// The grid from `--grid key=v1,v2` arguments, then the config's `[sweep] grid` table (a key
/// given in both takes the `--grid` values). A key given twice with `--grid`, or a value twice
/// for one key, is an error: it would train a combination twice or drop values silently.
pub(crate) fn grid(config: &ExperimentConfig, args: &[String]) -> Result<Vec<GridKey>> {
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
        check_values(g)?;
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

/// A value listed twice for one key would train one combination twice. Values are compared as
/// the values they set: 0.1, 0.10 and 1e-1 are one learning rate.
fn check_values(g: &GridKey) -> Result<()> {
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
    Ok(())
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
pub(crate) fn check_sets(sets: &[String], grid: &[GridKey]) -> Result<()> {
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
pub(crate) fn combinations(grid: &[GridKey]) -> Vec<Vec<(String, String)>> {
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

/// A sweep ready to run: the grid, and one config per combination of its values (each with its
/// own run directory under `root`, and no refit: only the chosen combination is refitted).
pub(crate) struct SweepPlan {
    /// The swept keys and their values.
    pub grid: Vec<GridKey>,
    /// Each combination's `key=value` settings and the config it trains.
    pub runs: Vec<(Vec<(String, String)>, ExperimentConfig)>,
    /// Where the runs and the tables go (`output.dir` of the config).
    pub root: PathBuf,
}

/// Checks the grid (`--grid` arguments and the config's `[sweep] grid`) and the `--set`
/// values against each other, and builds every combination's config, before anything is
/// trained or written.
///
/// Errors: a malformed, repeated or nested grid key, a value listed twice, `train.refit` swept,
/// a `--set` of a swept key, or a combination whose config is not valid.
pub(crate) fn plan(
    config: &ExperimentConfig,
    grid_args: &[String],
    sets: &[String],
) -> Result<SweepPlan> {
    let grid = grid(config, grid_args)?;
    check_sets(sets, &grid)?;
    let root = config.output.dir.clone();
    let from = match (
        grid.iter().any(|g| g.from == "--grid"),
        grid.iter().any(|g| g.from != "--grid"),
    ) {
        (true, true) => "--grid / [sweep] grid",
        (true, false) => "--grid",
        _ => "[sweep] grid",
    };
    let mut runs = Vec::new();
    for (i, settings) in combinations(&grid).into_iter().enumerate() {
        let overrides: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut c = config.clone().with_overrides_from(&overrides, from)?;
        c.output.dir = root.join(run_name(i, &settings));
        // Combinations are ranked on the validation part, which a refit would train on: only
        // the chosen one is refitted (as scikit-learn's `GridSearchCV(refit=True)`).
        c.train.refit = false;
        runs.push((settings, c));
    }
    Ok(SweepPlan { grid, runs, root })
}

impl SweepRow {
    /// The row of a trained combination: the metrics of the epoch its run kept (the model that
    /// the test would see).
    ///
    /// Errors: no epoch finished.
    pub(crate) fn of(settings: Vec<(String, String)>, trained: &Trained) -> Result<Self> {
        let kept = trained
            .epochs
            .iter()
            .find(|e| Some(e.epoch) == trained.kept)
            .or(trained.epochs.last())
            .ok_or_else(|| anyhow!("{}: no epoch finished", label(&settings)))?;
        Ok(SweepRow {
            settings,
            run: trained.run.path.clone(),
            train_acc: kept.train.accuracy,
            valid_acc: kept.valid.accuracy,
            train_loss: kept.train.loss,
            valid_loss: kept.valid.loss,
            seconds: trained.epochs.iter().map(|e| e.seconds).sum(),
            epoch: Some(kept.epoch),
            failed: None,
        })
    }

    /// The row of a combination whose training failed (`why`): NaN metrics, ranked last.
    pub(crate) fn failed(settings: Vec<(String, String)>, run: PathBuf, why: String) -> Self {
        SweepRow {
            settings,
            run,
            train_acc: f64::NAN,
            valid_acc: f64::NAN,
            train_loss: f64::NAN,
            valid_loss: f64::NAN,
            seconds: 0.0,
            epoch: None,
            failed: Some(why),
        }
    }
}

/// "key=value key=value" of a combination.
pub(crate) fn label(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Orders `rows` (best validation accuracy first, failed combinations last) and writes them
/// as `sweep.csv` and `sweep.md` under `root`; returns the markdown table.
pub(crate) fn write_tables(root: &Path, grid: &[GridKey], rows: &mut [SweepRow]) -> Result<String> {
    rows.sort_by(|a, b| {
        a.failed
            .is_some()
            .cmp(&b.failed.is_some())
            .then(b.valid_acc.total_cmp(&a.valid_acc))
    });
    let keys: Vec<&str> = grid.iter().map(|g| g.key.as_str()).collect();
    let mut csv = format!(
        "{},train_acc,valid_acc,train_loss,valid_loss,seconds,run,failed,epoch\n",
        keys.join(",")
    );
    let mut md = format!(
        "| {} | train acc | valid acc | train loss | valid loss | seconds | epoch |\n|{}---|---|---|---|---|---|\n",
        keys.join(" | "),
        "---|".repeat(keys.len())
    );
    for r in rows.iter() {
        let values: Vec<&str> = r.settings.iter().map(|(_, v)| v.as_str()).collect();
        if let Some(why) = &r.failed {
            // One short reason in both tables (the first clause of the error).
            let short = why.split([';', ':']).next().unwrap_or(why).trim();
            // A failed run's directory is removed (or never made): no path to follow.
            let run = if r.run.exists() {
                r.run.display().to_string()
            } else {
                String::new()
            };
            csv.push_str(&format!(
                "{},,,,,,{run},\"{}\",\n",
                values.join(","),
                why.replace('"', "'")
            ));
            md.push_str(&format!("| {} | {short} | | | | | |\n", values.join(" | ")));
            continue;
        }
        let epoch = r.epoch.map(|e| e.to_string()).unwrap_or_default();
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.6},{:.6},{:.2},{},,{epoch}\n",
            values.join(","),
            r.train_acc,
            r.valid_acc,
            r.train_loss,
            r.valid_loss,
            r.seconds,
            r.run.display()
        ));
        md.push_str(&format!(
            "| {} | {:.2}% | {:.2}% | {:.4} | {:.4} | {:.1} | {epoch} |\n",
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
