//! A segment of call records as a Parquet file: what the operator reads
//! without callscreen (DuckDB, ClickHouse, pandas, `parquet-tools`), and
//! what `find` and `whatif` read here. Columns are compressed with zstd,
//! repeated texts (peers, verdicts, reasons, list versions) dictionary
//! encoded; the keys a call is found by (`call_id`, `ref`, `caller`,
//! `pai`, `callee`) carry a Bloom filter per row group, and `time_ms`
//! its minimum and maximum, so that a search reads only the row groups
//! that may hold the call.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::bloom_filter::Sbbf;
use parquet::column::reader::get_typed_column_reader;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::properties::{ReaderProperties, WriterProperties};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use super::row::{Record, Rows};

/// The columns, in the order of [`Record`]'s fields.
pub const SCHEMA: &str = "message call_record {
  required int64 time_ms (TIMESTAMP(MILLIS,true));
  required binary call_id (STRING);
  optional binary ref (STRING);
  required binary peer (STRING);
  optional binary source (STRING);
  required binary direction (STRING);
  required binary caller (STRING);
  optional binary caller_name (STRING);
  optional binary pai (STRING);
  optional binary pai_name (STRING);
  optional binary callee (STRING);
  optional binary to (STRING);
  required boolean emergency;
  required boolean diverted;
  optional binary passport (STRING);
  optional binary stir (STRING);
  required boolean insisted;
  required int32 burst_number (INTEGER(32,false));
  required int32 burst_block (INTEGER(32,false));
  optional binary roaming (STRING);
  required binary verdict (STRING);
  required int32 code (INTEGER(16,false));
  required binary reasons (STRING);
  required binary lists (STRING);
  optional binary verstat (STRING);
  required int32 latency_us (INTEGER(32,false));
}";

/// The columns' names, in [`SCHEMA`]'s order.
pub const COLUMNS: [&str; 26] = [
    "time_ms",
    "call_id",
    "ref",
    "peer",
    "source",
    "direction",
    "caller",
    "caller_name",
    "pai",
    "pai_name",
    "callee",
    "to",
    "emergency",
    "diverted",
    "passport",
    "stir",
    "insisted",
    "burst_number",
    "burst_block",
    "roaming",
    "verdict",
    "code",
    "reasons",
    "lists",
    "verstat",
    "latency_us",
];

/// The columns a call is found by, with a Bloom filter each.
pub const KEYS: [&str; 5] = ["call_id", "ref", "caller", "pai", "callee"];

/// Rows per row group: the unit a search skips or reads.
pub const ROW_GROUP: usize = 65_536;

/// Rows per data page (at most).
pub const PAGE_ROWS: usize = 4096;

/// The Bloom filters' false-positive rate.
const FPP: f64 = 0.01;

pub type Error = parquet::errors::ParquetError;

/// Writes `rows` (in time order) as one Parquet file at `path` (created;
/// the caller renames it into place after `sync_all`).
pub fn write(path: &Path, rows: &(impl Rows + ?Sized)) -> Result<File, Error> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let mut props = WriterProperties::builder()
        // Level 1: faster than 3 and, on these columns, smaller too
        // (BENCHMARKS.md "Call records").
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        // Pages of a few thousand rows: a search that found a row reads
        // the page that holds it in each column, not the whole row group.
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_created_by(format!("callscreen {}", env!("CARGO_PKG_VERSION")));
    // Minimum and maximum only where a search uses them (time); the
    // texts' would cost a comparison per value for nothing.
    for (i, name) in COLUMNS.iter().enumerate() {
        if i != 0 {
            props = props.set_column_statistics_enabled(
                ColumnPath::from(*name),
                parquet::file::properties::EnabledStatistics::None,
            );
        }
    }
    let ndv = rows.len().clamp(1, ROW_GROUP) as u64;
    for k in KEYS {
        let c = ColumnPath::from(k);
        props = props
            .set_column_bloom_filter_enabled(c.clone(), true)
            .set_column_bloom_filter_fpp(c.clone(), FPP)
            .set_column_bloom_filter_max_ndv(c.clone(), ndv)
            // Random values: a dictionary only costs.
            .set_column_dictionary_enabled(c, false);
    }
    let file = File::create(path)?;
    let mut w = SerializedFileWriter::new(file, schema, Arc::new(props.build()))?;
    let mut start = 0;
    while start < rows.len() {
        let range = start..(start + ROW_GROUP).min(rows.len());
        let mut rg = w.next_row_group()?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column()? {
            write_column(&mut col, i, rows, range.clone())?;
            col.close()?;
            i += 1;
        }
        rg.close()?;
        start = range.end;
    }
    w.into_inner()
}

/// A text column's values for `range` as `ByteArray`s sharing one buffer
/// (one allocation for the column, not one per value), and the definition
/// levels (1: present).
fn texts(
    rows: &(impl Rows + ?Sized),
    col: usize,
    range: std::ops::Range<usize>,
) -> (Vec<ByteArray>, Vec<i16>) {
    let mut buf = Vec::new();
    let mut ends = Vec::with_capacity(range.len());
    let mut defs = Vec::with_capacity(range.len());
    for k in range {
        match rows.text(k, col) {
            Some(v) => {
                buf.extend_from_slice(v);
                ends.push(buf.len());
                defs.push(1);
            }
            None => defs.push(0),
        }
    }
    let buf = bytes::Bytes::from(buf);
    let mut start = 0;
    let vals = ends
        .into_iter()
        .map(|end| {
            let v = ByteArray::from(buf.slice(start..end));
            start = end;
            v
        })
        .collect();
    (vals, defs)
}

fn write_column(
    col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    i: usize,
    rows: &(impl Rows + ?Sized),
    range: std::ops::Range<usize>,
) -> Result<(), Error> {
    match i {
        0 => {
            let v: Vec<i64> = range.map(|k| rows.time_ms(k) as i64).collect();
            col.typed::<Int64Type>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        12 | 13 | 16 => {
            let v: Vec<bool> = range.map(|k| rows.flag(k, i)).collect();
            col.typed::<BoolType>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        17 | 18 | 21 | 25 => {
            let v: Vec<i32> = range.map(|k| rows.int(k, i)).collect();
            col.typed::<Int32Type>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        _ => {
            let (v, d) = texts(rows, i, range);
            let optional = col_optional(i);
            col.typed::<ByteArrayType>()
                .write_batch(&v, optional.then_some(&d[..]), None)
                .map(drop)
        }
    }
}

/// Whether column `i` of [`SCHEMA`] may be null.
fn col_optional(i: usize) -> bool {
    matches!(i, 2 | 4 | 7 | 8 | 9 | 10 | 11 | 14 | 15 | 19 | 24)
}

/// An open segment, its row groups read on demand.
pub struct Segment {
    reader: SerializedFileReader<File>,
    /// The same file, for reading one column chunk's Bloom filter alone.
    file: File,
}

/// What a search looks for: a key column's value (one of [`KEYS`], or
/// several columns for one number: a caller is the From or the PAI), and
/// a time window.
pub struct Find<'a> {
    pub columns: &'a [&'a str],
    pub value: Option<&'a str>,
    pub since_ms: u64,
    pub until_ms: u64,
}

impl Segment {
    pub fn open(path: &Path) -> Result<Segment, Error> {
        let file = File::open(path)?;
        // Bloom filters are read one column chunk at a time, when a search
        // needs that one (not every key's for each row group opened).
        let opts = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(false)
                    .build(),
            )
            .with_page_index()
            .build();
        Ok(Segment {
            file: file.try_clone()?,
            reader: SerializedFileReader::new_with_options(file, opts)?,
        })
    }

    pub fn rows(&self) -> u64 {
        self.reader.metadata().file_metadata().num_rows() as u64
    }

    /// Bytes of the Bloom filters (the index) in the file.
    pub fn bloom_bytes(&self) -> u64 {
        let m = self.reader.metadata();
        (0..m.num_row_groups())
            .flat_map(|g| m.row_group(g).columns().iter())
            .filter_map(|c| c.bloom_filter_length())
            .map(|l| l as u64)
            .sum()
    }

    pub fn row_groups(&self) -> usize {
        self.reader.num_row_groups()
    }

    /// The row groups that may hold what `f` looks for: their time range
    /// meets the window, and each key column's Bloom filter may hold the value.
    pub fn candidates(&self, f: &Find<'_>) -> Result<Vec<usize>, Error> {
        let meta = self.reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let index =
            |name: &str| (0..schema.num_columns()).find(|&i| schema.column(i).name() == name);
        let mut out = Vec::new();
        for g in 0..meta.num_row_groups() {
            let rg = meta.row_group(g);
            if let Some(Statistics::Int64(s)) = rg.column(0).statistics() {
                let (lo, hi) = (s.min_opt().copied(), s.max_opt().copied());
                if lo.is_some_and(|lo| lo as u64 > f.until_ms)
                    || hi.is_some_and(|hi| (hi as u64) < f.since_ms)
                {
                    continue;
                }
            }
            let Some(v) = f.value else {
                out.push(g);
                continue;
            };
            let value = ByteArray::from(v);
            let mut maybe = false;
            for c in f.columns {
                let Some(i) = index(c) else { continue };
                match Sbbf::read_from_column_chunk(rg.column(i), &self.file)? {
                    Some(b) if !b.check(&value) => {}
                    // Possibly there, or no filter to say it is not.
                    _ => {
                        maybe = true;
                        break;
                    }
                }
            }
            if maybe {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Row group `g`, whole.
    pub fn read(&self, g: usize) -> Result<Vec<Record>, Error> {
        let rg = self.reader.get_row_group(g)?;
        let n = rg.metadata().num_rows() as usize;
        let mut rows = vec![Record::default(); n];
        for i in 0..rg.num_columns() {
            read_column(rg.as_ref(), i, n, None, &mut rows)?;
        }
        Ok(rows)
    }

    /// The rows of row group `g` where one of `columns` is `value`: the
    /// key columns read first, the others only when a row matches, and
    /// only the matching rows made into records.
    pub fn read_matching(
        &self,
        g: usize,
        columns: &[&str],
        value: &str,
    ) -> Result<Vec<Record>, Error> {
        let rg = self.reader.get_row_group(g)?;
        let n = rg.metadata().num_rows() as usize;
        let schema = self.reader.metadata().file_metadata().schema_descr();
        let mut sel = Vec::new();
        for c in columns {
            let Some(i) = (0..schema.num_columns()).find(|&i| schema.column(i).name() == *c) else {
                continue;
            };
            for (k, v) in per_row(rg.as_ref(), i, n)?.iter().enumerate() {
                if v.as_ref().is_some_and(|b| b.data() == value.as_bytes()) {
                    sel.push(k);
                }
            }
        }
        sel.sort_unstable();
        sel.dedup();
        if sel.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = vec![Record::default(); sel.len()];
        for i in 0..rg.num_columns() {
            read_column(rg.as_ref(), i, n, Some(&sel), &mut rows)?;
        }
        Ok(rows)
    }
}

/// Reads a column's values: its non-null values and, for an optional
/// column, the definition levels (1: present).
fn column<T: DataType>(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
) -> Result<(Vec<T::T>, Vec<i16>), Error>
where
    T::T: Default + Clone,
{
    let mut r = get_typed_column_reader::<T>(rg.get_column_reader(i)?);
    let (mut vals, mut defs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let optional = rg.metadata().column(i).column_descr().max_def_level() > 0;
    let mut read = 0;
    while read < n {
        let (recs, _, _) =
            r.read_records(n - read, optional.then_some(&mut defs), None, &mut vals)?;
        if recs == 0 {
            return Err(Error::General(format!("column {i}: {read} of {n} rows")));
        }
        read += recs;
    }
    Ok((vals, defs))
}

/// A row group's columns as read (values not turned into records): what
/// the what-if decides from, row by row, without allocating per row.
pub struct Group {
    pub rows: usize,
    text: Vec<Vec<Option<ByteArray>>>,
    int64: Vec<i64>,
    ints: [Vec<i32>; 2],
    bools: [Vec<bool>; 3],
}

/// The text columns a decision needs, by their index in [`SCHEMA`]
/// (not `call_id` and `ref`: the largest, read for the few rows named).
const INPUT_TEXTS: [usize; 13] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15, 19, 20];

impl Group {
    /// Text column `col` (an index in [`SCHEMA`]) at row `k`.
    fn text(&self, col: usize, k: usize) -> Option<&str> {
        // INPUT_TEXTS is 3..=11, then 14, 15, 19, 20.
        let slot = match col {
            3..=11 => col - 3,
            14 | 15 => col - 5,
            19 | 20 => col - 8,
            _ => return None,
        };
        self.text[slot]
            .get(k)?
            .as_ref()
            .and_then(|b| std::str::from_utf8(b.data()).ok())
    }

    /// Row `k`'s inputs (without its Call-ID and reference: see
    /// [`Segment::read_rows`]).
    pub fn inputs(&self, k: usize) -> super::row::Inputs<'_> {
        let t = |c| self.text(c, k);
        super::row::Inputs {
            time_ms: self.int64.get(k).map_or(0, |&v| v as u64),
            call_id: "",
            reference: None,
            peer: t(3).unwrap_or_default(),
            source: t(4),
            originating: t(5) == Some("originating"),
            caller: t(6).unwrap_or_default(),
            caller_name: t(7),
            pai: t(8),
            pai_name: t(9),
            callee: t(10),
            to: t(11),
            emergency: self.bools[0].get(k).copied().unwrap_or(false),
            diverted: self.bools[1].get(k).copied().unwrap_or(false),
            passport: t(14),
            stir: t(15),
            insisted: self.bools[2].get(k).copied().unwrap_or(false),
            burst_number: self.ints[0].get(k).map_or(0, |&v| v as u32),
            burst_block: self.ints[1].get(k).map_or(0, |&v| v as u32),
            roaming: t(19),
            verdict: t(20).unwrap_or_default(),
        }
    }
}

impl Segment {
    /// Rows `sel` (in order) of row group `g`, whole.
    pub fn read_rows(&self, g: usize, sel: &[usize]) -> Result<Vec<Record>, Error> {
        let rg = self.reader.get_row_group(g)?;
        let n = rg.metadata().num_rows() as usize;
        let mut rows = vec![Record::default(); sel.len()];
        for i in 0..rg.num_columns() {
            read_column(rg.as_ref(), i, n, Some(sel), &mut rows)?;
        }
        Ok(rows)
    }

    /// Row group `g`'s columns that a decision needs.
    pub fn read_inputs(&self, g: usize) -> Result<Group, Error> {
        let rg = self.reader.get_row_group(g)?;
        let n = rg.metadata().num_rows() as usize;
        let r = rg.as_ref();
        let mut text = Vec::with_capacity(INPUT_TEXTS.len());
        for c in INPUT_TEXTS {
            text.push(per_row(r, c, n)?);
        }
        Ok(Group {
            rows: n,
            text,
            int64: values::<Int64Type>(r, 0, n, None)?,
            ints: [
                values::<Int32Type>(r, 17, n, None)?,
                values::<Int32Type>(r, 18, n, None)?,
            ],
            bools: [
                values::<BoolType>(r, 12, n, None)?,
                values::<BoolType>(r, 13, n, None)?,
                values::<BoolType>(r, 16, n, None)?,
            ],
        })
    }
}

/// Column `i`'s values for the rows `sel` picks (all `n` when none), row
/// by row (`None`: null). A few rows are reached by skipping: whole pages
/// are passed over through the offset index, undecoded.
fn rows_of<T: DataType>(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
    sel: Option<&[usize]>,
) -> Result<Vec<Option<T::T>>, Error>
where
    T::T: Default + Clone,
{
    let Some(sel) = sel else {
        let (vals, defs) = column::<T>(rg, i, n)?;
        if defs.is_empty() {
            return Ok(vals.into_iter().map(Some).collect());
        }
        let mut it = vals.into_iter();
        return Ok(defs
            .iter()
            .map(|&d| if d > 0 { it.next() } else { None })
            .collect());
    };
    let mut r = get_typed_column_reader::<T>(rg.get_column_reader(i)?);
    let optional = rg.metadata().column(i).column_descr().max_def_level() > 0;
    let (mut out, mut pos) = (Vec::with_capacity(sel.len()), 0);
    let (mut v, mut d) = (Vec::with_capacity(1), Vec::with_capacity(1));
    for &k in sel {
        if k > pos && r.skip_records(k - pos)? != k - pos {
            return Err(Error::General(format!("column {i}: no row {k}")));
        }
        v.clear();
        d.clear();
        let (recs, _, _) = r.read_records(1, optional.then_some(&mut d), None, &mut v)?;
        if recs != 1 {
            return Err(Error::General(format!("column {i}: no row {k}")));
        }
        out.push(v.pop());
        pos = k + 1;
    }
    Ok(out)
}

fn per_row(rg: &dyn RowGroupReader, i: usize, n: usize) -> Result<Vec<Option<ByteArray>>, Error> {
    rows_of::<ByteArrayType>(rg, i, n, None)
}

fn strings(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
    sel: Option<&[usize]>,
) -> Result<Vec<Option<String>>, Error> {
    let s = |b: Option<ByteArray>| b.map(|b| String::from_utf8_lossy(b.data()).into_owned());
    Ok(rows_of::<ByteArrayType>(rg, i, n, sel)?
        .into_iter()
        .map(s)
        .collect())
}

/// A required column's values for the rows `sel` picks.
fn values<T: DataType>(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
    sel: Option<&[usize]>,
) -> Result<Vec<T::T>, Error>
where
    T::T: Default + Clone,
{
    Ok(rows_of::<T>(rg, i, n, sel)?
        .into_iter()
        .map(Option::unwrap_or_default)
        .collect())
}

fn read_column(
    rg: &dyn RowGroupReader,
    i: usize,
    n: usize,
    sel: Option<&[usize]>,
    rows: &mut [Record],
) -> Result<(), Error> {
    let set_s = |rows: &mut [Record], f: fn(&mut Record, Option<String>)| -> Result<(), Error> {
        for (r, v) in rows.iter_mut().zip(strings(rg, i, n, sel)?) {
            f(r, v);
        }
        Ok(())
    };
    match i {
        0 => {
            let v = values::<Int64Type>(rg, i, n, sel)?;
            rows.iter_mut()
                .zip(v)
                .for_each(|(r, t)| r.time_ms = t as u64);
            Ok(())
        }
        1 => set_s(rows, |r, v| r.call_id = v.unwrap_or_default()),
        2 => set_s(rows, |r, v| r.reference = v),
        3 => set_s(rows, |r, v| r.peer = v.unwrap_or_default()),
        4 => set_s(rows, |r, v| r.source = v),
        5 => set_s(rows, |r, v| r.direction = v.unwrap_or_default()),
        6 => set_s(rows, |r, v| r.caller = v.unwrap_or_default()),
        7 => set_s(rows, |r, v| r.caller_name = v),
        8 => set_s(rows, |r, v| r.pai = v),
        9 => set_s(rows, |r, v| r.pai_name = v),
        10 => set_s(rows, |r, v| r.callee = v),
        11 => set_s(rows, |r, v| r.to = v),
        12 | 13 | 16 => {
            let v = values::<BoolType>(rg, i, n, sel)?;
            for (r, b) in rows.iter_mut().zip(v) {
                match i {
                    12 => r.emergency = b,
                    13 => r.diverted = b,
                    _ => r.insisted = b,
                }
            }
            Ok(())
        }
        14 => set_s(rows, |r, v| r.passport = v),
        15 => set_s(rows, |r, v| r.stir = v),
        17 | 18 | 21 | 25 => {
            let v = values::<Int32Type>(rg, i, n, sel)?;
            for (r, x) in rows.iter_mut().zip(v) {
                match i {
                    17 => r.burst_number = x as u32,
                    18 => r.burst_block = x as u32,
                    21 => r.code = x as u16,
                    _ => r.latency_us = x as u32,
                }
            }
            Ok(())
        }
        19 => set_s(rows, |r, v| r.roaming = v),
        20 => set_s(rows, |r, v| r.verdict = v.unwrap_or_default()),
        22 => set_s(rows, |r, v| r.reasons = v.unwrap_or_default()),
        23 => set_s(rows, |r, v| r.lists = v.unwrap_or_default()),
        24 => set_s(rows, |r, v| r.verstat = v),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_names_are_the_schema_s() {
        let schema = parse_message_type(SCHEMA).expect("the schema");
        let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, COLUMNS);
    }

    #[test]
    fn every_input_column_has_its_slot() {
        let g = Group {
            rows: 1,
            text: INPUT_TEXTS
                .iter()
                .map(|c| vec![Some(ByteArray::from(c.to_string().as_str()))])
                .collect(),
            int64: vec![0],
            ints: [vec![0], vec![0]],
            bools: [vec![false], vec![false], vec![false]],
        };
        for c in INPUT_TEXTS {
            assert_eq!(g.text(c, 0), Some(c.to_string().as_str()), "column {c}");
        }
        assert_eq!(g.text(1, 0), None);
    }

    #[test]
    fn a_record_written_is_read_back_the_same() {
        let dir =
            std::env::temp_dir().join(format!("callscreen-records-file-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("seg.parquet");
        let full = Record {
            time_ms: 1_796_000_000_123,
            call_id: "abc@host".into(),
            reference: Some("0MN9QQPE0R".into()),
            peer: "kpn".into(),
            source: Some("192.0.2.1".into()),
            direction: "originating".into(),
            caller: "+31201234567".into(),
            caller_name: Some("Micr0soft \"Support\"".into()),
            pai: Some("withheld".into()),
            pai_name: Some("P".into()),
            callee: Some("+31104567890".into()),
            to: Some("+31104567890".into()),
            emergency: true,
            diverted: true,
            passport: Some(
                "attest=A orig=+31201234567 dest=+31104567890 dests=1 iat=1796000000 x5u".into(),
            ),
            stir: Some("signed".into()),
            insisted: true,
            burst_number: 3,
            burst_block: 7,
            roaming: Some("roaming".into()),
            verdict: "reject".into(),
            code: 608,
            reasons: "list:scam-origins,spoof:brand".into(),
            lists: "scam-origins@4".into(),
            verstat: Some("TN-Validation-Passed".into()),
            latency_us: 42,
        };
        let empty = Record {
            time_ms: 1_796_000_000_124,
            call_id: "x".into(),
            caller: "invalid".into(),
            direction: "terminating".into(),
            verdict: "allow".into(),
            reasons: "-".into(),
            lists: "-".into(),
            peer: "p".into(),
            ..Record::default()
        };
        // Sealed as the daemon seals: from a staging log's bytes.
        let mut stage = Vec::new();
        // Out of order in the log: sealed in time order.
        super::super::row::encode_record(&mut stage, &empty);
        super::super::row::encode_record(&mut stage, &full);
        stage.extend_from_slice(&[9, 0, 0, 0, 1]);
        let (rows, torn) = super::super::row::Stage::parse(stage);
        assert!(torn);
        write(&path, &rows).expect("written");
        let seg = Segment::open(&path).expect("opened");
        assert_eq!(seg.read(0).expect("read"), [full.clone(), empty.clone()]);
        assert_eq!(seg.read_rows(0, &[1]).expect("read"), [empty]);
        let i = seg
            .read_inputs(0)
            .expect("read")
            .inputs(0)
            .facts(0)
            .map(|f| f.burst.block);
        assert_eq!(i, Ok(7));
        let found = seg
            .read_matching(0, &["pai", "caller"], "+31201234567")
            .expect("read");
        assert_eq!(found, [full]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
