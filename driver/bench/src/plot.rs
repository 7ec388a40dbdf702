//! PNG plots drawn by the benchmarks themselves (plotters' bitmap backend). Text is drawn with
//! ab_glyph from a TTF read at run time (`BENCH_FONT`, else DejaVu Sans where distributions put
//! it): no system font library is linked. Without a font, the plots are drawn without text.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// Where a TTF is looked for when `BENCH_FONT` is not set.
const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Colours of the series, in order.
const COLOURS: [RGBColor; 4] =
    [RGBColor(0, 90, 200), RGBColor(220, 80, 0), RGBColor(0, 150, 60), RGBColor(150, 0, 150)];

fn font_loaded() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        let path = std::env::var("BENCH_FONT")
            .ok()
            .or_else(|| FONT_CANDIDATES.iter().find(|p| Path::new(p).exists()).map(|p| p.to_string()));
        let Some(bytes) = path.and_then(|p| std::fs::read(p).ok()) else {
            eprintln!("plot: no TTF found (set BENCH_FONT); drawing without text");
            return false;
        };
        register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice())).is_ok()
    })
}

/// One line of a plot.
pub struct Series<'a> {
    /// Legend.
    pub name: &'a str,
    /// Points, x ascending.
    pub points: Vec<(f64, f64)>,
}

/// A latency CDF: `samples_ms` per series (need not be sorted), x logarithmic in ms.
pub fn latency_cdf(path: &Path, title: &str, series: &[(&str, Vec<f64>)]) -> Result<(), String> {
    let lines: Vec<Series<'_>> = series
        .iter()
        .map(|(name, samples)| {
            let mut s = samples.clone();
            s.sort_by(f64::total_cmp);
            let n = s.len().max(1) as f64;
            Series {
                name,
                points: s.iter().enumerate().map(|(i, v)| (v.max(1e-3), (i + 1) as f64 / n)).collect(),
            }
        })
        .collect();
    line_plot(path, title, "latency (ms, log scale)", "fraction of lookups", &lines, true, false)
}

/// A line plot; `log_x` / `log_y` choose logarithmic axes.
pub fn line_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series<'_>],
    log_x: bool,
    log_y: bool,
) -> Result<(), String> {
    let text = font_loaded();
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Err("nothing to plot".into());
    }
    let (x0, x1) = if log_x { (x0 / 1.5, x1 * 1.5) } else { (x0.min(0.0), x1 * 1.05) };
    let (y0, y1) =
        if log_y { (y0 / 1.5, y1 * 1.5) } else { (y0.min(0.0), if y1 <= 1.0 { 1.02 } else { y1 * 1.1 }) };
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder.caption(title, ("sans-serif", 24)).x_label_area_size(45).y_label_area_size(65);
    }
    let draw = |chart_result: Result<(), String>| chart_result;
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc(x_label).y_desc(y_label).label_style(("sans-serif", 15));
            } else {
                mesh.disable_x_axis().disable_y_axis();
            }
            mesh.draw().map_err(|e| e.to_string())?;
            for (i, s) in series.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let drawn = chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), colour.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                if text {
                    drawn.label(s.name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
                }
                if s.points.len() <= 32 {
                    chart
                        .draw_series(s.points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                        .map_err(|e| e.to_string())?;
                }
            }
            if text {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperLeft)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 16))
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
            Ok(())
        }};
    }
    let result = match (log_x, log_y) {
        (true, false) => {
            draw(body!(builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1).map_err(|e| e.to_string())?))
        }
        (false, true) => {
            draw(body!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(|e| e.to_string())?))
        }
        (true, true) => draw(body!(
            builder
                .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
                .map_err(|e| e.to_string())?
        )),
        (false, false) => draw(body!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(|e| e.to_string())?)),
    };
    result?;
    root.present().map_err(|e| e.to_string())
}
