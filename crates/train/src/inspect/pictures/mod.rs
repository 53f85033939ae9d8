//! Pictures of what a model learned and how it did: class templates, training curves, the
//! confusion matrix (charts drawn with plotters), and the HTML report that gathers them.

pub(crate) mod charts;
pub(crate) mod confusion;
pub(crate) mod curves;
pub(crate) mod raster;
pub(crate) mod report;
pub(crate) mod templates;
