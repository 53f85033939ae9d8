//! The run directory and every record in it: what `train` writes and every other command reads.
//! Imports nothing above the ground (config): training, evaluation and inference all meet here.

pub(crate) mod aside;
pub(crate) mod dir;
pub(crate) mod files;
pub(crate) mod history;
pub(crate) mod info;
