//! A streaming gzip reader (RFC 1952) on `miniz_oxide`'s inflater: the IDX files and the
//! CIFAR-10 tarball are gzip, and this is the whole of what they need, without `flate2` and its
//! dependencies.
//!
//! [`GzDecoder`] reads one gzip member: the header (with its optional extra field, name,
//! comment and header CRC), the deflate stream, then the trailer, whose CRC-32 and size are
//! checked against the bytes produced. Bytes after the first member are not read (as
//! `flate2::read::GzDecoder`). A corrupt or truncated stream is an
//! [`std::io::ErrorKind::InvalidData`] (or `UnexpectedEof`) error with one line saying what is
//! wrong.

use std::io::{self, BufRead, Read};

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// The CRC-32 of gzip (and PNG, zip): polynomial 0xEDB88320 (reflected), initial value and final
/// XOR all ones. `crc32_update(0, b"123456789") == 0xCBF43926`. Slicing by 8: eight tables,
/// eight bytes per step.
pub fn crc32_update(crc: u32, bytes: &[u8]) -> u32 {
    let mut c = !crc;
    let mut chunks = bytes.chunks_exact(8);
    for ch in &mut chunks {
        let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = CRC_TABLES[7][(lo & 0xff) as usize]
            ^ CRC_TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ CRC_TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ CRC_TABLES[4][(lo >> 24) as usize]
            ^ CRC_TABLES[3][(hi & 0xff) as usize]
            ^ CRC_TABLES[2][((hi >> 8) & 0xff) as usize]
            ^ CRC_TABLES[1][((hi >> 16) & 0xff) as usize]
            ^ CRC_TABLES[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = CRC_TABLES[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// `CRC_TABLES[0]` is the byte-at-a-time table; `CRC_TABLES[k][i]` advances `CRC_TABLES[k-1][i]`
/// by one zero byte.
const CRC_TABLES: [[u32; 256]; 8] = {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            i += 1;
        }
        k += 1;
    }
    t
};

/// Header flag bits (RFC 1952, 2.3.1).
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn eof(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the gzip stream ends inside its {what}"),
    )
}

/// Where the decoder is in the member.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Header,
    Body,
    Done,
}

/// Decompresses the first gzip member of `inner` (see the module docs).
pub struct GzDecoder<R> {
    inner: R,
    state: Box<InflateState>,
    stage: Stage,
    crc: u32,
    /// Bytes produced, modulo 2^32 (the trailer's ISIZE).
    size: u32,
}

impl<R: BufRead> GzDecoder<R> {
    /// A decoder of the gzip data that `inner` yields; nothing is read until the first `read`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: InflateState::new_boxed(DataFormat::Raw),
            stage: Stage::Header,
            crc: 0,
            size: 0,
        }
    }

    /// Reads exactly `buf.len()` bytes of the header or trailer; `what` names the part in the
    /// error at end of input. `hcrc`: the running CRC of the header bytes, when kept.
    fn exact(&mut self, buf: &mut [u8], what: &str, hcrc: &mut u32) -> io::Result<()> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => eof(what),
            _ => e,
        })?;
        *hcrc = crc32_update(*hcrc, buf);
        Ok(())
    }

    /// Reads and checks the header, up to the first byte of the deflate stream.
    fn header(&mut self) -> io::Result<()> {
        let mut hcrc = 0;
        let mut fixed = [0u8; 10];
        self.exact(&mut fixed, "header", &mut hcrc)?;
        if fixed[0..2] != [0x1f, 0x8b] {
            return Err(invalid("not gzip data (no 1f 8b magic)"));
        }
        if fixed[2] != 8 {
            return Err(invalid("unknown gzip compression method (not deflate)"));
        }
        let flags = fixed[3];
        if flags & FRESERVED != 0 {
            return Err(invalid("reserved gzip header flags are set"));
        }
        if flags & FEXTRA != 0 {
            let mut len = [0u8; 2];
            self.exact(&mut len, "header", &mut hcrc)?;
            let mut extra = vec![0u8; usize::from(u16::from_le_bytes(len))];
            self.exact(&mut extra, "header", &mut hcrc)?;
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                // A zero-terminated string.
                let mut b = [1u8; 1];
                while b[0] != 0 {
                    self.exact(&mut b, "header", &mut hcrc)?;
                }
            }
        }
        if flags & FHCRC != 0 {
            let mut stored = [0u8; 2];
            let mut ignored = 0;
            self.exact(&mut stored, "header", &mut ignored)?;
            if u16::from_le_bytes(stored) != (hcrc & 0xffff) as u16 {
                return Err(invalid("gzip header CRC mismatch"));
            }
        }
        Ok(())
    }

    /// Reads the trailer and checks it against the bytes produced.
    fn trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        let mut ignored = 0;
        self.exact(&mut t, "trailer", &mut ignored)?;
        if u32::from_le_bytes([t[0], t[1], t[2], t[3]]) != self.crc {
            return Err(invalid("gzip CRC-32 mismatch (the data is corrupt)"));
        }
        if u32::from_le_bytes([t[4], t[5], t[6], t[7]]) != self.size {
            return Err(invalid("gzip size mismatch (the data is corrupt)"));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for GzDecoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.stage == Stage::Done {
            return Ok(0);
        }
        if self.stage == Stage::Header {
            self.header()?;
            self.stage = Stage::Body;
        }
        loop {
            let input = self.inner.fill_buf()?;
            let at_end = input.is_empty();
            let r = inflate(&mut self.state, input, out, MZFlush::None);
            self.inner.consume(r.bytes_consumed);
            let n = r.bytes_written;
            self.crc = crc32_update(self.crc, &out[..n]);
            self.size = self.size.wrapping_add(n as u32);
            match r.status {
                Ok(MZStatus::StreamEnd) => {
                    self.trailer()?;
                    self.stage = Stage::Done;
                    return Ok(n);
                }
                Ok(_) | Err(MZError::Buf) => {
                    if n > 0 {
                        return Ok(n);
                    }
                    if at_end {
                        return Err(eof("deflate data"));
                    }
                    if r.bytes_consumed == 0 {
                        return Err(invalid("corrupt deflate stream (no progress)"));
                    }
                }
                Err(_) => return Err(invalid("corrupt deflate stream")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        // A small buffer, so that the stream crosses many reads and fills.
        GzDecoder::new(io::BufReader::with_capacity(7, bytes)).read_to_end(&mut out)?;
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * 31) ^ (i >> 7)) as u8).collect()
    }

    #[test]
    fn crc32_matches_the_check_value_and_flate2() {
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        for n in [0, 1, 7, 8, 9, 1000, 4099] {
            let data = sample(n);
            let mut reference = flate2::Crc::new();
            reference.update(&data);
            assert_eq!(crc32_update(0, &data), reference.sum(), "length {n}");
            // Running updates compose.
            let (a, b) = data.split_at(n / 3);
            assert_eq!(crc32_update(crc32_update(0, a), b), reference.sum());
        }
    }

    #[test]
    fn decodes_what_flate2_encodes() {
        for n in [0, 1, 100, 70_000, 300_000] {
            let data = sample(n);
            assert_eq!(gunzip(&gz(&data)).unwrap(), data, "length {n}");
        }
    }

    #[test]
    fn reads_optional_header_fields_and_stops_after_the_first_member() {
        let data = sample(5000);
        let plain = gz(&data);
        // The same deflate body behind a header with FEXTRA, FNAME, FCOMMENT and FHCRC.
        let mut h = vec![
            0x1f,
            0x8b,
            8,
            FEXTRA | FNAME | FCOMMENT | FHCRC,
            0,
            0,
            0,
            0,
            0,
            3,
        ];
        h.extend_from_slice(&[3, 0, b'a', b'b', b'c']);
        h.extend_from_slice(b"name.idx\0a comment\0");
        let hcrc = (crc32_update(0, &h) & 0xffff) as u16;
        h.extend_from_slice(&hcrc.to_le_bytes());
        h.extend_from_slice(&plain[10..]);
        h.extend_from_slice(b"trailing garbage");
        assert_eq!(gunzip(&h).unwrap(), data);
        // A wrong header CRC is refused.
        let at = h.len() - (plain.len() - 10) - 16 - 2;
        h[at] ^= 1;
        assert!(gunzip(&h).unwrap_err().to_string().contains("header CRC"));
    }

    #[test]
    fn refuses_corrupt_and_truncated_streams() {
        let good = gz(&sample(20_000));
        let n = good.len();
        let mut crc = good.clone();
        crc[n - 8] ^= 0xff;
        assert!(gunzip(&crc).unwrap_err().to_string().contains("CRC-32"));
        let mut size = good.clone();
        size[n - 1] ^= 0xff;
        assert!(gunzip(&size).unwrap_err().to_string().contains("size"));
        for cut in [3, 10, n / 2, n - 4] {
            let e = gunzip(&good[..cut]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "cut at {cut}: {e}");
        }
        let mut method = good.clone();
        method[2] = 7;
        assert!(gunzip(&method).is_err());
        let mut body = good.clone();
        body[10] = 0xff; // BTYPE 11: a reserved block type
        assert_eq!(
            gunzip(&body).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
