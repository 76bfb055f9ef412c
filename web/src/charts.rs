//! The pages' figures as inline SVG, drawn on the server from the same state the tables show:
//! the discovery curve, fitness against parameters, loss curves, the family tree and the
//! provenance chain. Every label goes through [`esc`].

use std::collections::HashMap;
use std::fmt::Write;

use crate::html::esc;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A linear scale from data to pixels, with round tick values.
struct Scale {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>, from: f64, to: f64) -> Self {
        let (mut lo, mut hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            // One value: a range around it of its own magnitude.
            let half = (lo.abs() * 0.05).max(1e-3);
            (lo, hi) = (lo - half, hi + half);
        }
        let pad = (hi - lo) * 0.05;
        Self { lo: lo - pad, hi: hi + pad, from, to }
    }

    fn at(&self, v: f64) -> f64 {
        self.from + (v - self.lo) / (self.hi - self.lo) * (self.to - self.from)
    }

    /// About five round values inside the range.
    fn ticks(&self) -> Vec<f64> {
        let raw = (self.hi - self.lo) / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
        let mut t = (self.lo / step).ceil() * step;
        let mut out = Vec::new();
        while t <= self.hi && out.len() < 12 {
            // Snap values a rounding error off zero, which would print as "-0".
            out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
            t += step;
        }
        out
    }
}

fn tick_label(v: f64, integer: bool) -> String {
    if integer {
        format!("{}", v.round() as i64)
    } else if v.abs() >= 1e5 {
        format!("{:.0}k", v / 1e3)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// The frame, grid and labelled axes of a plot.
fn axes(svg: &mut String, x: &Scale, y: &Scale, x_label: &str, y_label: &str, x_integer: bool) {
    for t in y.ticks() {
        let py = y.at(t);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\"/><text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            tick_label(t, false)
        );
    }
    let x_ticks = x.ticks();
    for t in x_ticks.iter().filter(|t| !x_integer || t.fract() == 0.0) {
        let px = x.at(*t);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            tick_label(*t, x_integer)
        );
    }
    let _ = write!(
        svg,
        "<rect class=\"frame\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\"/>\
         <text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
         <text class=\"label\" transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        WIDTH - LEFT - RIGHT,
        HEIGHT - TOP - BOTTOM,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 6.0,
        esc(x_label),
        (TOP + HEIGHT - BOTTOM) / 2.0,
        esc(y_label)
    );
}

fn open(class: &str, title: &str) -> String {
    format!(
        "<svg class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title)
    )
}

/// Viridis, interpolated between five stops: `t` in [0, 1].
pub fn colour(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// One architecture as the figures draw it.
pub struct Point<'a> {
    /// Its id (links and hover labels).
    pub arch: &'a str,
    /// Its page.
    pub href: String,
    /// The experiment that proposed it (0 for a seed baseline).
    pub experiment: u32,
    /// Its parent, if any.
    pub parent: Option<&'a str>,
    /// Exploration fitness, once assigned.
    pub fitness: Option<f64>,
    /// Parameters, once known.
    pub params: Option<u64>,
    /// Verified as a discovery.
    pub discovery: bool,
    /// A seed baseline.
    pub baseline: bool,
}

/// Best exploration fitness so far against experiments, with every scored experiment as a dot.
pub fn discovery_curve(points: &[Point]) -> String {
    let scored: Vec<&Point> = points.iter().filter(|p| p.fitness.is_some() && !p.baseline).collect();
    let baseline_best =
        points.iter().filter(|p| p.baseline).filter_map(|p| p.fitness).fold(f64::NEG_INFINITY, f64::max);
    let mut svg = open("curve", "best fitness against experiments");
    if scored.is_empty() {
        svg.push_str("<text class=\"empty\" x=\"320\" y=\"150\" text-anchor=\"middle\">no experiment scored yet</text></svg>");
        return svg;
    }
    let max_experiment = scored.iter().map(|p| p.experiment).max().unwrap_or(1).max(1);
    let x = Scale { lo: 0.0, hi: max_experiment as f64 + 0.5, from: LEFT, to: WIDTH - RIGHT };
    let fitnesses =
        scored.iter().filter_map(|p| p.fitness).chain(baseline_best.is_finite().then_some(baseline_best));
    let y = Scale::new(fitnesses, HEIGHT - BOTTOM, TOP);
    axes(&mut svg, &x, &y, "experiment", "exploration fitness", true);
    if baseline_best.is_finite() {
        let py = y.at(baseline_best);
        let _ = write!(
            svg,
            "<line class=\"reference\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{py:.1}\" y2=\"{py:.1}\"><title>best baseline {baseline_best:.4}</title></line>",
            WIDTH - RIGHT
        );
    }
    let mut by_experiment: Vec<&Point> = scored.clone();
    by_experiment.sort_by_key(|p| p.experiment);
    // A step line: flat until an experiment beats the best so far, then up to it.
    let (mut best, mut path) = (f64::NEG_INFINITY, String::new());
    for p in &by_experiment {
        let f = p.fitness.unwrap_or(f64::NEG_INFINITY);
        if f > best {
            let (px, py) = (x.at(p.experiment as f64), y.at(f));
            if best.is_finite() {
                let _ = write!(path, " H{px:.1} V{py:.1}");
            } else {
                let _ = write!(path, "M{px:.1},{py:.1}");
            }
            best = f;
        }
    }
    let _ = write!(path, " H{:.1}", WIDTH - RIGHT);
    let _ = write!(svg, "<path class=\"best\" d=\"{path}\"/>");
    for p in &by_experiment {
        let f = p.fitness.unwrap_or_default();
        let _ = write!(
            svg,
            "<a href=\"{}\"><circle class=\"dot{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\"><title>{} (experiment {}): fitness {f:.4}</title></circle></a>",
            esc(&p.href),
            if p.discovery { " discovery" } else { "" },
            x.at(p.experiment as f64),
            y.at(f),
            if p.discovery { 6 } else { 4 },
            esc(p.arch),
            p.experiment
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Exploration fitness against parameters.
pub fn fitness_against_params(points: &[Point]) -> String {
    let shown: Vec<&Point> = points.iter().filter(|p| p.fitness.is_some() && p.params.is_some()).collect();
    let mut svg = open("scatter", "fitness against parameters");
    if shown.is_empty() {
        svg.push_str("<text class=\"empty\" x=\"320\" y=\"150\" text-anchor=\"middle\">nothing trained yet</text></svg>");
        return svg;
    }
    let x = Scale::new(shown.iter().filter_map(|p| p.params.map(|n| n as f64)), LEFT, WIDTH - RIGHT);
    let y = Scale::new(shown.iter().filter_map(|p| p.fitness), HEIGHT - BOTTOM, TOP);
    axes(&mut svg, &x, &y, "parameters", "exploration fitness", true);
    for p in shown {
        let (px, py) = (x.at(p.params.unwrap_or_default() as f64), y.at(p.fitness.unwrap_or_default()));
        let class = if p.baseline {
            "dot baseline"
        } else if p.discovery {
            "dot discovery"
        } else {
            "dot"
        };
        let _ = write!(
            svg,
            "<a href=\"{}\"><circle class=\"{class}\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5\"><title>{}: {} parameters, fitness {:.4}</title></circle></a>",
            esc(&p.href),
            esc(p.arch),
            p.params.unwrap_or_default(),
            p.fitness.unwrap_or_default()
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Categorical colours for tasks.
const TASK_COLOURS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

/// One run's loss curve: its label and `(step, loss, task)` points, `task` indexing the names
/// given to [`loss_curves`].
pub type Curve = (String, Vec<(u32, f64, usize)>);

/// Training loss against step: a line per run, each point coloured by the task that step
/// trained; the keys below the plot, where they cover no data.
pub fn loss_curves(runs: &[Curve], tasks: &[String]) -> String {
    let mut svg = open("losses", "training loss against step");
    let all = || runs.iter().flat_map(|(_, s)| s.iter());
    if all().next().is_none() {
        svg.push_str(
            "<text class=\"empty\" x=\"320\" y=\"150\" text-anchor=\"middle\">not trained yet</text></svg>",
        );
        return svg;
    }
    let x = Scale::new(all().map(|p| p.0 as f64), LEFT, WIDTH - RIGHT);
    let y = Scale::new(all().map(|p| p.1), HEIGHT - BOTTOM, TOP);
    axes(&mut svg, &x, &y, "step", "training loss", true);
    let mut keys = String::from("<ul class=\"keys\">");
    for (i, (label, points)) in runs.iter().enumerate() {
        let line = colour(if runs.len() > 1 { 0.85 * i as f64 / (runs.len() - 1) as f64 } else { 0.3 });
        let d: Vec<String> =
            points.iter().map(|p| format!("{:.1},{:.1}", x.at(p.0 as f64), y.at(p.1))).collect();
        let _ = write!(
            svg,
            "<polyline class=\"series\" stroke=\"{line}\" points=\"{}\"><title>{}</title></polyline>",
            d.join(" "),
            esc(label)
        );
        for (step, loss, task) in points {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{}: step {step}, {}, loss {loss:.4}</title></circle>",
                x.at(*step as f64),
                y.at(*loss),
                TASK_COLOURS[task % TASK_COLOURS.len()],
                esc(label),
                esc(tasks.get(*task).map_or("", String::as_str))
            );
        }
        let _ =
            write!(keys, "<li><span class=\"swatch\" style=\"background:{line}\"></span>{}</li>", esc(label));
    }
    for (t, task) in tasks.iter().enumerate() {
        let _ = write!(
            keys,
            "<li><span class=\"dot\" style=\"background:{}\"></span>a step of {}</li>",
            TASK_COLOURS[t % TASK_COLOURS.len()],
            esc(task)
        );
    }
    svg.push_str("</svg>");
    keys.push_str("</ul>");
    svg + &keys
}

/// The family tree: architectures by experiment (across) and generation (down), edges from
/// parent to child, coloured by fitness with a colour bar; discoveries ringed. Wheel and drag
/// zoom and pan it (dashboard.js).
pub fn family_tree(points: &[Point]) -> String {
    let depth_of = depths(points);
    let max_depth = depth_of.values().copied().max().unwrap_or(0);
    let max_experiment = points.iter().map(|p| p.experiment).max().unwrap_or(0);
    let height = (TOP + BOTTOM + 70.0 * (max_depth as f64 + 1.0)).max(200.0);
    // Seed baselines spread along the top row; experiments along their own column.
    let baselines: Vec<&Point> = points.iter().filter(|p| p.experiment == 0).collect();
    let columns = (max_experiment as usize).max(baselines.len()).max(1);
    let step = (WIDTH - LEFT - RIGHT - 60.0) / columns as f64;
    let mut position: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut per_column: HashMap<u32, usize> = HashMap::new();
    for p in points {
        let depth = depth_of.get(p.arch).copied().unwrap_or(0);
        let x = if p.experiment == 0 {
            let i = baselines.iter().position(|b| b.arch == p.arch).unwrap_or(0);
            LEFT + step * (i as f64 + 0.5) * (columns as f64 / baselines.len().max(1) as f64)
        } else {
            LEFT + step * (p.experiment as f64 - 0.5)
        };
        // Several candidates of one experiment stack a little apart.
        let nth = per_column.entry(p.experiment).or_default();
        let y = TOP + 20.0 + 70.0 * depth as f64 + if p.experiment == 0 { 0.0 } else { 12.0 * *nth as f64 };
        *nth += 1;
        position.insert(p.arch, (x, y));
    }
    let fitness = Scale::new(points.iter().filter_map(|p| p.fitness), 0.0, 1.0);
    let mut svg = format!(
        "<svg class=\"chart tree\" data-zoom viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"family tree\" xmlns=\"http://www.w3.org/2000/svg\"><g class=\"viewport\">"
    );
    for p in points {
        if let (Some(parent), Some(&(x, y))) = (p.parent, position.get(p.arch))
            && let Some(&(px, py)) = position.get(parent)
        {
            let _ = write!(
                svg,
                "<line class=\"edge\" x1=\"{px:.1}\" y1=\"{py:.1}\" x2=\"{x:.1}\" y2=\"{y:.1}\"/>"
            );
        }
    }
    for p in points {
        let (x, y) = position[p.arch];
        let fill = p.fitness.map_or("#bbbbbb".to_owned(), |f| colour(fitness.at(f)));
        let shape = if p.baseline {
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{fill}\"",
                x - 6.0,
                y - 6.0
            )
        } else {
            format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"6\" fill=\"{fill}\"")
        };
        let _ = write!(
            svg,
            "<a href=\"{}\">{shape} class=\"node{}\"><title>{} — fitness {}</title></{}>\
             <text class=\"node-label\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></a>",
            esc(&p.href),
            if p.discovery { " discovery" } else { "" },
            esc(p.arch),
            p.fitness.map_or("not scored".to_owned(), |f| format!("{f:.4}")),
            if p.baseline { "rect" } else { "circle" },
            y + 18.0,
            esc(p.arch)
        );
    }
    svg.push_str("</g>");
    // The colour bar, outside the zoomed group.
    let bar_x = WIDTH - RIGHT - 14.0;
    for i in 0..20 {
        let t = 1.0 - i as f64 / 19.0;
        let _ = write!(
            svg,
            "<rect x=\"{bar_x}\" y=\"{:.1}\" width=\"10\" height=\"6\" fill=\"{}\"/>",
            TOP + 6.0 * i as f64,
            colour(t)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></svg>",
        bar_x - 3.0,
        TOP + 8.0,
        tick_label(fitness.hi, false),
        bar_x - 3.0,
        TOP + 120.0,
        tick_label(fitness.lo, false)
    );
    svg
}

/// Generation of each architecture: 0 for a root, its parent's + 1 otherwise.
fn depths<'a>(points: &[Point<'a>]) -> HashMap<&'a str, usize> {
    let parent: HashMap<&str, &str> = points.iter().filter_map(|p| Some((p.arch, p.parent?))).collect();
    points
        .iter()
        .map(|p| {
            let (mut depth, mut at) = (0, p.arch);
            while let Some(&up) = parent.get(at) {
                depth += 1;
                at = up;
                if depth > points.len() {
                    break; // a cycle cannot be recorded; never loop on one
                }
            }
            (p.arch, depth)
        })
        .collect()
}

/// One step of a provenance chain: the architecture and the evidence its proposal cited.
pub struct ChainStep {
    /// The architecture.
    pub arch: String,
    /// Its page.
    pub href: String,
    /// A short line under it (phase, fitness).
    pub note: String,
    /// Cited events: (label, href).
    pub evidence: Vec<(String, String)>,
}

/// The provenance chain, seed baseline at the top, each step with the events it cited beside it.
pub fn provenance_graph(steps: &[ChainStep]) -> String {
    let row = 64.0;
    let height = TOP * 2.0 + row * steps.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"chart provenance\" viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"provenance graph\" xmlns=\"http://www.w3.org/2000/svg\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>"
    );
    for (i, step) in steps.iter().enumerate() {
        let y = TOP + row * i as f64;
        if i > 0 {
            let _ = write!(
                svg,
                "<line class=\"edge\" x1=\"120\" y1=\"{:.1}\" x2=\"120\" y2=\"{:.1}\" marker-end=\"url(#arrow)\"/>",
                y - row + 40.0,
                y
            );
        }
        let _ = write!(
            svg,
            "<a href=\"{}\"><rect class=\"step\" x=\"20\" y=\"{y:.1}\" width=\"200\" height=\"40\" rx=\"6\"/>\
             <text class=\"step-name\" x=\"120\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"step-note\" x=\"120\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></a>",
            esc(&step.href),
            y + 17.0,
            esc(&step.arch),
            y + 32.0,
            esc(&step.note)
        );
        for (j, (label, href)) in step.evidence.iter().enumerate().take(4) {
            let ex = 280.0 + 88.0 * j as f64;
            let _ = write!(
                svg,
                "<line class=\"cite\" x1=\"{ex:.1}\" y1=\"{:.1}\" x2=\"220\" y2=\"{:.1}\" marker-end=\"url(#arrow)\"/>\
                 <a href=\"{}\"><rect class=\"evidence\" x=\"{ex:.1}\" y=\"{:.1}\" width=\"80\" height=\"28\" rx=\"4\"/>\
                 <text class=\"step-note\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text></a>",
                y + 20.0,
                y + 20.0,
                esc(href),
                y + 6.0,
                ex + 40.0,
                y + 24.0,
                esc(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point<'a>(arch: &'a str, experiment: u32, parent: Option<&'a str>, fitness: f64) -> Point<'a> {
        Point {
            arch,
            href: format!("/a/{arch}"),
            experiment,
            parent,
            fitness: Some(fitness),
            params: Some(1000 + experiment as u64),
            discovery: false,
            baseline: experiment == 0,
        }
    }

    #[test]
    fn figures_escape_names_and_draw_every_architecture() {
        let points = [
            point("base", 0, None, 0.5),
            point("e0001", 1, Some("base"), 0.6),
            point("<x>", 2, Some("e0001"), 0.4),
        ];
        for svg in [discovery_curve(&points), fitness_against_params(&points), family_tree(&points)] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
            assert!(!svg.contains("<x>"), "a name is escaped: {svg}");
        }
        let tree = family_tree(&points);
        assert_eq!(tree.matches("class=\"edge\"").count(), 2, "one edge per parent link");
        assert_eq!(tree.matches("class=\"node\"").count(), 3, "one node per architecture");
    }

    #[test]
    fn the_colour_scale_runs_from_dark_to_bright() {
        assert_eq!(colour(0.0), "#440154");
        assert_eq!(colour(1.0), "#fde725");
        assert_eq!(colour(f64::NAN), "#440154");
    }
}
