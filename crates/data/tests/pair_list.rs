//! The pair-list reader against hand-made and corrupt lists: every accepted form read back
//! field by field, every bad one a single line naming the list and the line.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use siamese_data::pair_list::{
    parse_label, read_pair_list, write_csv_field, Labels, ListedPair, PairListReader,
    MAX_RECORD_BYTES,
};
use siamese_data::DataError;

/// The pairs of `text`, read as list `dir/list.csv` (relative paths joined to `dir`).
fn read(text: &[u8], labels: Labels) -> Result<Vec<ListedPair>, DataError> {
    PairListReader::new(
        Cursor::new(text.to_vec()),
        Path::new("dir/list.csv"),
        Path::new("dir"),
        labels,
    )
    .collect()
}

fn written(p: &[ListedPair]) -> Vec<(String, String, Option<bool>, usize)> {
    p.iter()
        .map(|p| {
            let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
            (s(&p.a.written), s(&p.b.written), p.same, p.line)
        })
        .collect()
}

fn err(text: &[u8], labels: Labels) -> String {
    let e = read(text, labels).unwrap_err().to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn labelled_lines_with_every_label_spelling() {
    let text = b"a.png,b.png,1\nc.png,d.png,0\ne,f,Same\ng,h,different\ni,j,TRUE\nk,l,false\n";
    let got = written(&read(text, Labels::Required).unwrap());
    let labels: Vec<Option<bool>> = got.iter().map(|g| g.2).collect();
    let t = Some(true);
    let f = Some(false);
    assert_eq!(labels, [t, f, t, f, t, f]);
    assert_eq!(got[0], ("a.png".into(), "b.png".into(), t, 1));
    assert_eq!(got[5].3, 6);
}

#[test]
fn relative_paths_join_the_list_folder_and_absolute_ones_stay() {
    let p = read(b"x/a.png,/abs/b.png\n", Labels::Optional).unwrap();
    assert_eq!(p[0].a.path, PathBuf::from("dir/x/a.png"));
    assert_eq!(p[0].b.path, PathBuf::from("/abs/b.png"));
    assert_eq!(p[0].same, None);
}

#[test]
fn header_comments_blank_lines_crlf_and_bom_are_skipped() {
    let text = b"\xEF\xBB\xBFpath_a,path_b,label\r\n# a comment\r\n\r\n   \na,b,1\r\n  # indented comment\nc,d,0";
    let got = written(&read(text, Labels::Required).unwrap());
    assert_eq!(
        got,
        [
            ("a".into(), "b".into(), Some(true), 5),
            ("c".into(), "d".into(), Some(false), 7)
        ]
    );
    // Any name in the label column makes a header; so do the names path_a,path_b alone
    // (even with `same`, a label word, as the third name).
    for header in [
        &b"first,second,is_same\n"[..],
        b"path_a,path_b\n",
        b"PATH_A,path_b,same\n",
    ] {
        let text = [header, b"a,b,1\n"].concat();
        assert_eq!(read(&text, Labels::Optional).unwrap().len(), 1);
    }
    // A first line naming files is a pair, its bad label an error, not a header.
    for first in [&b"a.png,b.png,yes\n"[..], b"x/a,b,maybe\n", b"a,b,\n"] {
        let e = err(&[first, b"c,d,1\n"].concat(), Labels::Optional);
        assert!(e.contains("line 1: label"), "{e}");
    }
    // Only the first record can be a header.
    let e = err(b"a,b,1\npath_a,path_b,label\n", Labels::Required);
    assert!(e.contains("line 2: label 'label' is not"), "{e}");
}

#[test]
fn quoted_fields_hold_commas_quotes_and_line_breaks() {
    let text = b"\"with, comma.png\",\"say \"\"hi\"\".png\",1\n\"two\nlines.png\" , b.png ,0\n";
    let got = written(&read(text, Labels::Required).unwrap());
    assert_eq!(got[0].0, "with, comma.png");
    assert_eq!(got[0].1, "say \"hi\".png");
    // A quoted line break belongs to the field; the record starts on line 2, the next on 4.
    assert_eq!(
        got[1],
        ("two\nlines.png".into(), "b.png".into(), Some(false), 2)
    );
    let text = b"\"two\nlines.png\",b,1\nc,d,1\n";
    assert_eq!(written(&read(text, Labels::Required).unwrap())[1].3, 3);
    // Spaces inside quotes are kept.
    let got = written(&read(b"\" a \",b\n", Labels::Optional).unwrap());
    assert_eq!(got[0].0, " a ");
}

#[test]
fn written_fields_read_back_the_same_bytes() {
    for field in [
        &b"plain.png"[..],
        b"a,b",
        b"q\"uote",
        b"line\nbreak",
        b" pad ",
        b"\tx",
        b"cr\r",
    ] {
        let mut line = Vec::new();
        write_csv_field(&mut line, field).unwrap();
        line.extend_from_slice(b",other.png\n");
        let p = read(&line, Labels::Optional).unwrap();
        assert_eq!(p[0].a.written, field, "{}", String::from_utf8_lossy(&line));
    }
    let mut plain = Vec::new();
    write_csv_field(&mut plain, b"x.png").unwrap();
    assert_eq!(plain, b"x.png");
}

#[test]
fn labels_parse_and_others_do_not() {
    assert_eq!(parse_label(b" 1 "), Some(true));
    assert_eq!(parse_label(b"sAmE"), Some(true));
    assert_eq!(parse_label(b"0"), Some(false));
    for bad in [&b""[..], b"2", b"yes", b"-1", b"1.0", b"no"] {
        assert_eq!(parse_label(bad), None, "{bad:?}");
    }
}

#[test]
fn corrupt_lists_are_one_line_naming_the_list_and_the_line() {
    let cases: [(&[u8], Labels, &str); 12] = [
        (
            b"a,b,1\nonly_one\n",
            Labels::Required,
            "dir/list.csv, line 2: 1 fields, expected 2 or 3",
        ),
        (
            b"a,b,1\na,b,1,extra\n",
            Labels::Optional,
            "line 2: 4 fields",
        ),
        (
            b"a,b,1\nc,d,2\n",
            Labels::Required,
            "line 2: label '2' is not 1/same/true or 0/different/false",
        ),
        (b"a,b,\n", Labels::Optional, "line 1: label '' is not"),
        (
            b"a,b,1\n\"open,b,1\nc,d,1\n",
            Labels::Required,
            "line 2: a quote opened on this line is never closed",
        ),
        (
            b"a,b,1\n\"x\"y,b,1\n",
            Labels::Required,
            "line 2: text after the closing quote of field 1",
        ),
        (
            b"a,b,1\nx\"y,b,1\n",
            Labels::Required,
            "line 2: a quote inside unquoted field 1",
        ),
        (
            b"a,b,1\n,b,1\n",
            Labels::Required,
            "line 2: path_a is empty",
        ),
        (b"a,\"\",1\n", Labels::Required, "line 1: path_b is empty"),
        (
            b"a,b,1\nc,d\n",
            Labels::Required,
            "line 2: no label, but line 1 has one",
        ),
        (
            b"c,d\n",
            Labels::Required,
            "line 1: no label: every line needs path_a,path_b,label",
        ),
        (
            b"# only a comment\n\n",
            Labels::Optional,
            "dir/list.csv: the list holds no pairs",
        ),
    ];
    for (text, labels, needle) in cases {
        let e = err(text, labels);
        assert!(
            e.contains(needle),
            "{:?}: {e}",
            String::from_utf8_lossy(text)
        );
    }
    // A header alone holds no pairs either; an empty input neither.
    assert!(err(b"path_a,path_b,label\n", Labels::Required).contains("no pairs"));
    assert!(err(b"", Labels::Optional).contains("no pairs"));
    // Score's lists may mix: the label is not needed there.
    assert_eq!(read(b"a,b,1\nc,d\n", Labels::Optional).unwrap().len(), 2);
}

#[test]
fn the_reader_stops_at_its_first_error_and_streams_before_it() {
    let mut r = PairListReader::new(
        Cursor::new(b"a,b,1\nbad\nc,d,1\n".to_vec()),
        Path::new("l"),
        Path::new(""),
        Labels::Required,
    );
    assert!(r.next().unwrap().is_ok());
    assert!(r.next().unwrap().is_err());
    assert!(r.next().is_none());
}

#[test]
fn a_line_without_end_is_refused_at_the_limit() {
    let mut text = b"a,b,1\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES + 10));
    let e = err(&text, Labels::Required);
    assert!(
        e.contains(&format!(
            "line 2: a record longer than {MAX_RECORD_BYTES} bytes"
        )),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_paths_are_bytes() {
    let p = read(b"caf\xe9.png,b.png,1\n", Labels::Required).unwrap();
    assert_eq!(p[0].a.written, b"caf\xe9.png");
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(p[0].a.path.as_os_str().as_bytes(), b"dir/caf\xe9.png");
}

#[test]
fn a_list_file_reads_whole_and_a_missing_one_names_itself() {
    let t = tempfile::tempdir().unwrap();
    let list = t.path().join("pairs.csv");
    std::fs::write(&list, "a.png,sub/b.png,1\n").unwrap();
    let p = read_pair_list(&list, Labels::Required).unwrap();
    assert_eq!(p[0].b.path, t.path().join("sub/b.png"));
    let missing = t.path().join("absent.csv");
    let e = read_pair_list(&missing, Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.csv") && !e.contains('\n'), "{e}");
    // A folder given as the list.
    let e = read_pair_list(t.path(), Labels::Required)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&t.path().display().to_string()), "{e}");
}
