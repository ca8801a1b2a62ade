//! A picture of the embedding: the subnet's embeddings projected to 2-D by PCA
//! ([`crate::pca`]) and drawn as a scatter coloured by class with a legend (plotters, the
//! style of curves.png), and the embeddings written for other tools as CSV or `.npy`. The
//! picture needs the `plot` feature; without it [`plot_scatter`] returns an error.

use siamese_data::Label;
use std::path::Path;

#[cfg(feature = "plot")]
use plotters::prelude::*;

use siamese_model::error::{ModelError, Result};

/// Ten colours told apart easily (the "tab10" palette).
#[cfg(feature = "plot")]
pub const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

#[cfg(feature = "plot")]
use siamese_data::picture::PaintResult;

/// Draws `points` (x, y, class) as a scatter coloured by class with a legend of
/// `class_names`, into a PNG at `path` (written atomically).
pub fn plot_scatter(
    path: &Path, title: &str, axes: (&str, &str), points: &[(f64, f64, Label)],
    class_names: &[String],
) -> Result<()> {
    #[cfg(feature = "plot")]
    {
        let png = siamese_data::picture::chart_png((900, 760), |rgb| {
            draw(rgb, title, axes, points, class_names)
        })
        .map_err(|e| ModelError::Config(format!("plotting the embedding: {e}")))?;
        siamese_model::io::atomic_write(path, &png).map_err(|e| ModelError::io(path, e))
    }
    #[cfg(not(feature = "plot"))]
    {
        let _ = (title, axes, points, class_names);
        Err(ModelError::Config(format!(
            "{}: this build draws no pictures (siamese-model's feature `plot`)",
            path.display()
        )))
    }
}

#[cfg(feature = "plot")]
fn draw(
    rgb: &mut [u8], title: &str, axes: (&str, &str), points: &[(f64, f64, Label)], names: &[String],
) -> PaintResult {
    let root = BitMapBackend::with_buffer(rgb, (900, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let range = |f: fn(&(f64, f64, Label)) -> f64| {
        let (lo, hi) = points
            .iter()
            .map(f)
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(v), h.max(v))
            });
        if lo.is_finite() && hi > lo {
            let pad = 0.05 * (hi - lo);
            (lo - pad)..(hi + pad)
        } else {
            -1.0..1.0
        }
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(range(|p| p.0), range(|p| p.1))?;
    chart
        .configure_mesh()
        .x_desc(axes.0)
        .y_desc(axes.1)
        .draw()?;
    for (c, name) in names.iter().enumerate() {
        let colour = CLASS_COLOURS[c % CLASS_COLOURS.len()];
        let pts = points.iter().filter(|p| p.2 as usize == c);
        chart
            .draw_series(pts.map(|p| Circle::new((p.0, p.1), 2, colour.mix(0.6).filled())))?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// The embeddings as CSV: a header `label,class,e0,…`, then one row per image.
pub fn embeddings_csv(emb: &[f32], dim: usize, labels: &[Label], names: &[String]) -> String {
    let mut s = String::from("label,class");
    for e in 0..dim {
        s.push_str(&format!(",e{e}"));
    }
    s.push('\n');
    for (row, &l) in emb.chunks_exact(dim).zip(labels) {
        let name = names.get(l as usize).map_or("", String::as_str);
        s.push_str(&format!("{l},\"{}\"", name.replace('"', "\"\"")));
        for v in row {
            s.push_str(&format!(",{v}"));
        }
        s.push('\n');
    }
    s
}

/// The embeddings as a NumPy `.npy` file (format 1.0, little-endian float32, shape (n, dim)):
/// the magic `\x93NUMPY`, version 1.0, a u16 header length, a Python-dict header padded with
/// spaces and a newline to a multiple of 64 bytes, then the data in C order.
pub fn embeddings_npy(emb: &[f32], dim: usize) -> Vec<u8> {
    let n = emb.len() / dim.max(1);
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {dim}), }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + emb.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in emb {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_and_csv_layouts() {
        let emb = [1.0f32, -2.5, 0.0, 3.0];
        let npy = embeddings_npy(&emb, 2);
        assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([npy[8], npy[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&npy[10..10 + hlen]).unwrap();
        assert!(
            header.contains("'shape': (2, 2)") && header.ends_with('\n'),
            "{header}"
        );
        assert_eq!(npy.len(), 10 + hlen + 16);
        assert_eq!(&npy[10 + hlen + 4..10 + hlen + 8], &(-2.5f32).to_le_bytes());
        let names = vec!["zero".to_string(), "a \"one\"".to_string()];
        let csv = embeddings_csv(&emb, 2, &[1, 0], &names);
        assert_eq!(
            csv,
            "label,class,e0,e1\n1,\"a \"\"one\"\"\",1,-2.5\n0,\"zero\",0,3\n"
        );
    }

    #[cfg(feature = "plot")]
    #[test]
    fn the_scatter_is_a_png() {
        let dir = std::env::temp_dir().join(format!("siamese-embed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("embedding.png");
        let pts: Vec<(f64, f64, Label)> = (0..30)
            .map(|i| (i as f64, (i % 3) as f64, (i % 3) as Label))
            .collect();
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        plot_scatter(&p, "test", ("PC 1", "PC 2"), &pts, &names).unwrap();
        assert_eq!(&std::fs::read(&p).unwrap()[1..4], b"PNG");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
