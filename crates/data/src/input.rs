//! The input of a network trained on a user's image folder: its shape `C×H×W` (`--input 1x28x28`)
//! and how an image of another size becomes `H×W` ([`Fit`]). Plain data, so checkpoints and
//! configurations hold it without the image decoder.

use std::fmt;
use std::str::FromStr;

use crate::error::DataError;

/// The longest side accepted by `--input`: 512 pixels (a 3×512×512 image is 768 KiB as u8).
pub const MAX_INPUT_SIDE: usize = 512;

/// How an image whose size differs from the model's H×W becomes H×W. `Stretch`: the whole
/// image resized to W×H (bilinear; the aspect ratio changes). `Crop`: the largest centred
/// window with the target's aspect ratio, W₀' = round(H₀·W/H) columns when the image is wider
/// than W/H (else H₀' = round(W₀·H/W) rows), offset ⌊(W₀ − W₀')/2⌋ (rows likewise), then
/// resized as `Stretch` does. An image already W×H is kept as it is by both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Fit {
    #[default]
    Stretch,
    Crop,
}

impl Fit {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Fit::Stretch => "stretch",
            Fit::Crop => "crop",
        }
    }
}

impl fmt::Display for Fit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fit {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "stretch" => Ok(Fit::Stretch),
            "crop" => Ok(Fit::Crop),
            _ => Err(DataError::InvalidArgument(format!(
                "unknown fit '{s}' (expected stretch or crop)"
            ))),
        }
    }
}

/// Parses an input shape `CxHxW` (`1x28x28`, `3x32x32`): 1 (gray) or 3 (RGB) channels, sides
/// 1 to [`MAX_INPUT_SIDE`].
pub fn parse_input(s: &str) -> Result<(usize, usize, usize), DataError> {
    let bad = |m: &str| DataError::InvalidArgument(format!("input shape '{s}': {m}"));
    let parts: Vec<&str> = s.trim().split(['x', 'X', '×']).collect();
    let [c, h, w] = parts[..] else {
        return Err(bad("expected CxHxW, such as 1x28x28 or 3x32x32"));
    };
    let num = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| bad("expected CxHxW numbers"))
    };
    let (c, h, w) = (num(c)?, num(h)?, num(w)?);
    if !matches!(c, 1 | 3) {
        return Err(bad("channels must be 1 (gray) or 3 (RGB)"));
    }
    if !(1..=MAX_INPUT_SIDE).contains(&h) || !(1..=MAX_INPUT_SIDE).contains(&w) {
        return Err(bad(&format!("sides must be 1 to {MAX_INPUT_SIDE} pixels")));
    }
    Ok((c, h, w))
}

/// `CxHxW`, the spelling [`parse_input`] reads.
pub fn input_name((c, h, w): (usize, usize, usize)) -> String {
    format!("{c}x{h}x{w}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes_parse_and_round_trip() {
        assert_eq!(parse_input("1x28x28").unwrap(), (1, 28, 28));
        assert_eq!(parse_input("3X64x48").unwrap(), (3, 64, 48));
        assert_eq!(input_name(parse_input("3x32x32").unwrap()), "3x32x32");
        for bad in [
            "",
            "28x28",
            "2x28x28",
            "1x0x28",
            "1x28x513",
            "1xax28",
            "1x28x28x1",
        ] {
            assert!(parse_input(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fits_parse_and_round_trip() {
        for f in [Fit::Stretch, Fit::Crop] {
            assert_eq!(f.name().parse::<Fit>().unwrap(), f);
        }
        assert!("squash".parse::<Fit>().is_err());
    }
}
