//! curves.png: training loss and pair accuracy against epoch (the paper's Figures 5, 7, 8),
//! drawn with plotters on a bitmap and an embedded DejaVu font (no system fonts needed).

use std::path::Path;

#[cfg(feature = "plot")]
use plotters::prelude::*;
#[cfg(feature = "plot")]
use siamese_data::picture::PaintResult;

/// One epoch's numbers as plotted.
#[derive(Clone, Debug, PartialEq)]
pub struct CurvePoint {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: Option<f64>,
    pub train_acc: f64,
    pub val_acc: Option<f64>,
}

/// Draws loss (left) and accuracy (right) panels into a PNG at `path` (written atomically).
/// Without the `plot` feature this writes nothing and returns `Ok`.
pub fn plot_curves(path: &Path, title: &str, points: &[CurvePoint]) -> std::io::Result<()> {
    #[cfg(feature = "plot")]
    {
        let png = draw(title, points)
            .map_err(|e| std::io::Error::other(format!("plotting curves: {e}")))?;
        siamese_model::io::atomic_write(path, &png)
    }
    #[cfg(not(feature = "plot"))]
    {
        let _ = (path, title, points);
        Ok(())
    }
}

#[cfg(feature = "plot")]
type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordi32, plotters::coord::types::RangedCoordf64>,
>;

/// The picture's size in pixels.
#[cfg(feature = "plot")]
const SIZE: (u32, u32) = (1200, 480);

/// The curves as PNG bytes.
#[cfg(feature = "plot")]
fn draw(title: &str, points: &[CurvePoint]) -> siamese_data::Result<Vec<u8>> {
    siamese_data::picture::chart_png(SIZE, |rgb| draw_into(rgb, title, points))
}

#[cfg(feature = "plot")]
fn draw_into(rgb: &mut [u8], title: &str, points: &[CurvePoint]) -> PaintResult {
    let root = BitMapBackend::with_buffer(rgb, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (left, right) = root.split_horizontally(600);
    let axes = Axes::of(points);
    loss_panel(&left, &axes, points)?;
    accuracy_panel(&right, &axes, points)?;
    root.present()?;
    Ok(())
}

/// What both panels share: the epoch axis and the best validation epoch.
#[cfg(feature = "plot")]
struct Axes {
    /// Whole epochs only: an integer axis from 0 to one past the last epoch.
    x_range: std::ops::Range<i32>,
    x_ticks: usize,
    best: Option<(usize, f64)>,
}

#[cfg(feature = "plot")]
impl Axes {
    fn of(points: &[CurvePoint]) -> Self {
        let last_epoch = points.iter().map(|p| p.epoch).max().unwrap_or(1).max(1) as i32;
        Self {
            x_range: 0..last_epoch + 1,
            x_ticks: (last_epoch as usize + 2).min(11),
            best: siamese_model::run::best_epoch(points.iter().map(|p| (p.epoch, p.val_acc))),
        }
    }
}

/// The loss panel: training and validation loss against epoch.
#[cfg(feature = "plot")]
fn loss_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>, axes: &Axes, points: &[CurvePoint],
) -> PaintResult
where
    DB::ErrorType: 'static,
{
    let max_loss = points
        .iter()
        .flat_map(|p| [Some(p.train_loss), p.val_loss])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(1e-3, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("loss", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(axes.x_range.clone(), 0.0..max_loss * 1.05)?;
    chart
        .configure_mesh()
        .x_labels(axes.x_ticks)
        .x_desc("epoch")
        .y_desc("loss")
        .draw()?;
    let train = points.iter().map(|p| (p.epoch, Some(p.train_loss)));
    series(&mut chart, train, RED, "train")?;
    let val = points.iter().map(|p| (p.epoch, p.val_loss));
    series(&mut chart, val, BLUE, "validation")?;
    best_marker(&mut chart, axes.best, 0.0, max_loss * 1.05)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The accuracy panel: training and validation pair accuracy (percent) against epoch.
#[cfg(feature = "plot")]
fn accuracy_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>, axes: &Axes, points: &[CurvePoint],
) -> PaintResult
where
    DB::ErrorType: 'static,
{
    let min_acc = points
        .iter()
        .flat_map(|p| [Some(p.train_acc), p.val_acc])
        .flatten()
        .fold(100.0, |m: f64, v| m.min(v * 100.0));
    let lo = (min_acc - 2.0).clamp(0.0, 99.0).floor();
    let mut chart = ChartBuilder::on(area)
        .caption("pair accuracy (%)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(axes.x_range.clone(), lo..100.0)?;
    chart
        .configure_mesh()
        .x_labels(axes.x_ticks)
        .x_desc("epoch")
        .y_desc("%")
        .draw()?;
    let pct = |v: f64| v * 100.0;
    let train = points.iter().map(|p| (p.epoch, Some(pct(p.train_acc))));
    series(&mut chart, train, RED, "train")?;
    let val = points.iter().map(|p| (p.epoch, p.val_acc.map(pct)));
    series(&mut chart, val, BLUE, "validation")?;
    best_marker(&mut chart, axes.best, lo, 100.0)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// A dashed vertical line at the best validation epoch, in the legend as
/// "best: epoch N (val acc X%)".
#[cfg(feature = "plot")]
fn best_marker<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>, best: Option<(usize, f64)>, lo: f64, hi: f64,
) -> PaintResult
where
    DB::ErrorType: 'static,
{
    let Some((epoch, acc)) = best else {
        return Ok(());
    };
    let x = epoch as i32;
    let colour = RGBColor(0, 140, 0);
    let steps = 24;
    let dashes = (0..steps).step_by(2).map(move |k| {
        let y = |k: i32| lo + (hi - lo) * k as f64 / steps as f64;
        PathElement::new(vec![(x, y(k)), (x, y(k + 1))], colour.stroke_width(2))
    });
    chart
        .draw_series(dashes)?
        .label(format!("best: epoch {epoch} (val acc {:.2}%)", acc * 100.0))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    Ok(())
}

#[cfg(feature = "plot")]
fn series<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>, pts: impl Iterator<Item = (usize, Option<f64>)>, color: RGBColor,
    label: &str,
) -> PaintResult
where
    DB::ErrorType: 'static,
{
    let pts: Vec<(i32, f64)> = pts.filter_map(|(x, y)| y.map(|y| (x as i32, y))).collect();
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

    fn points() -> Vec<CurvePoint> {
        (1..=3)
            .map(|e| CurvePoint {
                epoch: e,
                train_loss: 0.2 / e as f64,
                val_loss: Some(0.25 / e as f64),
                train_acc: 0.9 + 0.02 * e as f64,
                val_acc: Some(0.88 + 0.02 * e as f64),
            })
            .collect()
    }

    #[test]
    fn best_epoch_is_the_first_highest_validation_accuracy() {
        use siamese_model::run::best_epoch;
        let best = best_epoch(points().iter().map(|p| (p.epoch, p.val_acc)));
        assert_eq!(best, Some((3, 0.88 + 0.02 * 3.0)));
        let tie = [(1, Some(0.5)), (2, None), (3, Some(0.5))];
        assert_eq!(best_epoch(tie), Some((1, 0.5)));
        assert_eq!(best_epoch([(1, None)]), None);
    }

    #[test]
    #[cfg(feature = "plot")]
    fn writes_a_png() {
        let dir = std::env::temp_dir().join(format!("siamese-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("curves.png");
        plot_curves(&p, "test", &points()).unwrap();
        let img = image::load_from_memory(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!((img.width(), img.height()), SIZE);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
