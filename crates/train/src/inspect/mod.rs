//! Looking at what a model learned and how it does: evaluation on the test split (top-1,
//! top-k, per class, confusion, easiest and hardest classes), pictures (templates, curves,
//! confusion) and the HTML report. Reads a run; never trains.

pub(crate) mod evaluation;
pub(crate) mod output;
pub(crate) mod pictures;
