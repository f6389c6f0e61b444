//! Line plots and overlaid histograms rendered to PNG and SVG.
//!
//! Contract: pure functions from plain data to image bytes. The same input gives the same bytes
//! (no clock, no randomness, no system fonts: DejaVu Sans is compiled in through the `dejavu`
//! crate and registered with plotters' `ab_glyph` font table). Non-finite values are skipped;
//! a plot with nothing finite to draw is an [`Error::Plot`].
//!
//! Colours follow the Okabe–Ito palette, which stays distinguishable under the common forms of
//! colour-vision deficiency. Legends are drawn in a band below the chart so they never cover data.
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::error::{Error, Result};

/// Width of every rendered plot, in pixels (PNG) or user units (SVG).
pub const PLOT_WIDTH: u32 = 900;
/// Height of every rendered plot, in pixels (PNG) or user units (SVG).
pub const PLOT_HEIGHT: u32 = 560;

/// Family name under which the embedded DejaVu Sans is registered. SVG viewers fall back to
/// their own sans-serif font, which is why the name is the generic one.
const FONT_FAMILY: &str = "sans-serif";
const TITLE_SIZE: f64 = 22.0;
const AXIS_DESC_SIZE: f64 = 16.0;
const TICK_LABEL_SIZE: f64 = 14.0;
const LEGEND_SIZE: f64 = 14.0;
const MARKER_LABEL_SIZE: f64 = 14.0;
/// Light grid lines between two labelled ones; more turns the grid into a texture.
const LIGHT_GRID_LINES: usize = 4;

const LINE_WIDTH: u32 = 2;
/// A series (or a clipped piece of one) with a single point is drawn as a dot of this radius.
const SINGLE_POINT_RADIUS: u32 = 4;
const DASH_LENGTH: f64 = 10.0;
const DASH_GAP: f64 = 6.0;
const MARKER_DASH_LENGTH: f64 = 4.0;
const MARKER_DASH_GAP: f64 = 4.0;
/// Opacity of histogram bars, low enough that overlaid groups stay visible through each other.
const BAR_OPACITY: f64 = 0.45;

const LEGEND_ROW_HEIGHT: u32 = 24;
const LEGEND_SWATCH_WIDTH: i32 = 36;
const LEGEND_PADDING: i32 = 14;
const LEGEND_ENTRY_GAP: i32 = 28;

/// Relative distance from a whole number below which a tick is labelled as that number (tick
/// positions are computed in floating point, so 30 may arrive as 30.000000000000004).
const INTEGER_TICK_TOLERANCE: f64 = 1e-9;

/// Fraction of the data span added above and below an automatic axis range.
const AUTO_RANGE_PADDING: f64 = 0.05;

/// Okabe–Ito colours in the order series receive them (black is kept for markers, yellow last
/// because it is faint on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(230, 159, 0),   // orange
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
];
const MARKER_COLOUR: RGBColor = RGBColor(40, 40, 40);
const GRID_BOLD: RGBColor = RGBColor(205, 205, 205);
const GRID_LIGHT: RGBColor = RGBColor(236, 236, 236);

/// A rendered plot in both formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotFiles {
    pub png: Vec<u8>,
    pub svg: Vec<u8>,
}

/// One curve of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed, e.g. an attack's empirical upper bound next to certified lower bounds.
    pub dashed: bool,
    /// Palette index of the colour; series that share it (one model's certified and attack
    /// curves) share the hue. `None` takes the series' position.
    pub colour: Option<usize>,
}

/// Curves over a shared x axis.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePlot {
    /// File stem; also names the plot in errors.
    pub name: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the finite data with a small margin.
    pub y_range: Option<(f64, f64)>,
    /// A labelled vertical line, e.g. `(1.0, "threat budget")`.
    pub vertical_marker: Option<(f64, String)>,
}

/// Overlaid histograms of several groups over common bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// File stem; also names the plot in errors.
    pub name: String,
    pub title: String,
    pub x_label: String,
    /// `(label, values)`, one colour per group.
    pub groups: Vec<(String, Vec<f64>)>,
    /// Number of equal-width bins spanning the finite values of all groups.
    pub bins: usize,
    /// A labelled vertical line, e.g. the decision threshold.
    pub vertical_marker: Option<(f64, String)>,
}

/// Renders `p` as PNG and SVG.
///
/// Errors: no series, no finite point in any series, or an invalid fixed `y_range`.
pub fn line_plot(p: &LinePlot) -> Result<PlotFiles> {
    let prepared = PreparedLinePlot::new(p)?;
    render(&p.name, &prepared)
}

/// Renders `h` as PNG and SVG.
///
/// Errors: no groups, zero bins, or no finite value in any group.
pub fn histogram(h: &Histogram) -> Result<PlotFiles> {
    let prepared = PreparedHistogram::new(h)?;
    render(&h.name, &prepared)
}

fn plot_error(name: &str, message: impl Into<String>) -> Error {
    Error::Plot {
        name: name.to_string(),
        message: message.into(),
    }
}

fn palette_colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Registers the embedded font once per process; the outcome is remembered so a (never
/// expected) failure is reported on every call rather than only the first.
fn ensure_font_registered() -> std::result::Result<(), String> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
            ];
            for (style, bytes) in fonts {
                register_font(FONT_FAMILY, style, bytes).map_err(|_| {
                    format!(
                        "embedded DejaVu Sans ({}) is not a valid font",
                        style.as_str()
                    )
                })?;
            }
            Ok(())
        })
        .clone()
}

fn font(size: f64) -> TextStyle<'static> {
    (FONT_FAMILY, size).into_font().color(&BLACK)
}

fn bold_font(size: f64) -> TextStyle<'static> {
    (FONT_FAMILY, size)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
}

/// A plot whose data has been validated and whose ranges are fixed, drawable on any backend.
trait Drawing {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

fn render(name: &str, drawing: &impl Drawing) -> Result<PlotFiles> {
    ensure_font_registered().map_err(|message| plot_error(name, message))?;
    let size = (PLOT_WIDTH, PLOT_HEIGHT);

    let mut rgb = vec![0u8; PLOT_WIDTH as usize * PLOT_HEIGHT as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        drawing
            .draw(&root)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|message| plot_error(name, message))?;
    }
    let png = encode_png(&rgb, size).map_err(|e| plot_error(name, format!("PNG encoding: {e}")))?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        drawing
            .draw(&root)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|message| plot_error(name, message))?;
    }
    Ok(PlotFiles {
        png,
        svg: svg.into_bytes(),
    })
}

fn encode_png(
    rgb: &[u8],
    (width, height): (u32, u32),
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Best);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
    }
    Ok(out)
}

/// `[lo, hi]` widened so that it has positive width and a margin around the data.
/// A degenerate span (all values equal) is widened around the value.
fn padded_range(lo: f64, hi: f64, padding: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > f64::EPSILON * lo.abs().max(hi.abs()) && span.is_finite() {
        (lo - span * padding, hi + span * padding)
    } else {
        let half_width = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - half_width, lo + half_width)
    }
}

fn finite_min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn finite_marker(marker: &Option<(f64, String)>) -> Option<(f64, &str)> {
    marker
        .as_ref()
        .filter(|(x, _)| x.is_finite())
        .map(|(x, label)| (*x, label.as_str()))
}

/// What a legend entry shows next to its label.
enum Swatch {
    Line { colour: RGBColor, dashed: bool },
    Patch { colour: RGBColor },
}

struct LegendEntry {
    label: String,
    swatch: Swatch,
}

/// Lays legend entries out left to right, wrapping to new rows; returns each entry's row and
/// x offset and the number of rows.
fn legend_layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> std::result::Result<(Vec<(u32, i32)>, u32), String> {
    let available = PLOT_WIDTH as i32 - 2 * LEGEND_PADDING;
    let style = font(LEGEND_SIZE);
    let mut positions = Vec::with_capacity(entries.len());
    let (mut row, mut x) = (0u32, 0i32);
    for entry in entries {
        let (text_width, _) = root
            .estimate_text_size(&entry.label, &style)
            .map_err(|e| e.to_string())?;
        let width = LEGEND_SWATCH_WIDTH + 8 + text_width as i32;
        if x > 0 && x + width > available {
            row += 1;
            x = 0;
        }
        positions.push((row, x));
        x += width + LEGEND_ENTRY_GAP;
    }
    let rows = if entries.is_empty() { 0 } else { row + 1 };
    Ok((positions, rows))
}

fn legend_height(rows: u32) -> u32 {
    if rows == 0 {
        0
    } else {
        rows * LEGEND_ROW_HEIGHT + LEGEND_PADDING as u32
    }
}

fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
    positions: &[(u32, i32)],
) -> std::result::Result<(), String> {
    let style = font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
    for (entry, &(row, x)) in entries.iter().zip(positions) {
        let x0 = LEGEND_PADDING + x;
        let y = (row * LEGEND_ROW_HEIGHT + LEGEND_ROW_HEIGHT / 2) as i32;
        let x1 = x0 + LEGEND_SWATCH_WIDTH;
        match entry.swatch {
            Swatch::Line { colour, dashed } => {
                let stroke = colour.stroke_width(LINE_WIDTH + 1);
                if dashed {
                    area.draw(&DashedPathElement::new(
                        vec![(x0, y), (x1, y)],
                        DASH_LENGTH,
                        DASH_GAP,
                        stroke,
                    ))
                } else {
                    area.draw(&PathElement::new(vec![(x0, y), (x1, y)], stroke))
                }
            }
            Swatch::Patch { colour } => {
                area.draw(&Rectangle::new(
                    [(x0 + 6, y - 7), (x1 - 6, y + 7)],
                    colour.mix(BAR_OPACITY).filled(),
                ))
                .map_err(|e| e.to_string())?;
                area.draw(&Rectangle::new(
                    [(x0 + 6, y - 7), (x1 - 6, y + 7)],
                    colour.stroke_width(1),
                ))
            }
        }
        .map_err(|e| e.to_string())?;
        area.draw(&Text::new(entry.label.clone(), (x1 + 8, y), style.clone()))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Splits `root` into the chart area and a legend band below it, and draws the legend.
fn chart_area_with_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    entries: &[LegendEntry],
) -> std::result::Result<DrawingArea<DB, Shift>, String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (positions, rows) = legend_layout(root, entries)?;
    let (chart_area, legend_area) = root.split_vertically(PLOT_HEIGHT - legend_height(rows));
    draw_legend(&legend_area, entries, &positions)?;
    Ok(chart_area)
}

/// Draws a labelled dashed vertical line across the plotting area of `chart` at `x`.
/// The label sits at the top, right of the line unless the line is in the right third.
fn draw_vertical_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &mut Chart<'_, DB>,
    (x, label): (f64, &str),
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
) -> std::result::Result<(), String> {
    chart
        .draw_series(std::iter::once(DashedPathElement::new(
            vec![(x, y_lo), (x, y_hi)],
            MARKER_DASH_LENGTH,
            MARKER_DASH_GAP,
            MARKER_COLOUR.stroke_width(LINE_WIDTH),
        )))
        .map_err(|e| e.to_string())?;
    if label.is_empty() {
        return Ok(());
    }
    let style = font(MARKER_LABEL_SIZE);
    let (text_width, text_height) = root
        .estimate_text_size(label, &style)
        .map_err(|e| e.to_string())?;
    let (text_width, text_height) = (text_width as i32, text_height as i32);
    let (px, py) = chart.plotting_area().map_coordinate(&(x, y_hi));
    let on_left = x > x_lo + (x_hi - x_lo) * 2.0 / 3.0;
    let gap = 6;
    let left = if on_left {
        px - gap - text_width
    } else {
        px + gap
    };
    let top = py + gap;
    root.draw(&Rectangle::new(
        [
            (left - 3, top - 2),
            (left + text_width + 3, top + text_height + 4),
        ],
        WHITE.mix(0.85).filled(),
    ))
    .map_err(|e| e.to_string())?;
    root.draw(&Text::new(
        label.to_string(),
        (left, top),
        style.pos(Pos::new(HPos::Left, VPos::Top)),
    ))
    .map_err(|e| e.to_string())
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// How y tick values are printed.
#[derive(Clone, Copy)]
enum YTicks {
    /// plotters' default, which trims trailing digits.
    Decimal,
    /// Whole numbers, for counts.
    Integer,
}

/// Builds the titled chart with axis descriptions and a light grid.
fn build_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    (x_label, y_label): (&str, &str),
    x_range: (f64, f64),
    (y_range, y_ticks): ((f64, f64), YTicks),
) -> std::result::Result<Chart<'a, DB>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, bold_font(TITLE_SIZE))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(74)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(|e| e.to_string())?;
    // Small counts get fractional ticks; those stay unlabelled rather than print a repeated integer.
    let integer_label = |y: &f64| {
        if (y - y.round()).abs() <= INTEGER_TICK_TOLERANCE * y.abs().max(1.0) {
            format!("{y:.0}")
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    if let YTicks::Integer = y_ticks {
        mesh.y_label_formatter(&integer_label);
    }
    mesh.x_desc(x_label)
        .y_desc(y_label)
        .axis_desc_style(font(AXIS_DESC_SIZE))
        .label_style(font(TICK_LABEL_SIZE))
        .bold_line_style(GRID_BOLD)
        .light_line_style(GRID_LIGHT)
        .max_light_lines(LIGHT_GRID_LINES)
        .x_labels(10)
        .y_labels(8)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Splits a polyline into the pieces that lie within `lo <= y <= hi`, cutting segments where
/// they cross the band's edges. plotters would otherwise pin outside points to the frame, which
/// draws flat lines the data does not have. A lone point is kept if it lies inside.
fn clip_to_y_band(points: &[(f64, f64)], (lo, hi): (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| lo <= y && y <= hi;
    if let [only] = points {
        return if inside(only.1) {
            vec![vec![*only]]
        } else {
            vec![]
        };
    }
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    // Whether the last run ends at the current segment's start point.
    let mut open = false;
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (t0, t1) = if a.1 == b.1 {
            if inside(a.1) { (0.0, 1.0) } else { (1.0, 0.0) }
        } else {
            let t_lo = (lo - a.1) / (b.1 - a.1);
            let t_hi = (hi - a.1) / (b.1 - a.1);
            (t_lo.min(t_hi).max(0.0), t_lo.max(t_hi).min(1.0))
        };
        if t0 > t1 {
            open = false;
            continue;
        }
        let at = |t: f64| {
            let y = (a.1 + t * (b.1 - a.1)).clamp(lo, hi);
            (a.0 + t * (b.0 - a.0), y)
        };
        if !(open && t0 == 0.0) {
            runs.push(vec![if t0 == 0.0 { a } else { at(t0) }]);
        }
        if let Some(run) = runs.last_mut() {
            run.push(if t1 == 1.0 { b } else { at(t1) });
        }
        open = t1 == 1.0;
    }
    runs
}

struct PreparedLinePlot<'a> {
    plot: &'a LinePlot,
    /// Finite points of each series, in the caller's order.
    finite: Vec<Vec<(f64, f64)>>,
    x_range: (f64, f64),
    y_range: (f64, f64),
}

impl<'a> PreparedLinePlot<'a> {
    fn new(plot: &'a LinePlot) -> Result<Self> {
        let name = plot.name.as_str();
        if plot.series.is_empty() {
            return Err(plot_error(name, "no series to plot"));
        }
        let finite: Vec<Vec<(f64, f64)>> = plot
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .copied()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .collect()
            })
            .collect();
        let all = || finite.iter().flatten();
        let marker_x = finite_marker(&plot.vertical_marker).map(|(x, _)| x);
        let (x_lo, x_hi) = finite_min_max(all().map(|p| p.0).chain(marker_x))
            .ok_or_else(|| plot_error(name, "no finite point in any series"))?;
        let (y_lo, y_hi) = finite_min_max(all().map(|p| p.1))
            .ok_or_else(|| plot_error(name, "no finite point in any series"))?;
        let x_range = padded_range(x_lo, x_hi, 0.0);
        let y_range = match plot.y_range {
            None => padded_range(y_lo, y_hi, AUTO_RANGE_PADDING),
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
            Some((lo, hi)) => {
                return Err(plot_error(
                    name,
                    format!("y range [{lo}, {hi}] must be finite and increasing"),
                ));
            }
        };
        Ok(Self {
            plot,
            finite,
            x_range,
            y_range,
        })
    }
}

impl Drawing for PreparedLinePlot<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let entries: Vec<LegendEntry> = self
            .plot
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                label: s.label.clone(),
                swatch: Swatch::Line {
                    colour: palette_colour(s.colour.unwrap_or(i)),
                    dashed: s.dashed,
                },
            })
            .collect();
        let chart_area = chart_area_with_legend(root, &entries)?;
        let mut chart = build_chart(
            &chart_area,
            &self.plot.title,
            (&self.plot.x_label, &self.plot.y_label),
            self.x_range,
            (self.y_range, YTicks::Decimal),
        )?;
        for (i, (series, points)) in self.plot.series.iter().zip(&self.finite).enumerate() {
            let stroke = palette_colour(series.colour.unwrap_or(i)).stroke_width(LINE_WIDTH);
            for run in clip_to_y_band(points, self.y_range) {
                match run.as_slice() {
                    [only] => chart.draw_series(std::iter::once(Circle::new(
                        *only,
                        SINGLE_POINT_RADIUS,
                        stroke.filled(),
                    ))),
                    _ if series.dashed => {
                        chart.draw_series(DashedLineSeries::new(run, DASH_LENGTH, DASH_GAP, stroke))
                    }
                    _ => chart.draw_series(LineSeries::new(run, stroke)),
                }
                .map_err(|e| e.to_string())?;
            }
        }
        if let Some(marker) = finite_marker(&self.plot.vertical_marker) {
            draw_vertical_marker(root, &mut chart, marker, self.x_range, self.y_range)?;
        }
        Ok(())
    }
}

struct PreparedHistogram<'a> {
    histogram: &'a Histogram,
    /// Left edge of the first bin and the common bin width.
    bin_start: f64,
    bin_width: f64,
    /// Per group: bin counts and the number of finite values.
    counts: Vec<(Vec<u64>, usize)>,
    x_range: (f64, f64),
    y_max: f64,
}

impl<'a> PreparedHistogram<'a> {
    fn new(histogram: &'a Histogram) -> Result<Self> {
        let name = histogram.name.as_str();
        if histogram.groups.is_empty() {
            return Err(plot_error(name, "no groups to plot"));
        }
        if histogram.bins == 0 {
            return Err(plot_error(name, "the number of bins must be positive"));
        }
        let values = || histogram.groups.iter().flat_map(|(_, v)| v.iter().copied());
        let (lo, hi) = finite_min_max(values())
            .ok_or_else(|| plot_error(name, "no finite value in any group"))?;
        let bins = histogram.bins;
        let (mut bin_start, bin_end) = padded_range(lo, hi, 0.0);
        let bin_width = (bin_end - bin_start) / bins as f64;
        if lo == hi {
            // All values equal: centre them in the middle bin instead of on a bin edge.
            bin_start = lo - ((bins / 2) as f64 + 0.5) * bin_width;
        }
        let bin_end = bin_start + bins as f64 * bin_width;
        let counts = histogram
            .groups
            .iter()
            .map(|(_, group)| {
                let mut counts = vec![0u64; bins];
                let mut finite = 0;
                for &v in group.iter().filter(|v| v.is_finite()) {
                    let index = ((v - bin_start) / bin_width).floor();
                    // The maximum falls on the last bin's right edge and belongs to it.
                    let index = (index.max(0.0) as usize).min(bins - 1);
                    counts[index] += 1;
                    finite += 1;
                }
                (counts, finite)
            })
            .collect::<Vec<_>>();
        let max_count = counts
            .iter()
            .flat_map(|(c, _)| c.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let marker_x = finite_marker(&histogram.vertical_marker).map(|(x, _)| x);
        let (x_lo, x_hi) = finite_min_max([bin_start, bin_end].into_iter().chain(marker_x))
            .expect("bin edges are finite");
        Ok(Self {
            histogram,
            bin_start,
            bin_width,
            counts,
            x_range: padded_range(x_lo, x_hi, AUTO_RANGE_PADDING),
            y_max: max_count as f64 * (1.0 + 2.0 * AUTO_RANGE_PADDING),
        })
    }
}

impl Drawing for PreparedHistogram<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        let entries: Vec<LegendEntry> = self
            .histogram
            .groups
            .iter()
            .zip(&self.counts)
            .enumerate()
            .map(|(i, ((label, _), (_, n)))| LegendEntry {
                label: format!("{label} (n = {n})"),
                swatch: Swatch::Patch {
                    colour: palette_colour(i),
                },
            })
            .collect();
        let chart_area = chart_area_with_legend(root, &entries)?;
        let y_range = (0.0, self.y_max);
        let mut chart = build_chart(
            &chart_area,
            &self.histogram.title,
            (&self.histogram.x_label, "count"),
            self.x_range,
            (y_range, YTicks::Integer),
        )?;
        for (i, (counts, _)) in self.counts.iter().enumerate() {
            let colour = palette_colour(i);
            let bars = || {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, &c)| {
                        let left = self.bin_start + b as f64 * self.bin_width;
                        [(left, 0.0), (left + self.bin_width, c as f64)]
                    })
            };
            chart
                .draw_series(
                    bars().map(|corners| Rectangle::new(corners, colour.mix(BAR_OPACITY).filled())),
                )
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(bars().map(|corners| Rectangle::new(corners, colour.stroke_width(1))))
                .map_err(|e| e.to_string())?;
        }
        if let Some(marker) = finite_marker(&self.histogram.vertical_marker) {
            draw_vertical_marker(root, &mut chart, marker, self.x_range, y_range)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_range_widens_a_degenerate_span_around_the_value() {
        assert_eq!(padded_range(0.0, 0.0, 0.05), (-1.0, 1.0));
        let (lo, hi) = padded_range(5.0, 5.0, 0.05);
        assert!(lo < 5.0 && hi > 5.0);
        assert_eq!(padded_range(0.0, 10.0, 0.1), (-1.0, 11.0));
    }

    #[test]
    fn clip_to_y_band_cuts_segments_at_the_band_edges() {
        let band = (0.0, 1.0);
        // Fully inside: unchanged, one run.
        let inside = vec![(0.0, 0.2), (1.0, 0.5), (2.0, 0.9)];
        assert_eq!(clip_to_y_band(&inside, band), vec![inside.clone()]);
        // Leaves through the top and comes back: two runs meeting the edge at y = 1.
        let excursion = [(0.0, 0.5), (1.0, 1.5), (2.0, 0.5)];
        assert_eq!(
            clip_to_y_band(&excursion, band),
            vec![vec![(0.0, 0.5), (0.5, 1.0)], vec![(1.5, 1.0), (2.0, 0.5)]]
        );
        // Crosses the whole band in one segment.
        assert_eq!(
            clip_to_y_band(&[(0.0, -1.0), (4.0, 3.0)], band),
            vec![vec![(1.0, 0.0), (2.0, 1.0)]]
        );
        // Entirely outside, flat outside, lone points.
        assert!(clip_to_y_band(&[(0.0, 2.0), (1.0, 3.0)], band).is_empty());
        assert!(clip_to_y_band(&[(0.0, 2.0), (1.0, 2.0)], band).is_empty());
        assert_eq!(clip_to_y_band(&[(0.0, 0.5)], band), vec![vec![(0.0, 0.5)]]);
        assert!(clip_to_y_band(&[(0.0, 5.0)], band).is_empty());
    }

    #[test]
    fn finite_min_max_skips_non_finite_values() {
        let values = [f64::NAN, 3.0, f64::INFINITY, -2.0, f64::NEG_INFINITY];
        assert_eq!(finite_min_max(values.into_iter()), Some((-2.0, 3.0)));
        assert_eq!(finite_min_max([f64::NAN].into_iter()), None);
    }
}
