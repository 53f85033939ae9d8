//! `eval`, `report` and `templates`: a run's model looked at, on its test split or alone.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use linclass_data::ImageSet;
use linclass_data::mnist::Split;

use crate::backend::Backend;
use crate::cli::args::{EvalArgs, TemplatesArgs};
use crate::cli::terminal::DownloadBar;
use crate::datasets::open_split;
use crate::inspect::evaluation::{MANY_CLASSES, evaluate};
use crate::inspect::output::{TEMPLATES_DIR, write_confusion, write_report, write_templates};
use crate::run::dir::RunDir;
use crate::run::info::RunInfo;

pub(crate) fn eval(args: EvalArgs, backend: Backend) -> Result<()> {
    let run = RunDir::new(args.run);
    let info = run.load_info()?;
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let test = open_test(&info)?;
    let test_copies = recorded_copies(&info, &test);
    let mut evaluation = evaluate(&model, Arc::new(test), &info.normalization, &device)?;
    evaluation.trained_with = Some(info.config.train.loss);
    evaluation.refit = info.refit.clone();
    evaluation.test_copies = test_copies;
    let picture = match write_confusion(&run, &evaluation) {
        Ok(written) => written.map(|(path, _)| path),
        Err(e) => {
            eprintln!("warning: {e:#}");
            None
        }
    };
    if args.json {
        crate::say!("{}", serde_json::to_string(&evaluation)?);
        return Ok(());
    }
    {
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), "{}", evaluation.render());
    }
    match picture {
        Some(path) => crate::say!("\nconfusion matrix picture: {}", path.display()),
        None if evaluation.classes.len() > MANY_CLASSES => crate::say!(
            "\n{} classes: no confusion matrix picture (the most confused pairs are above)",
            evaluation.classes.len()
        ),
        None => {}
    }
    Ok(())
}

pub(crate) fn report(run: &Path, backend: Backend) -> Result<()> {
    let run = RunDir::new(run);
    let mut info = run.load_info()?;
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let test = Arc::new(open_test(&info)?);
    info.data.test_copies = recorded_copies(&info, &test);
    let evaluation = evaluate(&model, test.clone(), &info.normalization, &device)?;
    let path = write_report(&run, &info, &model, test, &evaluation)?;
    crate::say!("wrote {}", path.display());
    Ok(())
}

pub(crate) fn templates(args: TemplatesArgs, backend: Backend) -> Result<()> {
    let run = RunDir::new(args.run);
    let info = run.load_info()?;
    let device = backend.device()?;
    let model = run.load_model(&info, &device)?;
    let out = args.out.unwrap_or_else(|| run.path.clone());
    let (grid, each) = write_templates(&out, &model, &info.classes, args.scale)?;
    crate::say!(
        "wrote {} and {} class templates in {} (roughness {:.2}: 0 smooth, 1 noise)",
        grid.display(),
        each.len(),
        out.join(TEMPLATES_DIR).display(),
        model.template_roughness()
    );
    Ok(())
}

/// The copies of training images that training counted in the test split, while the test
/// split is the one it counted them in (said on stderr when it is not).
fn recorded_copies(info: &RunInfo, test: &ImageSet) -> Option<usize> {
    let recorded = info.data.test_fingerprint.as_ref()?;
    let now = test.fingerprint();
    if *recorded == now {
        return info.data.test_copies;
    }
    eprintln!(
        "note: the test split changed since the run was trained (fingerprint {recorded} is now {now}); `linclass data info` counts its copies of training images"
    );
    None
}

/// The test split of a run's dataset, checked to have the shape and classes the run's model
/// was trained for.
fn open_test(info: &RunInfo) -> Result<ImageSet> {
    let (data, seed) = (&info.config.data, info.config.train.seed);
    let set = open_split(data, seed, Split::Test, &mut DownloadBar::default())?;
    if set.shape() != info.model.input_shape || set.classes().len() != info.model.num_classes {
        bail!(
            "the test data ({} classes of shape {:?}) does not fit the model ({} classes of shape {:?})",
            set.classes().len(),
            set.shape(),
            info.model.num_classes,
            info.model.input_shape
        );
    }
    if set.classes() != info.classes {
        bail!(
            "the test data's classes {:?} are not the run's {:?} (renamed or reordered class folders?)",
            set.classes(),
            info.classes
        );
    }
    Ok(set)
}
