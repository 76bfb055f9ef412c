//! Drawing `lineage plot`'s figures with plotters. Each figure draws on any backend, so the
//! same code writes the PNG and the SVG. Text uses the DejaVu Sans font bundled in the binary:
//! no system font library is needed.

use std::path::Path;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod tree;

pub use tree::family_tree;

const SIZE: (u32, u32) = (1100, 680);
const FONT: &str = "sans-serif";
const CANDIDATE: RGBColor = RGBColor(31, 119, 180);
const BASELINE: RGBColor = RGBColor(127, 127, 127);
const DISCOVERY: RGBColor = RGBColor(214, 39, 40);
/// The grid: major lines faint, minor ones fainter, so that the data stands out.
const GRID: RGBAColor = RGBAColor(0, 0, 0, 0.12);
const LIGHT_GRID: RGBAColor = RGBAColor(0, 0, 0, 0.035);
/// The strip under a plot that holds its key.
const KEY_HEIGHT: u32 = 44;

/// Makes the bundled font the one plotters draws text with.
pub fn register_font() {
    static FONT_BYTES: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
    plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)
        .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType font"));
}

/// One sample of the discovery curve.
pub struct CurvePoint {
    pub experiments: u32,
    pub compute_s: f64,
    pub best_candidate: Option<f64>,
    pub discoveries: u32,
}

/// The discovery curve, and the best baseline's fitness for reference.
pub struct Curve {
    pub points: Vec<CurvePoint>,
    pub best_baseline: Option<f64>,
}

/// What the discovery curve is drawn against.
#[derive(Clone, Copy)]
pub enum Axis {
    Experiments,
    Compute,
}

/// One architecture of the family tree.
pub struct Node {
    pub label: String,
    pub experiment: u32,
    pub lane: f64,
    pub parent: Option<usize>,
    pub fitness: Option<f64>,
    pub baseline: bool,
    pub discovery: bool,
}

/// One scored architecture.
pub struct Scatter {
    pub label: String,
    pub params: u64,
    pub fitness: f64,
    pub baseline: bool,
    pub discovery: bool,
}

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A figure that can be drawn on any backend.
trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB>;
}

/// Writes a figure as PNG or SVG, by the path's extension.
fn save(path: &Path, figure: &impl Figure) -> anyhow::Result<()> {
    let failed = |e: &dyn std::fmt::Display| anyhow!("cannot draw {}: {e}", path.display());
    match path.extension().and_then(|e| e.to_str()) {
        Some("png") => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            figure.draw(&root).map_err(|e| failed(&e))?;
            root.present().map_err(|e| failed(&e))
        }
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            figure.draw(&root).map_err(|e| failed(&e))?;
            root.present().map_err(|e| failed(&e))
        }
        _ => Err(anyhow!("{}: figures are written as .png or .svg", path.display())),
    }
}

/// Best candidate fitness (left axis) and discoveries (right axis) against experiments or
/// compute seconds.
pub fn discovery(path: &Path, title: &str, curve: &Curve, axis: Axis) -> anyhow::Result<()> {
    save(path, &Discovery { title, curve, axis })
}

struct Discovery<'a> {
    title: &'a str,
    curve: &'a Curve,
    axis: Axis,
}

impl Figure for Discovery<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let (plot, key) = root.split_vertically(SIZE.1 - KEY_HEIGHT);
        let x = |p: &CurvePoint| match self.axis {
            Axis::Experiments => p.experiments as f64,
            Axis::Compute => p.compute_s,
        };
        let points = &self.curve.points;
        let x_max = points.iter().map(x).fold(1.0, f64::max);
        let fitness: Vec<f64> =
            points.iter().filter_map(|p| p.best_candidate).chain(self.curve.best_baseline).collect();
        let (y_min, y_max) = padded_range(&fitness);
        let discoveries = points.iter().map(|p| p.discoveries).max().unwrap_or(0).max(1);
        let x_desc = match self.axis {
            Axis::Experiments => "experiments",
            Axis::Compute => "training compute (s)",
        };
        let mut chart = ChartBuilder::on(&plot)
            .caption(format!("{}: discovery curve", self.title), (FONT, 24))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .right_y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max * 1.02, y_min..y_max)?
            .set_secondary_coord(0.0..x_max * 1.02, 0.0..discoveries as f64 * 1.1);
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("best fitness")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(LIGHT_GRID)
            .bold_line_style(GRID)
            .label_style((FONT, 15))
            .draw()?;
        // Whole discoveries only: one label per count.
        chart
            .configure_secondary_axes()
            .y_desc("discoveries")
            .y_labels(discoveries as usize + 1)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .label_style((FONT, 15))
            .draw()?;
        if let Some(baseline) = self.curve.best_baseline {
            chart.draw_series(LineSeries::new(
                [(0.0, baseline), (x_max * 1.02, baseline)],
                BASELINE.stroke_width(2),
            ))?;
        }
        let best: Vec<(f64, f64)> = points.iter().filter_map(|p| Some((x(p), p.best_candidate?))).collect();
        chart.draw_series(LineSeries::new(steps(&best), CANDIDATE.stroke_width(3)))?;
        let found: Vec<(f64, f64)> = points.iter().map(|p| (x(p), p.discoveries as f64)).collect();
        chart.draw_secondary_series(LineSeries::new(steps(&found), DISCOVERY.stroke_width(2)))?;
        // The key under the plot, where it hides nothing.
        key_strip(
            &key,
            &[
                (Mark::Line(CANDIDATE, 3), "best proposed architecture".into()),
                (Mark::Line(BASELINE, 2), "best seed baseline".into()),
                (Mark::Line(DISCOVERY, 2), "discoveries (verified; right axis)".into()),
            ],
        )
    }
}

/// A marker in a figure's key.
enum Mark {
    Line(RGBColor, u32),
    Point(RGBColor),
    Square,
    Dot,
    Hollow,
    Ring,
}

/// A key of `items` in one row, centred in `area` (a strip under the plot, so that it covers
/// no data).
fn key_strip<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(Mark, String)]) -> Drawn<DB> {
    const GAP: i32 = 28;
    const MARK: i32 = 26;
    let font = (FONT, 15).into_font();
    let widths: Vec<i32> =
        items.iter().map(|(_, label)| MARK + 6 + font.box_size(label).map_or(0, |(w, _)| w as i32)).collect();
    let total: i32 = widths.iter().sum::<i32>() + GAP * (items.len() as i32 - 1).max(0);
    let (width, height) = area.dim_in_pixel();
    let (mut x, y) = ((width as i32 - total).max(0) / 2, height as i32 / 2);
    let viridis_mid = ViridisRGB.get_color(0.6);
    for ((mark, label), w) in items.iter().zip(widths) {
        let centre = (x + MARK / 2, y);
        match mark {
            Mark::Line(colour, width) => {
                area.draw(&PathElement::new([(x, y), (x + MARK, y)], colour.stroke_width(*width)))?
            }
            Mark::Point(colour) => area.draw(&Circle::new(centre, 6, colour.filled()))?,
            Mark::Square => area.draw(&Rectangle::new(
                [(centre.0 - 7, y - 7), (centre.0 + 7, y + 7)],
                viridis_mid.filled(),
            ))?,
            Mark::Dot => area.draw(&Circle::new(centre, 6, viridis_mid.filled()))?,
            Mark::Hollow => area.draw(&Circle::new(centre, 6, BLACK.mix(0.6).stroke_width(1)))?,
            Mark::Ring => {
                area.draw(&Circle::new(centre, 6, viridis_mid.filled()))?;
                area.draw(&Circle::new(centre, 11, DISCOVERY.stroke_width(3)))?
            }
        }
        let style = TextStyle::from(font.clone()).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label.clone(), (x + MARK + 6, y), style))?;
        x += w + GAP;
    }
    Ok(())
}

/// Fitness against parameter count: baselines labelled, discoveries in red.
pub fn fitness_params(path: &Path, title: &str, points: &[Scatter]) -> anyhow::Result<()> {
    save(path, &Params { title, points })
}

struct Params<'a> {
    title: &'a str,
    points: &'a [Scatter],
}

impl Figure for Params<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let (plot, key) = root.split_vertically(SIZE.1 - KEY_HEIGHT);
        let params: Vec<f64> = self.points.iter().map(|p| p.params as f64).collect();
        let fitness: Vec<f64> = self.points.iter().map(|p| p.fitness).collect();
        let (x_min, x_max) = padded_range(&params);
        let (y_min, y_max) = padded_range(&fitness);
        let mut chart = ChartBuilder::on(&plot)
            .caption(format!("{}: fitness against parameters", self.title), (FONT, 24))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min.max(0.0)..x_max, y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc("parameters")
            .y_desc("exploration fitness")
            .x_label_formatter(&|x| whole(*x))
            .light_line_style(LIGHT_GRID)
            .bold_line_style(GRID)
            .label_style((FONT, 15))
            .draw()?;
        for p in self.points {
            let at = (p.params as f64, p.fitness);
            let (colour, size) = match (p.discovery, p.baseline) {
                (true, _) => (DISCOVERY, 8),
                (false, true) => (BASELINE, 6),
                (false, false) => (CANDIDATE, 5),
            };
            chart.draw_series([Circle::new(at, size, colour.filled())])?;
            if p.baseline || p.discovery {
                chart.draw_series([Text::new(
                    format!(" {}", p.label),
                    at,
                    (FONT, 13).into_font().color(&colour),
                )])?;
            }
        }
        key_strip(
            &key,
            &[
                (Mark::Point(CANDIDATE), "proposed architecture".into()),
                (Mark::Point(BASELINE), "seed baseline".into()),
                (Mark::Point(DISCOVERY), "discovery".into()),
            ],
        )
    }
}

/// A whole number for an axis: no decimals, thousands as `k` (`166k`), millions as `M`.
fn whole(x: f64) -> String {
    match x.abs() {
        a if a >= 1e6 => format!("{:.1}M", x / 1e6),
        a if a >= 1e4 => format!("{:.0}k", x / 1e3),
        _ => format!("{x:.0}"),
    }
}

/// A range around the values with a little room on each side (one value gets a unit range).
fn padded_range(values: &[f64]) -> (f64, f64) {
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !low.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((high - low) * 0.08).max(1e-3 * high.abs().max(1.0));
    (low - pad, high + pad)
}

/// A step function through the points: each value holds until the next point.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &(x, y)) in points.iter().enumerate() {
        if i > 0 {
            out.push((x, points[i - 1].1));
        }
        out.push((x, y));
    }
    out
}

/// One policy's best-fitness curves, one per campaign: `runs[c][n]` after experiment `n + 1`.
pub struct PolicyCurve {
    /// The policy's name.
    pub label: String,
    /// One curve per campaign.
    pub runs: Vec<Vec<Option<f64>>>,
}

/// Best exploration fitness against experiments for several policies: the mean over campaigns
/// as a line, the range from the worst to the best campaign as a band.
pub fn policies(path: &Path, title: &str, curves: &[PolicyCurve]) -> anyhow::Result<()> {
    save(path, &Policies { title, curves })
}

struct Policies<'a> {
    title: &'a str,
    curves: &'a [PolicyCurve],
}

/// Per experiment where every campaign has a value: (experiment, mean, min, max).
fn spread(runs: &[Vec<Option<f64>>]) -> Vec<(f64, f64, f64, f64)> {
    let len = runs.iter().map(Vec::len).min().unwrap_or(0);
    (0..len)
        .filter_map(|n| {
            let values: Option<Vec<f64>> = runs.iter().map(|r| r[n]).collect();
            let values = values.filter(|v| !v.is_empty())?;
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let (lo, hi) =
                values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
            Some(((n + 1) as f64, mean, lo, hi))
        })
        .collect()
}

impl Figure for Policies<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        const COLOURS: [RGBColor; 3] = [CANDIDATE, RGBColor(255, 127, 14), BASELINE];
        root.fill(&WHITE)?;
        let spreads: Vec<_> = self.curves.iter().map(|c| spread(&c.runs)).collect();
        let values: Vec<f64> = spreads.iter().flatten().flat_map(|&(_, _, lo, hi)| [lo, hi]).collect();
        let (y_min, y_max) = padded_range(&values);
        let x_max = spreads.iter().flatten().map(|p| p.0).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{}: best exploration fitness by policy", self.title), (FONT, 24))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.5..x_max + 0.5, y_min..y_max)?;
        chart
            .configure_mesh()
            .x_desc("experiments")
            .y_desc("best fitness (mean; band: min to max over seeds)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style((FONT, 15))
            .draw()?;
        for (i, (curve, points)) in self.curves.iter().zip(&spreads).enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let band: Vec<(f64, f64)> =
                points.iter().map(|p| (p.0, p.3)).chain(points.iter().rev().map(|p| (p.0, p.2))).collect();
            chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.18))))?;
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), colour.stroke_width(3)))?
                .label(format!("{} ({} seeds)", curve.label, curve.runs.len()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
    }
}

/// One program's accuracy at several settings: `(setting index, mean, min, max)` over seeds.
pub struct Line {
    /// The program's name.
    pub label: String,
    pub points: Vec<(usize, f64, f64, f64)>,
}

/// Accuracy (0 to 1) against settings spaced evenly and labelled `settings`, one line per
/// program with min-max whiskers over seeds.
pub fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    settings: &[String],
    lines: &[Line],
) -> anyhow::Result<()> {
    save(path, &Lines { title, x_desc, settings, lines })
}

struct Lines<'a> {
    title: &'a str,
    x_desc: &'a str,
    settings: &'a [String],
    lines: &'a [Line],
}

impl Figure for Lines<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let n = self.settings.len().max(1);
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT, 22))
            .margin(18)
            .x_label_area_size(48)
            .y_label_area_size(64)
            // Room on the right for the legend, clear of the lines.
            .build_cartesian_2d(-0.5..n as f64 + 0.6, -0.02..1.02)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(self.x_desc)
            .y_desc("MQAR accuracy (mean; whiskers: min to max over seeds)")
            .x_labels(0)
            .label_style((FONT, 15))
            .draw()?;
        // The settings' labels, under the axis at their positions.
        let style = TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, label) in self.settings.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, -0.02));
            root.draw(&Text::new(label.clone(), (x, y + 8), style.clone()))?;
        }
        for (i, line) in self.lines.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let mut points = line.points.clone();
            points.sort_by_key(|p| p.0);
            let at = |p: &(usize, f64, f64, f64)| p.0 as f64;
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (at(p), p.1)), colour.stroke_width(2)))?
                .label(&line.label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(3)));
            chart
                .draw_series(points.iter().map(|p| PathElement::new([(at(p), p.2), (at(p), p.3)], colour)))?;
            chart.draw_series(points.iter().map(|p| Circle::new((at(p), p.1), 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 14))
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
    }
}
