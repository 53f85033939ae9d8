//! Pictures of what a model learned and how it did: class templates, training curves, the
//! confusion matrix (charts drawn with plotters), and the HTML report that gathers them.

pub mod charts;
pub mod confusion;
pub mod curves;
pub mod raster;
pub mod report;
pub mod templates;
