//! Using a trained run: [`Classifier`](crate::Classifier) (load a run directory, classify
//! images or pixels), `evidence` (why an image got its scores), `predict` over image files, and `export` to formats other tools read.
//! Reads a run; never trains.

pub(crate) mod classifier;
pub(crate) mod evidence;
pub(crate) mod export;
pub(crate) mod input;
pub(crate) mod predict;
