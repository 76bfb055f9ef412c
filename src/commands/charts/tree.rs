//! The family tree: every architecture at its experiment, in lineage lanes from its seed
//! baseline, coloured by fitness on a colour bar, with a key.

use super::*;

/// Architectures by experiment (x) in lineage lanes (y), joined to their parents, coloured by
/// exploration fitness on a colour bar; baselines are squares named at the left, discoveries
/// ringed in red; candidates are labelled by id (all of them in a small tree, the best and the
/// discoveries in a large one).
pub fn family_tree(path: &Path, title: &str, nodes: &[Node]) -> anyhow::Result<()> {
    save(path, &Tree { title, nodes })
}

struct Tree<'a> {
    title: &'a str,
    nodes: &'a [Node],
}

/// Trees with more nodes than this label only their best and their discoveries.
const LABEL_ALL_UP_TO: usize = 60;
/// How many of the best candidates a large tree labels.
const LABEL_BEST: usize = 8;

impl Figure for Tree<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
        root.fill(&WHITE)?;
        let (plot, key) = root.split_vertically(SIZE.1 - KEY_HEIGHT);
        let (plot, bar) = plot.split_horizontally(SIZE.0 - 110);
        let nodes = self.nodes;
        let x_max = nodes.iter().map(|n| n.experiment).max().unwrap_or(0) as f64 + 1.0;
        let y_max = nodes.iter().map(|n| n.lane).fold(0.0, f64::max) + 0.6;
        let scored: Vec<f64> = nodes.iter().filter_map(|n| n.fitness).collect();
        let (low, high) = (
            scored.iter().copied().fold(f64::MAX, f64::min),
            scored
                .iter()
                .copied()
                .fold(f64::MIN, f64::max)
                .max(scored.iter().copied().fold(f64::MAX, f64::min) + 1e-9),
        );
        let colour = |fitness: f64| ViridisRGB.get_color_normalized(fitness, low, high);
        let mut chart = ChartBuilder::on(&plot)
            .caption(format!("{}: family tree", self.title), (FONT, 24))
            .margin(18)
            .x_label_area_size(48)
            // The baselines' names, left of their squares.
            .y_label_area_size(150)
            .build_cartesian_2d(-0.5..x_max * 1.03, -0.6..y_max)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .disable_y_axis()
            .x_desc("experiment (0: the seed baselines)")
            .x_label_formatter(&|x| if *x >= 0.0 { format!("{x:.0}") } else { String::new() })
            .label_style((FONT, 15))
            .draw()?;
        let at = |n: &Node| (n.experiment as f64, n.lane);
        chart.draw_series(nodes.iter().filter_map(|n| {
            let parent = &nodes[n.parent?];
            Some(PathElement::new([at(parent), at(n)], BLACK.mix(0.35)))
        }))?;
        let labelled = labelled(nodes);
        let name_style = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (i, node) in nodes.iter().enumerate() {
            let style = match node.fitness {
                Some(f) => colour(f).filled(),
                None => BLACK.mix(0.6).stroke_width(1),
            };
            if node.baseline {
                chart.draw_series([Rectangle::new(
                    [(-0.2, node.lane - 0.2), (0.2, node.lane + 0.2)],
                    style,
                )])?;
                let (x, y) = chart.backend_coord(&(-0.35, node.lane));
                root.draw(&Text::new(node.label.clone(), (x, y), name_style.clone()))?;
                continue;
            }
            chart.draw_series([Circle::new(at(node), 6, style)])?;
            if node.discovery {
                chart.draw_series([Circle::new(at(node), 11, DISCOVERY.stroke_width(3))])?;
            }
            if labelled.contains(&i) {
                let colour = if node.discovery { DISCOVERY } else { RGBColor(40, 40, 40) };
                let label = format!("  {}", node.label);
                chart.draw_series([Text::new(label, at(node), (FONT, 11).into_font().color(&colour))])?;
            }
        }
        colour_bar(&bar, low, high)?;
        key_strip(
            &key,
            &[
                (Mark::Square, "seed baseline".into()),
                (Mark::Dot, "proposed, scored (colour: exploration fitness)".into()),
                (Mark::Hollow, "never scored (rejected, abandoned or failed)".into()),
                (Mark::Ring, "discovery".into()),
            ],
        )
    }
}

/// The candidates a tree labels: every one in a small tree; in a large one the best
/// [`LABEL_BEST`] and every discovery.
fn labelled(nodes: &[Node]) -> Vec<usize> {
    let candidates: Vec<usize> = (0..nodes.len()).filter(|&i| !nodes[i].baseline).collect();
    if nodes.len() <= LABEL_ALL_UP_TO {
        return candidates;
    }
    let mut best: Vec<usize> = candidates.iter().copied().filter(|&i| nodes[i].fitness.is_some()).collect();
    best.sort_by(|&a, &b| nodes[b].fitness.unwrap_or(0.0).total_cmp(&nodes[a].fitness.unwrap_or(0.0)));
    best.truncate(LABEL_BEST);
    best.extend(candidates.into_iter().filter(|&i| nodes[i].discovery));
    best
}

/// A vertical colour bar from `low` (bottom) to `high` (top) in the viridis map, with ticks.
fn colour_bar<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, low: f64, high: f64) -> Drawn<DB> {
    const STEPS: i32 = 64;
    let mut chart = ChartBuilder::on(area)
        .caption("fitness", (FONT, 14))
        .margin_top(30)
        .margin_bottom(66)
        .margin_right(8)
        .y_label_area_size(0)
        .right_y_label_area_size(56)
        .build_cartesian_2d(0.0..1.0, low..high)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|y| format!("{y:.3}"))
        .label_style((FONT, 13))
        .draw()?;
    let step = (high - low) / STEPS as f64;
    chart.draw_series((0..STEPS).map(|i| {
        let y = low + step * i as f64;
        Rectangle::new(
            [(0.0, y), (1.0, y + step)],
            ViridisRGB.get_color_normalized(y + step / 2.0, low, high).filled(),
        )
    }))?;
    Ok(())
}
