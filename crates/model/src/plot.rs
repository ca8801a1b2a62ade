//! curves.png: training loss and pair accuracy against epoch (the paper's Figures 5, 7, 8),
//! drawn with plotters on a bitmap and an embedded DejaVu font (no system fonts needed).

use std::path::Path;

use plotters::prelude::*;

/// One epoch's numbers as plotted.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub train_acc: f64,
    pub val_acc: Option<f64>,
}

pub(crate) fn register_font() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails for an unparsable font; DejaVu is a known-good font.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Draws loss (left) and accuracy (right) panels into a PNG at `path` (written atomically).
pub fn plot_curves(path: &Path, title: &str, points: &[CurvePoint]) -> std::io::Result<()> {
    crate::io::atomic_write_with(path, |tmp| {
        draw(tmp, title, points).map_err(|e| std::io::Error::other(format!("plotting curves: {e}")))
    })
}

fn draw(path: &Path, title: &str, points: &[CurvePoint]) -> PlotResult {
    register_font();
    let root = BitMapBackend::new(path, (1200, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (left, right) = root.split_horizontally(600);
    let last_epoch = points.iter().map(|p| p.epoch).max().unwrap_or(1).max(1) as f64;
    let x_range = 0.0..last_epoch + 0.5;

    // Loss panel.
    let max_loss = points
        .iter()
        .flat_map(|p| [Some(p.train_loss), p.val_loss])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(1e-3, f64::max);
    let mut chart = ChartBuilder::on(&left)
        .caption("loss", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range.clone(), 0.0..max_loss * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    series(
        &mut chart,
        points.iter().map(|p| (p.epoch as f64, Some(p.train_loss))),
        RED,
        "train",
    )?;
    series(
        &mut chart,
        points.iter().map(|p| (p.epoch as f64, p.val_loss)),
        BLUE,
        "validation",
    )?;
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;

    // Accuracy panel (percent).
    let min_acc = points
        .iter()
        .flat_map(|p| [Some(p.train_acc), p.val_acc])
        .flatten()
        .fold(100.0, |m: f64, v| m.min(v * 100.0));
    let lo = (min_acc - 2.0).clamp(0.0, 99.0).floor();
    let mut chart = ChartBuilder::on(&right)
        .caption("pair accuracy (%)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, lo..100.0)?;
    chart.configure_mesh().x_desc("epoch").y_desc("%").draw()?;
    series(
        &mut chart,
        points
            .iter()
            .map(|p| (p.epoch as f64, Some(p.train_acc * 100.0))),
        RED,
        "train",
    )?;
    series(
        &mut chart,
        points
            .iter()
            .map(|p| (p.epoch as f64, p.val_acc.map(|v| v * 100.0))),
        BLUE,
        "validation",
    )?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn series<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    pts: impl Iterator<Item = (f64, Option<f64>)>, color: RGBColor, label: &str,
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(f64, f64)> = pts.filter_map(|(x, y)| y.map(|y| (x, y))).collect();
    if pts.is_empty() {
        return Ok(());
    }
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_png() {
        let dir = std::env::temp_dir().join(format!("siamese-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("curves.png");
        let pts: Vec<CurvePoint> = (1..=3)
            .map(|e| CurvePoint {
                epoch: e,
                train_loss: 0.2 / e as f64,
                val_loss: Some(0.25 / e as f64),
                train_acc: 0.9 + 0.02 * e as f64,
                val_acc: Some(0.88 + 0.02 * e as f64),
            })
            .collect();
        plot_curves(&p, "test", &pts).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
