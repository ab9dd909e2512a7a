//! The report's SVG plots (plotters).

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::full_palette::{BLUE_600, CYAN_800, GREEN_600, GREEN_700, ORANGE_600};

use crate::calibrate::PointJson;
use crate::schema::{DriftReport, MethodReport, MethodRun, Report, TargetPoint};

pub(super) fn plot_tradeoff(
    path: &Path,
    methods: &[MethodReport],
    frontier: &[PointJson],
) -> Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xs = methods
        .iter()
        .map(|m| m.edge_energy_j)
        .chain(frontier.iter().map(|p| p.edge_energy_j))
        .filter(|v| *v > 0.0);
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo / 2.0, hi * 2.0)
    } else {
        (1e-9, 1e-1)
    };
    let accs = methods
        .iter()
        .map(|m| m.accuracy)
        .chain(frontier.iter().map(|p| p.accuracy));
    let (alo, ahi) = accs.fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Accuracy vs edge energy per sample (log scale)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (lo..hi).log_scale(),
            (alo - 0.01).max(0.0)..(ahi + 0.01).min(1.0),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("edge energy per sample (J)")
        .y_desc("accuracy")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(err)?;
    if !frontier.is_empty() {
        chart
            .draw_series(LineSeries::new(
                frontier.iter().map(|p| (p.edge_energy_j, p.accuracy)),
                BLUE.mix(0.5),
            ))
            .map_err(err)?
            .label("calibration frontier (validation)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.mix(0.5)));
    }
    let palette = [RED, GREEN_700, MAGENTA, CYAN_800, BLACK];
    for (m, color) in methods.iter().zip(palette.iter().cycle()) {
        let c = *color;
        chart
            .draw_series(std::iter::once(Circle::new(
                (m.edge_energy_j.max(lo), m.accuracy),
                6,
                c.filled(),
            )))
            .map_err(err)?
            .label(format!("{} ({:.2}%)", m.name, 100.0 * m.accuracy))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

pub(super) fn plot_exits_per_class(path: &Path, run: &MethodRun, report: &Report) -> Result<()> {
    // Every class, or past MAX_CLASSES_SHOWN the hard classes MEANet gets most wrong.
    let shown = super::classes_shown(
        report.classes.len(),
        &report.hard_classes,
        &run.outcomes,
        &run.labels,
    );
    let c = shown.len();
    let mut counts = vec![[0usize; 3]; c];
    for (o, &label) in run.outcomes.iter().zip(&run.labels) {
        let e = match o.exit {
            meanet_core::Exit::Main => 0,
            meanet_core::Exit::Extension => 1,
            meanet_core::Exit::Cloud => 2,
        };
        if let Some(k) = shown.iter().position(|a| a.class == label) {
            counts[k][e] += 1;
        }
    }
    let caption = if c == report.classes.len() {
        "MEANet: share of exits per true class (hard classes marked *)".to_string()
    } else {
        format!(
            "MEANet: exits of the {c} hard classes it gets most wrong ({} hard of {} classes)",
            report.hard_classes.len(),
            report.classes.len()
        )
    };
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..c as f64, 0f64..1f64)
        .map_err(err)?;
    let names: Vec<String> = shown
        .iter()
        .map(|a| {
            let n = report.classes.get(a.class).map_or("?", String::as_str);
            if report.hard_classes.contains(&a.class) {
                format!("{n}*")
            } else {
                n.to_string()
            }
        })
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * c + 1)
        .x_label_formatter(&|v| {
            // One label per bar, at its centre (k + 0.5).
            let k = v.floor();
            if ((v - k) - 0.5).abs() < 1e-6 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("share of the class's samples")
        .draw()
        .map_err(err)?;
    let colors = [GREEN_600, ORANGE_600, BLUE_600];
    let labels = ["main", "extension", "cloud"];
    for e in 0..3 {
        let color = colors[e];
        chart
            .draw_series(counts.iter().enumerate().map(|(k, row)| {
                let total = row.iter().sum::<usize>().max(1) as f64;
                let below: f64 = row[..e].iter().sum::<usize>() as f64 / total;
                let top = below + row[e] as f64 / total;
                Rectangle::new(
                    [(k as f64 + 0.15, below), (k as f64 + 0.85, top)],
                    color.filled(),
                )
            }))
            .map_err(err)?
            .label(labels[e])
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

pub(super) fn plot_entropy(path: &Path, run: &MethodRun, report: &Report) -> Result<()> {
    let bins = 30usize;
    let max = (report.classes.len() as f64).ln();
    let mut hist = [vec![0usize; bins], vec![0usize; bins]];
    for (o, label) in run.outcomes.iter().zip(&run.labels) {
        let hard = report.hard_classes.contains(label);
        let b = ((o.main.entropy / max) * bins as f64)
            .floor()
            .clamp(0.0, bins as f64 - 1.0) as usize;
        hist[usize::from(hard)][b] += 1;
    }
    let norm: Vec<Vec<f64>> = hist
        .iter()
        .map(|h| {
            let t = h.iter().sum::<usize>().max(1) as f64;
            h.iter().map(|&v| v as f64 / t).collect()
        })
        .collect();
    let ymax = norm.iter().flatten().copied().fold(0.0, f64::max).max(0.01) * 1.1;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Main-block entropy (nats) of test samples, easy vs hard classes",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..max, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("entropy of the main block's softmax (nats)")
        .y_desc("share of samples")
        .draw()
        .map_err(err)?;
    for (k, (name, color)) in [("easy classes", GREEN_700), ("hard classes", RED)]
        .into_iter()
        .enumerate()
    {
        let w = max / bins as f64;
        chart
            .draw_series(norm[k].iter().enumerate().map(|(b, &v)| {
                let x0 = b as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, v)], color.mix(0.45).filled())
            }))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.45).filled())
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

pub(super) fn plot_targets(path: &Path, points: &[TargetPoint]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xs = points.iter().map(|p| p.test_offload);
    let ys = points.iter().map(|p| p.test_accuracy);
    let xhi = xs.fold(0.05f64, f64::max) + 0.03;
    let (ylo, yhi) = ys.fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Test accuracy vs test offload share, each point calibrated on validation for a target",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0f64..xhi, (ylo - 0.003).max(0.0)..(yhi + 0.003).min(1.0))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offload share (test)")
        .y_desc("accuracy (test)")
        .draw()
        .map_err(err)?;
    for (method, color) in [
        ("meanet", BLUE_600),
        ("meanet_per_class", GREEN_700),
        ("entropy_exit", ORANGE_600),
    ] {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.method == method)
            .map(|p| (p.test_offload, p.test_accuracy))
            .collect();
        if !pts.is_empty() {
            line_with_dots(&mut chart, pts, method, color)?;
        }
    }
    legend_and_present(&mut chart, &root, SeriesLabelPosition::LowerRight)
}

pub(super) fn plot_drift(path: &Path, d: &DriftReport) -> Result<()> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let n = d.static_share.len().max(d.online_share.len()).max(1);
    let top = d
        .static_share
        .iter()
        .chain(&d.online_share)
        .fold(d.target + 0.05, |a, v| a.max(*v + 0.03))
        .min(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Offload share per {}-sample window; hard classes {:.0}% then {:.0}% of the stream",
                d.window,
                d.hard_share[0] * 100.0,
                d.hard_share[1] * 100.0
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0.5f64..n as f64 + 0.5, 0.0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("window")
        .y_desc("offload share")
        .draw()
        .map_err(err)?;
    let band = [(d.target - 0.03).max(0.0), d.target + 0.03];
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.5, band[0]), (n as f64 + 0.5, band[1])],
            GREEN_600.mix(0.15).filled(),
        )))
        .map_err(err)?
        .label("target +/- 3 pp")
        .legend(|(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], GREEN_600.mix(0.3).filled())
        });
    for (name, v, color) in [
        ("static thresholds", &d.static_share, ORANGE_600),
        ("online controller", &d.online_share, BLUE_600),
    ] {
        let pts: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(k, s)| (k as f64 + 1.0, *s))
            .collect();
        line_with_dots(&mut chart, pts, name, color)?;
    }
    legend_and_present(&mut chart, &root, SeriesLabelPosition::UpperLeft)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One labelled series: a line through `pts` with a dot on each.
fn line_with_dots(
    chart: &mut Chart<'_, '_>,
    pts: Vec<(f64, f64)>,
    label: &str,
    color: RGBColor,
) -> Result<()> {
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
        .map_err(err)?;
    Ok(())
}

/// Draws the legend at `position` and writes the file.
fn legend_and_present<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    root: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}
