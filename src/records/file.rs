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
use parquet::column::reader::get_typed_column_reader;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, Int32Type, Int64Type};
use parquet::file::properties::{ReaderProperties, WriterProperties};
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::{ReadOptionsBuilder, SerializedFileReader};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

use super::row::Record;

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

/// The columns a call is found by, with a Bloom filter each.
pub const KEYS: [&str; 5] = ["call_id", "ref", "caller", "pai", "callee"];

/// Rows per row group: the unit a search skips or reads.
pub const ROW_GROUP: usize = 65_536;

/// The Bloom filters' false-positive rate.
const FPP: f64 = 0.01;

pub type Error = parquet::errors::ParquetError;

/// Writes `records` (in time order) as one Parquet file at `path`
/// (created; the caller renames it into place after `sync_all`).
pub fn write(path: &Path, records: &[Record]) -> Result<File, Error> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_created_by(format!("callscreen {}", env!("CARGO_PKG_VERSION")));
    let ndv = records.len().clamp(1, ROW_GROUP) as u64;
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
    for chunk in records.chunks(ROW_GROUP) {
        let mut rg = w.next_row_group()?;
        let mut i = 0;
        while let Some(mut col) = rg.next_column()? {
            write_column(&mut col, i, chunk)?;
            col.close()?;
            i += 1;
        }
        rg.close()?;
    }
    w.into_inner()
}

fn text(s: &str) -> ByteArray {
    ByteArray::from(s.as_bytes().to_vec())
}

/// A required text column's values.
fn req(rows: &[Record], f: impl Fn(&Record) -> &str) -> Vec<ByteArray> {
    rows.iter().map(|r| text(f(r))).collect()
}

/// An optional text column's values and definition levels.
fn opt(rows: &[Record], f: impl Fn(&Record) -> Option<&str>) -> (Vec<ByteArray>, Vec<i16>) {
    let mut vals = Vec::new();
    let defs = rows
        .iter()
        .map(|r| match f(r) {
            Some(s) => {
                vals.push(text(s));
                1
            }
            None => 0,
        })
        .collect();
    (vals, defs)
}

fn write_column(
    col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    i: usize,
    rows: &[Record],
) -> Result<(), Error> {
    fn strs(
        col: &mut parquet::file::writer::SerializedColumnWriter<'_>,
        v: &[ByteArray],
        d: Option<&[i16]>,
    ) -> Result<(), Error> {
        col.typed::<ByteArrayType>()
            .write_batch(v, d, None)
            .map(drop)
    }
    let o = |v: &(Vec<ByteArray>, Vec<i16>), col: &mut _| strs(col, &v.0, Some(&v.1));
    let bools = |f: fn(&Record) -> bool| rows.iter().map(f).collect::<Vec<_>>();
    let ints = |f: fn(&Record) -> i32| rows.iter().map(f).collect::<Vec<_>>();
    match i {
        0 => {
            let v: Vec<i64> = rows.iter().map(|r| r.time_ms as i64).collect();
            col.typed::<Int64Type>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        1 => strs(col, &req(rows, |r| &r.call_id), None),
        2 => o(&opt(rows, |r| r.reference.as_deref()), col),
        3 => strs(col, &req(rows, |r| &r.peer), None),
        4 => o(&opt(rows, |r| r.source.as_deref()), col),
        5 => strs(col, &req(rows, |r| &r.direction), None),
        6 => strs(col, &req(rows, |r| &r.caller), None),
        7 => o(&opt(rows, |r| r.caller_name.as_deref()), col),
        8 => o(&opt(rows, |r| r.pai.as_deref()), col),
        9 => o(&opt(rows, |r| r.pai_name.as_deref()), col),
        10 => o(&opt(rows, |r| r.callee.as_deref()), col),
        11 => o(&opt(rows, |r| r.to.as_deref()), col),
        12 | 13 | 16 => {
            let v = bools(match i {
                12 => |r| r.emergency,
                13 => |r| r.diverted,
                _ => |r| r.insisted,
            });
            col.typed::<BoolType>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        14 => o(&opt(rows, |r| r.passport.as_deref()), col),
        15 => o(&opt(rows, |r| r.stir.as_deref()), col),
        17 | 18 | 21 | 25 => {
            let v = ints(match i {
                17 => |r| r.burst_number as i32,
                18 => |r| r.burst_block as i32,
                21 => |r| i32::from(r.code),
                _ => |r| r.latency_us as i32,
            });
            col.typed::<Int32Type>()
                .write_batch(&v, None, None)
                .map(drop)
        }
        19 => o(&opt(rows, |r| r.roaming.as_deref()), col),
        20 => strs(col, &req(rows, |r| &r.verdict), None),
        22 => strs(col, &req(rows, |r| &r.reasons), None),
        23 => strs(col, &req(rows, |r| &r.lists), None),
        24 => o(&opt(rows, |r| r.verstat.as_deref()), col),
        _ => Err(Error::General(format!("no column {i}"))),
    }
}

/// An open segment, its row groups read on demand.
pub struct Segment {
    reader: SerializedFileReader<File>,
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
        let opts = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        Ok(Segment {
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
            let reader = self.reader.get_row_group(g)?;
            let maybe = f.columns.iter().any(|c| {
                index(c)
                    .and_then(|i| reader.get_column_bloom_filter(i))
                    .is_none_or(|b| b.check(&ByteArray::from(v)))
            });
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
            read_column(rg.as_ref(), i, &mut rows)?;
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

fn strings(rg: &dyn RowGroupReader, i: usize, n: usize) -> Result<Vec<Option<String>>, Error> {
    let (vals, defs) = column::<ByteArrayType>(rg, i, n)?;
    let s = |b: &ByteArray| String::from_utf8_lossy(b.data()).into_owned();
    if defs.is_empty() {
        return Ok(vals.iter().map(|b| Some(s(b))).collect());
    }
    let mut it = vals.iter();
    Ok(defs
        .iter()
        .map(|&d| if d > 0 { it.next().map(s) } else { None })
        .collect())
}

fn read_column(rg: &dyn RowGroupReader, i: usize, rows: &mut [Record]) -> Result<(), Error> {
    let n = rows.len();
    let set_s = |rows: &mut [Record], f: fn(&mut Record, Option<String>)| -> Result<(), Error> {
        for (r, v) in rows.iter_mut().zip(strings(rg, i, n)?) {
            f(r, v);
        }
        Ok(())
    };
    match i {
        0 => {
            let (v, _) = column::<Int64Type>(rg, i, n)?;
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
            let (v, _) = column::<BoolType>(rg, i, n)?;
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
            let (v, _) = column::<Int32Type>(rg, i, n)?;
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
