//! `sweep`: trains every combination of a grid of config values (each a run with its curves),
//! ranks them by validation accuracy, refits the chosen one if asked, and evaluates only that
//! one on the test split.

use std::sync::Arc;

use anyhow::{Result, bail};
use linclass_data::mnist::Split;

use crate::backend::Backend;
use crate::cli::args::SweepArgs;
use crate::cli::terminal::{DownloadBar, Terminal};
use crate::config::ExperimentConfig;
use crate::datasets::open_split;
use crate::fit::interrupt::Interrupted;
use crate::fit::reporter::Reporter;
use crate::fit::resume::resume;
use crate::fit::sweep::{SweepPlan, SweepRow, label, plan, write_tables};
use crate::fit::train::train;
use crate::inspect::evaluation::evaluate;
use crate::inspect::output::write_curves;
use crate::run::dir::RunDir;
use crate::run::files::write_atomic;

pub(crate) fn sweep(args: SweepArgs, backend: Backend) -> Result<()> {
    let config = ExperimentConfig::load(&args.config.path(), &args.sets)?;
    // Every combination is checked before any is trained, and before anything is written.
    let plan = plan(&config, &args.grid, &args.sets)?;
    let root = &plan.root;
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    let keys: Vec<&str> = plan.grid.iter().map(|g| g.key.as_str()).collect();
    crate::say!(
        "sweep: {} combinations of {}",
        plan.runs.len(),
        keys.join(", ")
    );
    let mut rows = train_all(&plan, backend)?;
    let mut md = write_tables(root, &plan.grid, &mut rows)?;
    if rows.iter().all(|r| r.failed.is_some()) {
        bail!(
            "every combination failed; the first: {}",
            rows[0].failed.as_deref().unwrap_or("")
        );
    }
    // The table is on disk before the refit and the test: a Ctrl-C there keeps it.
    md.push_str(&test_chosen(&plan, &rows[0], config.train.refit, backend)?);
    write_atomic(&root.join("sweep.md"), md.as_bytes())?;
    crate::say!("\n{md}");
    crate::say!(
        "wrote {} and {}",
        root.join("sweep.csv").display(),
        root.join("sweep.md").display()
    );
    Ok(())
}

/// Trains each combination (its lines indented under its settings), draws its curves, and says
/// its validation accuracy. A
/// combination that fails (typically a learning rate that diverges) is a row of the sweep, not
/// its end; Ctrl-C ends the sweep, after writing the table of the combinations done.
fn train_all(plan: &SweepPlan, backend: Backend) -> Result<Vec<SweepRow>> {
    let reporter: Arc<dyn Reporter> = Arc::new(Terminal::indented());
    let mut rows = Vec::new();
    for (settings, c) in &plan.runs {
        let label = label(settings);
        crate::say!("  {label}:");
        let trained = match train(c, backend, reporter.clone()) {
            Ok(t) => t,
            Err(e) if e.is::<Interrupted>() => return Err(stopped(plan, &mut rows, &label, e)),
            Err(e) => {
                let why = format!("{e:#}");
                crate::say!("  {label}: failed: {why}");
                let run = c.output.dir.clone();
                rows.push(SweepRow::failed(settings.clone(), run, why));
                continue;
            }
        };
        // Each combination is a run like any other, curves included.
        write_curves(&trained.run, &trained.info)?;
        let row = SweepRow::of(settings.clone(), &trained)?;
        crate::say!(
            "  {label}: valid accuracy {:.2}%, {:.1} s",
            100.0 * row.valid_acc,
            row.seconds
        );
        rows.push(row);
    }
    Ok(rows)
}

/// The error of a sweep stopped by Ctrl-C at combination `label`, once the table of the
/// combinations done (if any) is written.
fn stopped(
    plan: &SweepPlan,
    rows: &mut [SweepRow],
    label: &str,
    e: anyhow::Error,
) -> anyhow::Error {
    let (done, of) = (rows.len(), plan.runs.len());
    if done > 0 {
        let written = write_tables(&plan.root, &plan.grid, rows).and_then(|mut md| {
            md.push_str(&format!(
                "\nStopped (Ctrl-C) at {label}: {done} of {of} combinations done, nothing tested.\n"
            ));
            write_atomic(&plan.root.join("sweep.md"), md.as_bytes())
        });
        if let Err(failed) = written {
            return failed;
        }
    }
    e.context(format!(
        "sweep stopped at {label} ({done} of {of} combinations done{}; `sweep` again trains them all anew)",
        if done > 0 { ", their table is in sweep.md" } else { "" }
    ))
}

/// Refits the chosen combination (`best`) if asked, then evaluates it on the test split, used
/// this once; returns the line that says so.
fn test_chosen(plan: &SweepPlan, best: &SweepRow, refit: bool, backend: Backend) -> Result<String> {
    let (_, chosen) = plan
        .runs
        .iter()
        .find(|(_, c)| c.output.dir == best.run)
        .expect("the best row comes from one of the configs");
    let run = RunDir::new(&best.run);
    let mut info = run.load_info()?;
    if refit {
        crate::say!(
            "refitting the chosen combination on the training and validation parts (train.refit)"
        );
        info.config.train.refit = true;
        run.save_info(&info)?;
        info = resume(&best.run, backend, Arc::new(Terminal::new(true)))?.info;
    }
    let refit = match &info.refit {
        Some(r) => format!(", refit on all {} images for {} epochs", r.images, r.epochs),
        None => String::new(),
    };
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let (data, seed) = (&chosen.data, chosen.train.seed);
    let test = Arc::new(open_split(
        data,
        seed,
        Split::Test,
        &mut DownloadBar::default(),
    )?);
    let evaluation = evaluate(&model, test, &info.normalization, &device)?;
    Ok(format!(
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
    ))
}
