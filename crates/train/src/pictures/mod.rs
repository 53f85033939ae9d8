//! Pictures of what a model learned and how it did: class templates, training curves, the
//! confusion matrix, and the HTML report that gathers them.

pub mod canvas;
pub mod confusion;
pub mod curves;
pub mod report;
pub mod templates;
