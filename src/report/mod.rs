//! Human-facing output: plots (PNG and SVG through plotters, with an embedded DejaVu font so
//! rendering needs no system fonts) and a self-contained HTML report.
//!
//! Both submodules take plain data (labels, numbers, bytes), not result types, so the report
//! never depends on the methods that produced the numbers. The caller decides what to plot.
pub mod html;
pub mod plots;

pub use html::{Banner, Figure, HtmlReport, Section, Table, Tone, render_html};
pub use plots::{Histogram, LinePlot, PlotFiles, Series, histogram, line_plot};
