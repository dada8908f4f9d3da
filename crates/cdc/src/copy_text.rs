//! Lines of `COPY ... TO STDOUT` output in text format.
//!
//! Each line is one row; fields are separated by tabs; a field that is
//! exactly `\N` is null; backslash escapes stand for the tab, newline,
//! backslash and other bytes inside a value (PostgreSQL's
//! `CopyAttributeOutText` writes them, `CopyReadAttributesText` reads them).

/// Why a line of `COPY` text output could not be read. Names the field and
/// byte offset, never the content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CopyTextError {
    /// The line ends with a backslash that escapes nothing (a cut line).
    #[error("[CDC-0210] COPY line ends inside a backslash escape (field {field}, byte {offset})")]
    UnfinishedEscape {
        /// The field, counting from 0.
        field: usize,
        /// The offset of the backslash in the line.
        offset: usize,
    },
    /// The line has a different number of fields than the table has
    /// columns. [`for_each_field`] does not know the column count and never
    /// returns this; its callers do, after comparing the count it returns.
    #[error("[CDC-0211] COPY line has {found} fields where the table has {expected} columns")]
    FieldCount {
        /// The number of columns.
        expected: usize,
        /// The number of fields in the line.
        found: usize,
    },
}

impl CopyTextError {
    /// The error code, `CDC-0210` or `CDC-0211`.
    pub fn code(&self) -> &'static str {
        match self {
            CopyTextError::UnfinishedEscape { .. } => "CDC-0210",
            CopyTextError::FieldCount { .. } => "CDC-0211",
        }
    }
}

/// Splits one line of `COPY` text output (without its trailing `\n`) into
/// fields and hands each to `f(index, value)`, `None` for a null (`\N`),
/// with backslash escapes decoded. Returns the number of fields, which is
/// at least 1 (an empty line is one empty field).
///
/// A field without a backslash is passed as a slice of `line`; one with
/// escapes is decoded into `scratch`, so a reused `scratch` saves
/// allocations.
///
/// Escapes are those PostgreSQL reads: `\b \f \n \r \t \v`, `\` and 1 to 3
/// octal digits, `\x` and 1 or 2 hex digits, and `\` before any other byte
/// for that byte (`\\` is a backslash). The field `\N` is null, `\\N` is the
/// text `\N`.
///
/// # Errors
///
/// The first error `f` returns, which stops the line, or
/// [`CopyTextError::UnfinishedEscape`] if the line ends with a lone
/// backslash (the fields before it have been handed to `f`).
///
/// ```
/// use caresync_cdc::{for_each_field, CopyTextError};
///
/// let mut fields = Vec::new();
/// let count = for_each_field(b"42\ttab\\there\t\\N", &mut Vec::new(), |i, value| {
///     fields.push((i, value.map(<[u8]>::to_vec)));
///     Ok::<(), CopyTextError>(())
/// })?;
/// assert_eq!(count, 3);
/// assert_eq!(fields[1], (1, Some(b"tab\there".to_vec())));
/// assert_eq!(fields[2], (2, None));
/// # Ok::<(), CopyTextError>(())
/// ```
pub fn for_each_field<E, F>(line: &[u8], scratch: &mut Vec<u8>, mut f: F) -> Result<usize, E>
where
    E: From<CopyTextError>,
    F: FnMut(usize, Option<&[u8]>) -> Result<(), E>,
{
    let mut field = 0;
    let mut pos = 0;
    loop {
        let start = pos;
        pos += plain_run(&line[pos..]);
        if line.get(pos) == Some(&b'\\') {
            if pos == start && is_null_marker(&line[pos..]) {
                pos += 2;
                f(field, None)?;
            } else {
                pos = decode_escaped(line, start, pos, field, scratch)?;
                f(field, Some(scratch.as_slice()))?;
            }
        } else {
            f(field, Some(&line[start..pos]))?;
        }
        field += 1;
        // `pos` is at the end of the line or at a tab.
        if pos >= line.len() {
            return Ok(field);
        }
        pos += 1;
    }
}

/// The length of the prefix without a tab or backslash.
#[inline]
fn plain_run(text: &[u8]) -> usize {
    text.iter()
        .position(|&b| b == b'\t' || b == b'\\')
        .unwrap_or(text.len())
}

/// Whether the field starting at `text` is exactly `\N`.
fn is_null_marker(text: &[u8]) -> bool {
    matches!(text, [b'\\', b'N'] | [b'\\', b'N', b'\t', ..])
}

/// Decodes the field that starts at `start` and has its first backslash at
/// `backslash` into `out`; returns the position of the tab or end of line
/// after it.
fn decode_escaped(
    line: &[u8],
    start: usize,
    backslash: usize,
    field: usize,
    out: &mut Vec<u8>,
) -> Result<usize, CopyTextError> {
    out.clear();
    out.extend_from_slice(&line[start..backslash]);
    let mut pos = backslash;
    while pos < line.len() {
        match line[pos] {
            b'\t' => break,
            b'\\' => {
                let Some(&escaped) = line.get(pos + 1) else {
                    return Err(CopyTextError::UnfinishedEscape { field, offset: pos });
                };
                pos += 2;
                let byte = match escaped {
                    b'0'..=b'7' => {
                        let mut value = u32::from(escaped - b'0');
                        for _ in 0..2 {
                            match line.get(pos) {
                                Some(&digit @ b'0'..=b'7') => {
                                    value = value * 8 + u32::from(digit - b'0');
                                    pos += 1;
                                }
                                _ => break,
                            }
                        }
                        // PostgreSQL keeps the low 8 bits of `\777`.
                        (value & 0xFF) as u8
                    }
                    b'x' => match line.get(pos).copied().and_then(hex_value) {
                        Some(high) => {
                            pos += 1;
                            match line.get(pos).copied().and_then(hex_value) {
                                Some(low) => {
                                    pos += 1;
                                    high << 4 | low
                                }
                                None => high,
                            }
                        }
                        // `\x` without a hex digit is a plain `x`.
                        None => b'x',
                    },
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'v' => 0x0B,
                    other => other,
                };
                out.push(byte);
            }
            _ => {
                let run = plain_run(&line[pos..]);
                out.extend_from_slice(&line[pos..pos + run]);
                pos += run;
            }
        }
    }
    Ok(pos)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{ColumnBuilder, ValueError};
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{
        Date32Type, Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType,
    };
    use proptest::prelude::*;

    /// The fields of a line, owned; `None` for nulls.
    type Fields = Vec<Option<Vec<u8>>>;

    /// The fields of a line, or the error.
    fn split(line: &[u8]) -> Result<Fields, CopyTextError> {
        let mut fields = Vec::new();
        let count = for_each_field(line, &mut Vec::new(), |i, value| {
            assert_eq!(i, fields.len(), "fields come in order");
            fields.push(value.map(<[u8]>::to_vec));
            Ok::<(), CopyTextError>(())
        })?;
        assert_eq!(count, fields.len());
        Ok(fields)
    }

    fn text(field: &[u8]) -> Option<Vec<u8>> {
        Some(field.to_vec())
    }

    /// A value written the way PostgreSQL's `CopyAttributeOutText` writes
    /// it with the tab delimiter.
    fn copy_out(value: &[u8], out: &mut Vec<u8>) {
        for &b in value {
            match b {
                0x08 => out.extend_from_slice(br"\b"),
                0x0C => out.extend_from_slice(br"\f"),
                b'\n' => out.extend_from_slice(br"\n"),
                b'\r' => out.extend_from_slice(br"\r"),
                b'\t' => out.extend_from_slice(br"\t"),
                0x0B => out.extend_from_slice(br"\v"),
                b'\\' => out.extend_from_slice(br"\\"),
                other => out.push(other),
            }
        }
    }

    fn copy_out_line(fields: &[Option<Vec<u8>>]) -> Vec<u8> {
        let mut line = Vec::new();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.push(b'\t');
            }
            match field {
                Some(value) => copy_out(value, &mut line),
                None => line.extend_from_slice(br"\N"),
            }
        }
        line
    }

    #[test]
    fn splits_fields_and_decodes_escapes() {
        let cases: &[(&[u8], Fields)] = &[
            (b"", vec![text(b"")]),
            (b"a", vec![text(b"a")]),
            (b"\t", vec![text(b""), text(b"")]),
            (b"a\tb\t", vec![text(b"a"), text(b"b"), text(b"")]),
            (br"\N", vec![None]),
            (b"\\N\t\\N", vec![None, None]),
            (br"\\N", vec![text(br"\N")]),
            (br"\Nx", vec![text(b"Nx")]),
            (br"x\N", vec![text(b"xN")]),
            (br"a\\b", vec![text(br"a\b")]),
            (br"\b\f\n\r\t\v", vec![text(b"\x08\x0C\n\r\t\x0B")]),
            (
                br"\101\1\0\12x\777\0101",
                vec![text(b"A\x01\0\nx\xFF\x081")],
            ),
            (br"\x41\x4\xg\x4G\xfF\x", vec![text(b"A\x04xg\x04G\xFFx")]),
            (br"\q\.\ ", vec![text(b"q. ")]),
            // A backslash before the delimiter makes it data.
            (b"a\\\tb\tc", vec![text(b"a\tb"), text(b"c")]),
            // `\x0a` is an escape: bytea text has its backslash doubled.
            (
                "é\t\\x0aff".as_bytes(),
                vec![text("é".as_bytes()), text(b"\nff")],
            ),
            (br"\\x0aff", vec![text(br"\x0aff")]),
        ];
        for (line, expected) in cases {
            assert_eq!(
                split(line).as_ref(),
                Ok(expected),
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn reads_a_line_postgresql_wrote() {
        // COPY (SELECT E'a\tb\\c\nd\re\x01f\x7fg', NULL::text, E'\\N', '',
        // '\x0aff'::bytea, 'é', ARRAY['a b', NULL, 'c"d'],
        // '{"a": "x\ty"}'::jsonb, '1 day 02:00', '12:00+05:30'::timetz) TO STDOUT
        // from PostgreSQL 15:
        let line = "a\\tb\\\\c\\nd\\re\x01f\x7fg\t\\N\t\\\\N\t\t\\\\x0aff\té\t{\"a b\",NULL,\"c\\\\\"d\"}\t{\"a\": \"x\\\\ty\"}\t1 day 02:00:00\t12:00:00+05:30";
        assert_eq!(
            split(line.as_bytes()),
            Ok(vec![
                text(b"a\tb\\c\nd\re\x01f\x7fg"),
                None,
                text(br"\N"),
                text(b""),
                text(br"\x0aff"),
                text("é".as_bytes()),
                text(br#"{"a b",NULL,"c\"d"}"#),
                text(br#"{"a": "x\ty"}"#),
                text(b"1 day 02:00:00"),
                text(b"12:00:00+05:30"),
            ])
        );
    }

    #[test]
    fn passes_fields_without_backslash_borrowed() {
        let line = b"plain\twith \\t tab\tplain again";
        let range = line.as_ptr_range();
        let mut borrowed = Vec::new();
        for_each_field(line, &mut Vec::new(), |_, value| {
            let value = value.expect("not null");
            borrowed.push(range.contains(&value.as_ptr()));
            Ok::<(), CopyTextError>(())
        })
        .expect("a valid line");
        assert_eq!(borrowed, [true, false, true]);
    }

    #[test]
    fn lone_backslash_at_the_end_is_an_error() {
        for (line, field, offset) in [
            (&br"secret\"[..], 0, 6),
            (b"a\tsecret\\", 1, 8),
            (b"a\t\\", 1, 2),
            (br"a\\\", 0, 3),
        ] {
            let error = split(line).expect_err("a cut line");
            assert_eq!(error, CopyTextError::UnfinishedEscape { field, offset });
            assert_eq!(error.code(), "CDC-0210");
            assert!(!error.to_string().contains("secret"));
        }
        assert_eq!(
            split(b"a\tsecret\\").map_err(|e| e.to_string()),
            Err("[CDC-0210] COPY line ends inside a backslash escape (field 1, byte 8)".to_owned())
        );
    }

    #[test]
    fn a_callback_error_stops_the_line() {
        let mut seen = Vec::new();
        let result = for_each_field(b"1\t2\t3", &mut Vec::new(), |i, _| {
            seen.push(i);
            if i == 1 {
                Err(CopyTextError::FieldCount {
                    expected: 1,
                    found: 2,
                })
            } else {
                Ok(())
            }
        });
        assert_eq!(
            result,
            Err(CopyTextError::FieldCount {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(seen, [0, 1]);
        assert_eq!(
            CopyTextError::FieldCount {
                expected: 3,
                found: 2
            }
            .to_string(),
            "[CDC-0211] COPY line has 2 fields where the table has 3 columns"
        );
    }

    /// The caller's error: a line or a value that could not be read.
    #[derive(Debug, PartialEq)]
    enum RowError {
        Line(CopyTextError),
        Value { column: usize, source: ValueError },
    }

    impl From<CopyTextError> for RowError {
        fn from(e: CopyTextError) -> Self {
            RowError::Line(e)
        }
    }

    /// Reads one line into the builders, or leaves them as they were.
    fn append_row(
        columns: &mut [ColumnBuilder],
        line: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), RowError> {
        let start = columns.first().map_or(0, ColumnBuilder::len);
        let result = for_each_field(line, scratch, |i, value| {
            // Extra fields are counted, not read.
            let Some(column) = columns.get_mut(i) else {
                return Ok(());
            };
            match value {
                None => column.append_null(),
                Some(text) => column
                    .append_text(text)
                    .map_err(|source| RowError::Value { column: i, source })?,
            }
            Ok(())
        })
        .and_then(|found| match found == columns.len() {
            true => Ok(()),
            false => Err(CopyTextError::FieldCount {
                expected: columns.len(),
                found,
            }
            .into()),
        });
        if result.is_err() {
            // Drop the row: take back the columns it filled.
            for column in columns.iter_mut() {
                column.truncate(start);
            }
        }
        result
    }

    #[test]
    fn copy_rows_fill_column_builders() {
        // CREATE TABLE patient(id int8, mrn text, family text, birth_date date,
        //   updated_at timestamptz, photo bytea, balance numeric(10,2),
        //   active bool, weight float8, note text, tags text[]);
        // two rows, then COPY patient TO STDOUT from PostgreSQL 15:
        let lines: [&[u8]; 2] = [
            b"9007199254740993\tMRN-001\tO'Brien\\tDe La Cruz\\\\Jr\t1984-02-29\t2026-12-03 07:24:05.123456+00\t\\\\x0a00ff\t-12.50\tt\t72.3\t\\N\t{\"a\\\\\\\\b\",NULL}",
            b"-1\t\\\\N\tline1\\nline2\\r\t0044-03-15 BC\t2026-01-01 00:00:00+00\t\\\\x\t0.00\tf\tNaN\t\t{}",
        ];
        let types = [
            (20, -1),
            (25, -1),
            (25, -1),
            (1082, -1),
            (1184, -1),
            (17, -1),
            (1700, (10 << 16 | 2) + 4),
            (16, -1),
            (701, -1),
            (25, -1),
            (1009, -1),
        ];
        let mut columns: Vec<ColumnBuilder> = types
            .iter()
            .map(|&(type_oid, type_modifier)| ColumnBuilder::new(type_oid, type_modifier, 2))
            .collect();
        let mut scratch = Vec::new();
        for line in lines {
            append_row(&mut columns, line, &mut scratch).expect("a row PostgreSQL wrote");
        }
        // A short line, a long line and a bad date are dropped whole.
        let short = lines[0]
            .split(|&b| b == b'\t')
            .take(9)
            .collect::<Vec<_>>()
            .join(&b'\t');
        assert!(matches!(
            append_row(&mut columns, &short, &mut scratch),
            Err(RowError::Line(CopyTextError::FieldCount {
                expected: 11,
                found: 9
            }))
        ));
        let long = [lines[1], b"\textra"].concat();
        assert!(matches!(
            append_row(&mut columns, &long, &mut scratch),
            Err(RowError::Line(CopyTextError::FieldCount {
                expected: 11,
                found: 12
            }))
        ));
        let mut fields: Vec<&[u8]> = lines[1].split(|&b| b == b'\t').collect();
        fields[3] = b"0044-02-30 BC";
        let bad_date = fields.join(&b'\t');
        match append_row(&mut columns, &bad_date, &mut scratch) {
            Err(RowError::Value { column: 3, source }) => assert_eq!(source.code(), "CDC-0202"),
            other => panic!("expected a bad date, got {other:?}"),
        }
        assert!(columns.iter().all(|c| c.len() == 2));

        let arrays: Vec<_> = columns.iter_mut().map(ColumnBuilder::finish).collect();
        assert_eq!(
            arrays[0].as_primitive::<Int64Type>().values(),
            &[9_007_199_254_740_993, -1]
        );
        let mrn = arrays[1].as_string::<i32>();
        assert_eq!((mrn.value(0), mrn.value(1)), ("MRN-001", r"\N"));
        let family = arrays[2].as_string::<i32>();
        assert_eq!(family.value(0), "O'Brien\tDe La Cruz\\Jr");
        assert_eq!(family.value(1), "line1\nline2\r");
        assert_eq!(
            arrays[3].as_primitive::<Date32Type>().values(),
            &[5172, -735_160]
        );
        assert_eq!(
            arrays[4]
                .as_primitive::<TimestampMicrosecondType>()
                .values(),
            &[1_796_282_645_123_456, 1_767_225_600_000_000]
        );
        let photo = arrays[5].as_binary::<i32>();
        assert_eq!(
            (photo.value(0), photo.value(1)),
            (&[0x0A, 0x00, 0xFF][..], &[][..])
        );
        assert_eq!(
            arrays[6].as_primitive::<Decimal128Type>().values(),
            &[-1250, 0]
        );
        let active = arrays[7].as_boolean();
        assert_eq!((active.value(0), active.value(1)), (true, false));
        let weight = arrays[8].as_primitive::<Float64Type>();
        assert_eq!(weight.value(0), 72.3);
        assert!(weight.value(1).is_nan());
        let note = arrays[9].as_string::<i32>();
        assert!(note.is_null(0));
        assert_eq!((note.is_null(1), note.value(1)), (false, ""));
        let tags = arrays[10].as_string::<i32>();
        assert_eq!((tags.value(0), tags.value(1)), (r#"{"a\\b",NULL}"#, "{}"));
    }

    proptest! {
        #[test]
        fn copy_escapes_round_trip(
            fields in proptest::collection::vec(
                proptest::option::weighted(0.9, proptest::collection::vec(
                    prop_oneof![any::<u8>(), proptest::sample::select(&b"\\\t\n\rN\x08\x0B\x0C0x"[..])],
                    0..12,
                )),
                1..8,
            ),
        ) {
            let line = copy_out_line(&fields);
            prop_assert_eq!(split(&line), Ok(fields));
        }

        #[test]
        fn arbitrary_lines_never_panic(
            line in proptest::collection::vec(
                prop_oneof![any::<u8>(), proptest::sample::select(&b"\\\tNx07"[..])],
                0..64,
            ),
        ) {
            if let Ok(fields) = split(&line) {
                // What decodes has as many fields as the line has tabs
                // outside escapes, at least one.
                prop_assert!(!fields.is_empty());
                prop_assert!(fields.len() <= line.iter().filter(|&&b| b == b'\t').count() + 1);
            }
        }
    }
}
