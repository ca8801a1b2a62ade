//! A user's list of image pairs (`siamese score --pairs`, `siamese eval --pairs`): CSV lines
//! `path_a,path_b,label` (the shape of verification benchmarks such as LFW's pairs lists) or
//! `path_a,path_b` without a label.
//!
//! The format, the one home of its rules (docs/images.md "Pair lists" repeats them):
//! - fields are separated by commas and quoted as RFC 4180 says: a field that holds a comma, a
//!   quote or a line break is written between double quotes, a quote inside doubled (`""`);
//!   spaces and tabs around a field are dropped (quote a path that begins or ends with one);
//! - a label is `1`, `same` or `true` (same class) or `0`, `different` or `false` (any case);
//! - the first line is a header, and skipped, when it starts with the names `path_a,path_b`,
//!   or when its third field is not a label and its first two hold no `.` or `/` (so
//!   `left,right,match` is a header, `a.png,b.png,yes` a bad label);
//! - blank lines and lines whose first character (after spaces) is `#` are skipped; line ends
//!   may be LF or CRLF; a UTF-8 byte-order mark at the start is dropped;
//! - a relative path is relative to the list file's folder (to the current folder for a list
//!   read from stdin, `-`); an absolute path is kept; on Unix a path is bytes, any encoding.
//!
//! Every error is one [`DataError::PairList`] line naming the list and the line.
//! [`PairListReader`] streams records from any `BufRead`, so a scorer can start before the
//! whole list is read; [`read_pair_list`] reads a whole list file.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The longest record accepted, in bytes (a quoted field's line breaks included): 64 KiB,
/// far beyond two paths (Linux allows 4096 bytes each), so a file without line breaks is
/// refused without being read into memory.
pub const MAX_RECORD_BYTES: usize = 64 << 10;

/// The most pairs [`read_pair_list`] holds in memory: 2^24 (a longer list can be streamed
/// through [`PairListReader`], `siamese score --pairs -`).
pub const MAX_LISTED_PAIRS: usize = 1 << 24;

/// The name a list read from stdin has in messages.
pub const STDIN_NAME: &str = "<stdin>";

/// Whether each line must carry a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Labels {
    /// Every line `path_a,path_b,label` (`eval --pairs`: the labels are the truth).
    Required,
    /// Lines with or without a label (`score`); a label given must still be a label.
    Optional,
}

/// A path as the list wrote it and as the program opens it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPath {
    /// The field's bytes, unquoted (what an output row repeats).
    pub written: Vec<u8>,
    /// `written` joined to the list's folder when relative.
    pub path: PathBuf,
}

/// One pair of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPair {
    /// The line of the list where the record starts (1-based).
    pub line: usize,
    pub a: ListedPath,
    pub b: ListedPath,
    /// The label: Some(true) = same class, Some(false) = different, None = not given.
    pub same: Option<bool>,
}

/// A label field: `1`/`same`/`true` or `0`/`different`/`false`, any case, spaces around
/// dropped; None for anything else.
pub fn parse_label(field: &[u8]) -> Option<bool> {
    let t = field.trim_ascii();
    let is = |w: &str| t.eq_ignore_ascii_case(w.as_bytes());
    if is("1") || is("same") || is("true") {
        Some(true)
    } else if is("0") || is("different") || is("false") {
        Some(false)
    } else {
        None
    }
}

/// Writes `field` as one CSV field: as it is, or between quotes (inner quotes doubled) when
/// it holds a comma, a quote, a line break, or spaces at either end, so that
/// [`PairListReader`] reads back the same bytes.
pub fn write_csv_field(out: &mut dyn Write, field: &[u8]) -> std::io::Result<()> {
    let special = |b: &u8| matches!(b, b',' | b'"' | b'\n' | b'\r');
    let padded = |b: Option<&u8>| b.is_some_and(|&b| b == b' ' || b == b'\t');
    if !field.iter().any(special) && !padded(field.first()) && !padded(field.last()) {
        return out.write_all(field);
    }
    out.write_all(b"\"")?;
    for part in field.split_inclusive(|&b| b == b'"') {
        out.write_all(part)?;
        if part.ends_with(b"\"") {
            out.write_all(b"\"")?;
        }
    }
    out.write_all(b"\"")
}

/// Reads a whole pair-list file (`-`: stdin) into memory: at least one pair, at most
/// [`MAX_LISTED_PAIRS`].
pub fn read_pair_list(path: &Path, labels: Labels) -> Result<Vec<ListedPair>> {
    let mut pairs = Vec::new();
    for p in open_pair_list(path, labels)? {
        if pairs.len() == MAX_LISTED_PAIRS {
            return Err(list_error(
                path,
                0,
                format!("more than {MAX_LISTED_PAIRS} pairs; stream a longer list through stdin (`--pairs -`)"),
            ));
        }
        pairs.push(p?);
    }
    Ok(pairs)
}

/// A streaming reader of the list at `path` (`-`: stdin, paths relative to the current
/// folder).
pub fn open_pair_list(path: &Path, labels: Labels) -> Result<PairListReader<Box<dyn BufRead>>> {
    if path == Path::new("-") {
        let stdin: Box<dyn BufRead> = Box::new(BufReader::new(std::io::stdin()));
        return Ok(PairListReader::new(
            stdin,
            Path::new(STDIN_NAME),
            Path::new(""),
            labels,
        ));
    }
    let f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let input: Box<dyn BufRead> = Box::new(BufReader::new(f));
    Ok(PairListReader::new(input, path, base, labels))
}

/// The records of a pair list, in order, from any `BufRead` (see the module docs for the
/// format). An iterator of `Result<ListedPair>` that ends after its first error; a list
/// without a single pair ends with an error.
pub struct PairListReader<R> {
    input: R,
    name: PathBuf,
    base: PathBuf,
    labels: Labels,
    /// Lines read so far.
    line: usize,
    /// Records (header included) and pairs read so far.
    records: usize,
    pairs: usize,
    /// The first line with a label (for the mixing error).
    labelled: Option<usize>,
    done: bool,
}

impl<R: BufRead> PairListReader<R> {
    /// A reader of `input`, named `name` in messages, its relative paths joined to `base`.
    pub fn new(input: R, name: &Path, base: &Path, labels: Labels) -> Self {
        Self {
            input,
            name: name.to_path_buf(),
            base: base.to_path_buf(),
            labels,
            line: 0,
            records: 0,
            pairs: 0,
            labelled: None,
            done: false,
        }
    }

    /// The list's name in messages.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The next pair, None at the end of the list.
    fn next_pair(&mut self) -> Result<Option<ListedPair>> {
        loop {
            let Some((line, fields)) = self.next_record()? else {
                if self.pairs == 0 {
                    return Err(self.error(0, "the list holds no pairs".into()));
                }
                return Ok(None);
            };
            self.records += 1;
            if self.records == 1 && is_header(&fields) {
                continue;
            }
            let pair = self.pair(line, fields)?;
            self.pairs += 1;
            return Ok(Some(pair));
        }
    }

    /// A record's fields as a pair: two paths and an optional label.
    fn pair(&mut self, line: usize, fields: Vec<Vec<u8>>) -> Result<ListedPair> {
        if !matches!(fields.len(), 2 | 3) {
            return Err(self.error(
                line,
                format!(
                    "{} fields, expected 2 or 3 (path_a,path_b[,label])",
                    fields.len()
                ),
            ));
        }
        let same = match fields.get(2) {
            Some(f) => Some(parse_label(f).ok_or_else(|| {
                self.error(
                    line,
                    format!(
                        "label '{}' is not 1/same/true or 0/different/false",
                        String::from_utf8_lossy(f)
                    ),
                )
            })?),
            None => None,
        };
        self.check_label_presence(line, same.is_some())?;
        let mut paths = fields.into_iter().take(2);
        let mut path = |which: &str| {
            let written = paths.next().unwrap_or_default();
            self.listed_path(line, which, written)
        };
        Ok(ListedPair {
            line,
            a: path("path_a")?,
            b: path("path_b")?,
            same,
        })
    }

    /// Under [`Labels::Required`], a line without a label is an error (naming a labelled line
    /// when the list mixes the two).
    fn check_label_presence(&mut self, line: usize, labelled: bool) -> Result<()> {
        if labelled {
            self.labelled.get_or_insert(line);
        }
        if self.labels == Labels::Optional || labelled {
            return Ok(());
        }
        let msg = match self.labelled {
            Some(l) => {
                format!("no label, but line {l} has one: every line needs path_a,path_b,label here")
            }
            None => "no label: every line needs path_a,path_b,label here".into(),
        };
        Err(self.error(line, msg))
    }

    fn listed_path(&self, line: usize, which: &str, written: Vec<u8>) -> Result<ListedPath> {
        if written.is_empty() {
            return Err(self.error(line, format!("{which} is empty")));
        }
        let os = os_string(written.clone())
            .map_err(|_| self.error(line, format!("{which} is not UTF-8")))?;
        let p = PathBuf::from(os);
        let path = if p.is_absolute() {
            p
        } else {
            self.base.join(p)
        };
        Ok(ListedPath { written, path })
    }

    /// The next record that is not blank or a comment: its first line and its fields.
    fn next_record(&mut self) -> Result<Option<(usize, Vec<Vec<u8>>)>> {
        loop {
            let start = self.line + 1;
            let mut rec = Vec::new();
            if !self.read_line(&mut rec, start)? {
                return Ok(None);
            }
            if start == 1 && rec.starts_with(b"\xEF\xBB\xBF") {
                rec.drain(..3);
            }
            let trimmed = rec.trim_ascii_start();
            if trimmed.is_empty() || trimmed.starts_with(b"#") {
                continue;
            }
            loop {
                match split_fields(&rec) {
                    Ok(fields) => return Ok(Some((start, fields))),
                    Err(Split::OpenQuote) => {
                        if !self.read_line(&mut rec, start)? {
                            let msg = "a quote opened on this line is never closed";
                            return Err(self.error(start, msg.into()));
                        }
                    }
                    Err(Split::Bad(msg)) => return Err(self.error(start, msg)),
                }
            }
        }
    }

    /// Appends the next physical line (its line break included) to `rec`; false at the end.
    fn read_line(&mut self, rec: &mut Vec<u8>, start: usize) -> Result<bool> {
        let room = (MAX_RECORD_BYTES + 1).saturating_sub(rec.len()) as u64;
        let n = (&mut self.input)
            .take(room)
            .read_until(b'\n', rec)
            .map_err(|e| DataError::io(&self.name, e))?;
        if rec.len() > MAX_RECORD_BYTES {
            let msg = format!("a record longer than {MAX_RECORD_BYTES} bytes");
            return Err(self.error(start, msg));
        }
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    fn error(&self, line: usize, message: String) -> DataError {
        list_error(&self.name, line, message)
    }
}

impl<R: BufRead> Iterator for PairListReader<R> {
    type Item = Result<ListedPair>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_pair().transpose();
        self.done = !matches!(r, Some(Ok(_)));
        r
    }
}

fn list_error(path: &Path, line: usize, message: String) -> DataError {
    DataError::PairList {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// The first record is a header when it starts with the column names `path_a,path_b`, or
/// when its label field is not a label (nor empty: `a,b,` is a pair without its label) and
/// neither of its first two fields looks like a file (holds a `.` or a `/`): so that
/// `a.png,b.png,yes` is a bad label, not a header that drops the first pair.
fn is_header(fields: &[Vec<u8>]) -> bool {
    let named = |i: usize, w: &str| {
        fields
            .get(i)
            .is_some_and(|f| f.trim_ascii().eq_ignore_ascii_case(w.as_bytes()))
    };
    let file_like = |f: &[u8]| f.iter().any(|&b| b == b'.' || b == b'/');
    (named(0, "path_a") && named(1, "path_b"))
        || (fields.len() == 3
            && !fields[2].is_empty()
            && parse_label(&fields[2]).is_none()
            && !fields[..2].iter().any(|f| file_like(f)))
}

enum Split {
    /// The record ends inside a quoted field: it goes on on the next line.
    OpenQuote,
    Bad(String),
}

/// The fields of one record (its final line break dropped), unquoted (RFC 4180), spaces and
/// tabs around each dropped.
fn split_fields(rec: &[u8]) -> std::result::Result<Vec<Vec<u8>>, Split> {
    let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
    let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut fields = Vec::new();
    let mut i = 0;
    loop {
        while i < rec.len() && blank(rec[i]) {
            i += 1;
        }
        let mut field = Vec::new();
        if rec.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match (rec.get(i), rec.get(i + 1)) {
                    (None, _) => return Err(Split::OpenQuote),
                    (Some(b'"'), Some(b'"')) => {
                        field.push(b'"');
                        i += 2;
                    }
                    (Some(b'"'), _) => break,
                    (Some(&c), _) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            i += 1;
            while i < rec.len() && blank(rec[i]) {
                i += 1;
            }
            if i < rec.len() && rec[i] != b',' {
                let msg = format!("text after the closing quote of field {}", fields.len() + 1);
                return Err(Split::Bad(msg));
            }
        } else {
            let end = rec[i..]
                .iter()
                .position(|&b| b == b',')
                .map_or(rec.len(), |p| i + p);
            field.extend_from_slice(rec[i..end].trim_ascii_end());
            if field.contains(&b'"') {
                return Err(Split::Bad(format!(
                    "a quote inside unquoted field {}: quote the whole field and double the quote (\"\")",
                    fields.len() + 1
                )));
            }
            i = end;
        }
        fields.push(field);
        if i >= rec.len() {
            return Ok(fields);
        }
        i += 1; // the comma
    }
}

#[cfg(unix)]
fn os_string(bytes: Vec<u8>) -> std::result::Result<OsString, ()> {
    use std::os::unix::ffi::OsStringExt;
    Ok(OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn os_string(bytes: Vec<u8>) -> std::result::Result<OsString, ()> {
    String::from_utf8(bytes).map(OsString::from).map_err(|_| ())
}
