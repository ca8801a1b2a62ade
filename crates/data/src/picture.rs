//! The one home of what every picture of the workspace shares: the bundled font (DejaVu Sans,
//! so that no picture needs a system font), the PNG encoder, and the canvas that plotters
//! draws charts into (curves.png, the embedding scatter). The pair pictures ([`crate::viz`])
//! rasterise their text with the same font.

use crate::error::{DataError, Result};

/// DejaVu Sans, bundled by the `dejavu` crate (free licence, see its README).
pub fn font_bytes() -> &'static [u8] {
    dejavu::sans::regular()
}

/// 8-bit RGB pixels (`width * height * 3` bytes, row-major) encoded as a PNG file.
pub fn png_rgb8(pixels: &[u8], width: usize, height: usize) -> Result<Vec<u8>> {
    use ::image::ImageEncoder;
    let mut out = Vec::new();
    ::image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            pixels,
            width as u32,
            height as u32,
            ::image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| {
            DataError::InvalidArgument(format!(
                "cannot encode a {width}x{height} picture as PNG: {e}"
            ))
        })?;
    Ok(out)
}

/// What a chart's painter returns: plotters' drawing errors, boxed.
pub type PaintResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// PNG bytes of a `size` chart that `paint` draws with plotters into an RGB buffer (the
/// bundled font registered as "sans-serif" first). plotters draws, [`png_rgb8`] encodes, so
/// only one version of the image and png crates is built.
pub fn chart_png(
    size: (u32, u32), paint: impl FnOnce(&mut [u8]) -> PaintResult,
) -> Result<Vec<u8>> {
    register_chart_font();
    let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
    paint(&mut rgb).map_err(|e| DataError::InvalidArgument(format!("drawing a chart: {e}")))?;
    png_rgb8(&rgb, size.0 as usize, size.1 as usize)
}

/// Registers the bundled font with plotters as "sans-serif", once per process.
fn register_chart_font() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Registration only fails for an unparsable font; DejaVu is a known-good font.
        let _ = plotters::style::register_font(
            "sans-serif",
            plotters::style::FontStyle::Normal,
            font_bytes(),
        );
    });
}
