//! `--plot FILE.svg`: the sweep as two charts, bandwidth and median latency by message size
//! (log2 axis), one line per operation.

use std::path::Path;

use plotters::prelude::*;

use crate::{human_size, Op, Point, Report};

const COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
];

/// Draws `r` into an SVG file at `path`.
pub fn draw(path: &Path, r: &Report) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("--plot {}: {e}", path.display());
    let root = SVGBackend::new(path, (960, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let root = root
        .titled(
            &format!(
                "ndkperf {}: transport {}, depth {}, {} requests per point",
                r.version, r.backend, r.depth, r.iters
            ),
            ("sans-serif", 20),
        )
        .map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(370);
    chart(&top, r, "Bandwidth", "Gb/s", |p| p.gbps).map_err(|e| err(&e))?;
    chart(
        &bottom,
        r,
        "Median latency (post to completion)",
        "us",
        |p| p.latency_ns.p50 as f64 / 1000.0,
    )
    .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn chart(
    area: &Area<'_>,
    r: &Report,
    title: &str,
    unit: &str,
    y: impl Fn(&Point) -> f64,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let log2 = |s: u32| f64::from(s).log2();
    let (mut lo, mut hi) = r.points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(log2(p.size)), hi.max(log2(p.size)))
    });
    if lo > hi {
        (lo, hi) = (6.0, 16.0);
    }
    if hi - lo < 1.0 {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let top = r.points.iter().map(&y).fold(0.0f64, f64::max).max(1e-9) * 1.1;
    let mut c = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(lo..hi, 0.0..top)?;
    c.configure_mesh()
        .x_desc("message size")
        .y_desc(unit)
        .x_labels(((hi - lo) as usize + 1).clamp(2, 24))
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 && *x >= 0.0 && *x < 32.0 {
                human_size(1u32 << x.round() as u32)
            } else {
                String::new()
            }
        })
        .draw()?;
    for (k, op) in [Op::Send, Op::Write, Op::Read].into_iter().enumerate() {
        let pts: Vec<(f64, f64)> = r
            .points
            .iter()
            .filter(|p| p.op == op)
            .map(|p| (log2(p.size), y(p)))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let color = COLORS[k];
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(op.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
