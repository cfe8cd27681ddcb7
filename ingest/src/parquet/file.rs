//! The Parquet file layout: page headers, column chunks, row groups and the
//! footer, written row group by row group with a footer that stays small in
//! memory.
//!
//! polars-parquet encodes the pages; this module compresses them, lays them
//! out as the Parquet format specifies and writes the footer. polars-parquet's
//! own `FileWriter` keeps every page's write spec and every column chunk's
//! metadata as Rust structures until the footer, about 61 KB per row group,
//! so the writer's memory grew with the trace (docs/performance.md). Here
//! each row group's metadata is kept serialized (Thrift compact, about 1.7 KB)
//! and decoded once, at the end. No page index (column and offset indexes) is
//! written: it is optional, and it was what the kept page specs were for.

use std::io::Write;

use polars::prelude::{polars_err, PolarsError, PolarsResult};
use polars_parquet::parquet::compression::{self, Compression, CompressionOptions};
use polars_parquet::parquet::metadata::{ColumnDescriptor, KeyValue, SchemaDescriptor};
use polars_parquet::parquet::page::{DataPageHeader, Page};
use polars_parquet::parquet::statistics::Statistics;
use polars_parquet::parquet::write::{self as pq, ColumnOffsetsMetadata};
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{
    ColumnChunk, ColumnMetaData, DictionaryPageHeader, Encoding, FileMetaData, PageHeader,
    PageType, RowGroup,
};

const MAGIC: &[u8; 4] = b"PAR1";

fn thrift_err(e: polars_parquet_format::thrift::Error) -> PolarsError {
    polars_err!(ComputeError: "Parquet metadata: {e}")
}

/// Serialize a Thrift structure (compact protocol) at the end of `out`.
fn serialize(
    out: &mut Vec<u8>,
    write: impl FnOnce(
        &mut TCompactOutputProtocol<&mut Vec<u8>>,
    ) -> polars_parquet_format::thrift::Result<usize>,
) -> PolarsResult<()> {
    write(&mut TCompactOutputProtocol::new(out))
        .map(|_| ())
        .map_err(thrift_err)
}

/// One column chunk of a row group: its pages, compressed and each behind
/// its header, and what its metadata needs, with offsets relative to the
/// start of `bytes` until [`FileWriter::write_row_group`] places it.
pub(super) struct Chunk {
    bytes: Vec<u8>,
    codec: Compression,
    dictionary_page: bool,
    first_data_page: Option<usize>,
    num_values: i64,
    uncompressed_size: i64,
    encodings: Vec<Encoding>,
    statistics: Option<Statistics>,
}

/// Compress `pages` (one column chunk, as polars-parquet encodes it) with
/// `codec` and put each behind its page header.
pub(super) fn encode_chunk(
    pages: impl Iterator<Item = PolarsResult<Page>>,
    codec: CompressionOptions,
) -> PolarsResult<Chunk> {
    let mut chunk = Chunk {
        bytes: Vec::new(),
        codec: codec.into(),
        dictionary_page: false,
        first_data_page: None,
        num_values: 0,
        uncompressed_size: 0,
        encodings: Vec::new(),
        statistics: None,
    };
    let mut compressed = Vec::new();
    let size = |n: usize| {
        i32::try_from(n).map_err(|_| polars_err!(ComputeError: "Parquet page of {n} bytes"))
    };
    for (i, page) in pages.enumerate() {
        let page = page?;
        let (buffer, mut header) = match &page {
            Page::Dict(dict) => {
                chunk.dictionary_page |= i == 0;
                let num_values = i32::try_from(dict.num_values).map_err(
                    |_| polars_err!(ComputeError: "dictionary of {} values", dict.num_values),
                )?;
                let header = PageHeader {
                    type_: PageType::DICTIONARY_PAGE,
                    uncompressed_page_size: 0,
                    compressed_page_size: 0,
                    crc: None,
                    data_page_header: None,
                    index_page_header: None,
                    dictionary_page_header: Some(DictionaryPageHeader {
                        num_values,
                        encoding: Encoding::PLAIN,
                        is_sorted: None,
                    }),
                    data_page_header_v2: None,
                };
                chunk.encodings.push(Encoding::PLAIN);
                (&dict.buffer[..], header)
            }
            Page::Data(data) => {
                let DataPageHeader::V1(v1) = data.header() else {
                    return Err(polars_err!(ComputeError: "Parquet data page v2 requested"));
                };
                chunk.first_data_page.get_or_insert(chunk.bytes.len());
                chunk.num_values += i64::from(v1.num_values);
                chunk.encodings.extend([v1.encoding, Encoding::RLE]);
                if let Some(stats) = data.statistics().transpose()? {
                    chunk.statistics = Some(match chunk.statistics.take() {
                        None => stats,
                        Some(acc) => merge(acc, stats)?,
                    });
                }
                let header = PageHeader {
                    type_: PageType::DATA_PAGE,
                    uncompressed_page_size: 0,
                    compressed_page_size: 0,
                    crc: None,
                    data_page_header: Some(v1.clone()),
                    index_page_header: None,
                    dictionary_page_header: None,
                    data_page_header_v2: None,
                };
                (data.buffer(), header)
            }
        };
        compressed.clear();
        let payload = if codec == CompressionOptions::Uncompressed {
            buffer
        } else {
            compression::compress(codec, buffer, &mut compressed)?;
            &compressed[..]
        };
        header.uncompressed_page_size = size(buffer.len())?;
        header.compressed_page_size = size(payload.len())?;
        let start = chunk.bytes.len();
        serialize(&mut chunk.bytes, |p| header.write_to_out_protocol(p))?;
        let header_size = (chunk.bytes.len() - start) as i64;
        chunk.uncompressed_size += header_size + buffer.len() as i64;
        chunk.bytes.extend_from_slice(payload);
    }
    chunk.encodings.sort();
    chunk.encodings.dedup();
    Ok(chunk)
}

/// The statistics of two pages of one column chunk, combined as
/// polars-parquet combines them (null counts add up; distinct counts are
/// dropped).
fn merge(acc: Statistics, page: Statistics) -> PolarsResult<Statistics> {
    fn pick<T>(a: Option<T>, b: Option<T>, keep_a: impl Fn(&T, &T) -> bool) -> Option<T> {
        match (a, b) {
            (Some(a), Some(b)) => Some(if keep_a(&a, &b) { a } else { b }),
            (a, b) => a.or(b),
        }
    }
    fn add(a: Option<i64>, b: Option<i64>) -> Option<i64> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        }
    }
    macro_rules! combine {
        ($variant:ident, $a:expr, $b:expr) => {{
            let (mut a, b) = ($a, $b);
            a.min_value = pick(a.min_value, b.min_value, |x, y| x <= y);
            a.max_value = pick(a.max_value, b.max_value, |x, y| x >= y);
            a.null_count = add(a.null_count, b.null_count);
            a.distinct_count = None;
            Statistics::$variant(a)
        }};
    }
    Ok(match (acc, page) {
        (Statistics::Binary(a), Statistics::Binary(b)) => combine!(Binary, a, b),
        (Statistics::Boolean(a), Statistics::Boolean(b)) => combine!(Boolean, a, b),
        (Statistics::Int32(a), Statistics::Int32(b)) => combine!(Int32, a, b),
        (Statistics::Int64(a), Statistics::Int64(b)) => combine!(Int64, a, b),
        (a, _) => {
            return Err(polars_err!(ComputeError:
                "page statistics of a {:?} column cannot be combined", a.physical_type()))
        }
    })
}

/// A Parquet file being written to `out`, one row group at a time.
pub(super) struct FileWriter<W: Write> {
    out: W,
    /// Bytes written so far (the next row group's offset).
    offset: u64,
    columns: Vec<ColumnDescriptor>,
    /// The footer of an empty file as polars-parquet writes it (version,
    /// schema, column orders, creator); row groups, row count and key-value
    /// metadata are filled in at the end.
    footer: Option<FileMetaData>,
    /// Every row group's metadata, Thrift compact, back to back.
    row_groups: Vec<u8>,
    row_group_count: usize,
    rows: i64,
}

impl<W: Write> FileWriter<W> {
    pub(super) fn new(
        out: W,
        schema: SchemaDescriptor,
        options: &polars_parquet::write::WriteOptions,
    ) -> PolarsResult<FileWriter<W>> {
        let columns = schema.columns().to_vec();
        let options = pq::WriteOptions {
            write_statistics: options.has_statistics(),
            version: options.version,
        };
        let mut empty = pq::FileWriter::new(Vec::new(), schema, options, Some("Polars".into()));
        empty.end(None)?;
        let (_, footer) = empty.into_inner_and_metadata();
        Ok(FileWriter {
            out,
            offset: 0,
            columns,
            footer: Some(footer),
            row_groups: Vec::new(),
            row_group_count: 0,
            rows: 0,
        })
    }

    fn start(&mut self) -> PolarsResult<()> {
        if self.offset == 0 {
            self.out.write_all(MAGIC)?;
            self.offset = MAGIC.len() as u64;
        }
        Ok(())
    }

    /// Append a row group of `rows` rows: one chunk per column, in schema
    /// order.
    pub(super) fn write_row_group(&mut self, rows: u64, chunks: Vec<Chunk>) -> PolarsResult<()> {
        if chunks.len() != self.columns.len() {
            return Err(polars_err!(ComputeError:
                "row group of {} columns for a schema of {}", chunks.len(), self.columns.len()));
        }
        self.start()?;
        let mut columns = Vec::with_capacity(chunks.len());
        let mut inline = Vec::new();
        for (chunk, descriptor) in chunks.into_iter().zip(&self.columns) {
            let base = self.offset as i64;
            let compressed_size = chunk.bytes.len() as i64;
            let (type_, _) = descriptor.descriptor.primitive_type.physical_type.into();
            let meta = ColumnMetaData {
                type_,
                encodings: chunk.encodings,
                path_in_schema: descriptor
                    .path_in_schema
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
                codec: chunk.codec.into(),
                num_values: chunk.num_values,
                total_uncompressed_size: chunk.uncompressed_size,
                total_compressed_size: compressed_size,
                key_value_metadata: None,
                data_page_offset: base + chunk.first_data_page.unwrap_or(0) as i64,
                index_page_offset: None,
                dictionary_page_offset: chunk.dictionary_page.then_some(base),
                statistics: chunk.statistics.map(|s| s.serialize()),
                encoding_stats: None,
                bloom_filter_offset: None,
                bloom_filter_length: None,
                size_statistics: None,
            };
            // The column chunk's metadata also follows its pages.
            inline.clear();
            serialize(&mut inline, |p| meta.write_to_out_protocol(p))?;
            self.out.write_all(&chunk.bytes)?;
            self.out.write_all(&inline)?;
            self.offset += (chunk.bytes.len() + inline.len()) as u64;
            columns.push(ColumnChunk {
                file_path: None,
                file_offset: meta.data_page_offset + compressed_size,
                meta_data: Some(meta),
                offset_index_offset: None,
                offset_index_length: None,
                column_index_offset: None,
                column_index_length: None,
                crypto_metadata: None,
                encrypted_column_metadata: None,
            });
        }
        let num_rows = i64::try_from(rows)
            .map_err(|_| polars_err!(ComputeError: "row group of {rows} rows"))?;
        let sum = |f: fn(&ColumnMetaData) -> i64| {
            columns
                .iter()
                .filter_map(|c| c.meta_data.as_ref())
                .map(f)
                .sum::<i64>()
        };
        let group = RowGroup {
            total_byte_size: sum(|m| m.total_uncompressed_size),
            total_compressed_size: Some(sum(|m| m.total_compressed_size)),
            file_offset: columns.first().and_then(|c| {
                ColumnOffsetsMetadata::from_column_chunk(c).calc_row_group_file_offset()
            }),
            num_rows,
            sorting_columns: None,
            ordinal: i16::try_from(self.row_group_count).ok(),
            columns,
        };
        serialize(&mut self.row_groups, |p| group.write_to_out_protocol(p))?;
        self.row_group_count += 1;
        self.rows += num_rows;
        Ok(())
    }

    /// Write the footer with `key_value` metadata. Returns the file's size.
    pub(super) fn finish(mut self, key_value: Vec<KeyValue>) -> PolarsResult<u64> {
        self.start()?;
        // The protocol's byte budget guards against hostile input by charging
        // each list element's in-memory size; these bytes are our own.
        let mut input = TCompactInputProtocol::new(&self.row_groups[..], usize::MAX);
        let row_groups = (0..self.row_group_count)
            .map(|_| RowGroup::read_from_in_protocol(&mut input))
            .collect::<Result<Vec<_>, _>>()
            .map_err(thrift_err)?;
        self.row_groups = Vec::new();
        let mut footer = self
            .footer
            .take()
            .ok_or_else(|| polars_err!(ComputeError: "Parquet footer written twice"))?;
        footer.num_rows = self.rows;
        footer.row_groups = row_groups;
        footer.key_value_metadata = Some(key_value);
        let mut bytes = Vec::new();
        serialize(&mut bytes, |p| footer.write_to_out_protocol(p))?;
        let len = i32::try_from(bytes.len())
            .map_err(|_| polars_err!(ComputeError: "Parquet footer of {} bytes", bytes.len()))?;
        bytes.extend_from_slice(&len.to_le_bytes());
        bytes.extend_from_slice(MAGIC);
        self.out.write_all(&bytes)?;
        self.out.flush()?;
        Ok(self.offset + bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    //! Oracle: polars-parquet's own `FileWriter`, given the same encoded
    //! pages. Everything up to its page index must be the same bytes, and
    //! its footer must describe the same row groups.

    use polars::prelude::{ArrowDataType, ArrowField, ArrowSchema};
    use polars_arrow::array::{
        Array, BooleanArray, DictionaryArray, PrimitiveArray, Utf8ViewArray,
    };
    use polars_arrow::datatypes::IntegerType;
    use polars_parquet::parquet::error::ParquetError;
    use polars_parquet::write::{self as aw, FallibleStreamingIterator};

    use super::*;

    /// Three row groups of five columns, with pages of 2 KiB so that column
    /// chunks have several pages (and statistics to combine).
    fn row_groups() -> (ArrowSchema, Vec<Vec<Box<dyn Array>>>) {
        let schema = ArrowSchema::from_iter([
            ArrowField::new("ts".into(), ArrowDataType::Int64, false),
            ArrowField::new("pid".into(), ArrowDataType::Int32, true),
            ArrowField::new(
                "name".into(),
                ArrowDataType::Dictionary(
                    IntegerType::UInt32,
                    Box::new(ArrowDataType::Utf8View),
                    false,
                ),
                true,
            ),
            ArrowField::new("ip".into(), ArrowDataType::UInt64, true),
            ArrowField::new("irq".into(), ArrowDataType::Boolean, true),
        ]);
        let names = ["vfs_read", "ksys_read", "do_syscall_64", "schedule", "tick"];
        let groups = (0..3u64)
            .map(|g| {
                let n = 5_000 + 1_000 * g as usize;
                let ts: Vec<i64> = (0..n as i64)
                    .map(|i| (g as i64) << 40 | (i * 37 + i * i % 1_009))
                    .collect();
                let pid: Vec<Option<i32>> = (0..n)
                    .map(|i| (i % 7 != 0).then_some((i * 31 % 1_000) as i32 - 500))
                    .collect();
                let keys: Vec<Option<u32>> = (0..n)
                    .map(|i| (i % 11 != 0).then_some((i % 5) as u32))
                    .collect();
                let values = Utf8ViewArray::from_slice_values(names);
                let name = DictionaryArray::try_new(
                    schema.get("name").unwrap().dtype.clone(),
                    PrimitiveArray::from(keys),
                    values.boxed(),
                )
                .unwrap();
                let ip: Vec<Option<u64>> = (0..n)
                    .map(|i| (i % 3 != 0).then_some(0xffff_ffff_8100_0000 + (i as u64 % 97) * 16))
                    .collect();
                let irq: Vec<Option<bool>> = (0..n)
                    .map(|i| (i % 13 != 0).then_some(i % 4 == g as usize))
                    .collect();
                vec![
                    PrimitiveArray::from_vec(ts).boxed(),
                    PrimitiveArray::from(pid).boxed(),
                    name.boxed(),
                    PrimitiveArray::from(ip).boxed(),
                    BooleanArray::from(irq).boxed(),
                ]
            })
            .collect();
        (schema, groups)
    }

    fn options() -> aw::WriteOptions {
        aw::WriteOptions {
            statistics: aw::StatisticsOptions::default(),
            compression: CompressionOptions::Zstd(None),
            version: aw::Version::V1,
            data_page_size: Some(2048),
        }
    }

    fn encodings(schema: &ArrowSchema) -> Vec<Vec<aw::Encoding>> {
        schema
            .iter_values()
            .map(|f| match f.dtype {
                ArrowDataType::Int64 => vec![aw::Encoding::DeltaBinaryPacked],
                _ => aw::get_dtype_encoding(&f.dtype),
            })
            .collect()
    }

    fn ours(schema: &ArrowSchema, groups: &[Vec<Box<dyn Array>>]) -> Vec<u8> {
        let parquet = aw::to_parquet_schema(schema).unwrap();
        let fields = parquet.fields().to_vec();
        let options = options();
        let mut out = Vec::new();
        let mut w = FileWriter::new(&mut out, parquet, &options).unwrap();
        for arrays in groups {
            let chunks = arrays
                .iter()
                .zip(&fields)
                .zip(encodings(schema))
                .map(|((a, f), e)| {
                    let pages = aw::array_to_columns(a, f.clone(), options, &e)
                        .unwrap()
                        .pop()
                        .unwrap();
                    encode_chunk(pages, options.compression).unwrap()
                })
                .collect();
            w.write_row_group(arrays[0].len() as u64, chunks).unwrap();
        }
        let size = w.finish(vec![aw::schema_to_metadata_key(schema)]).unwrap();
        assert_eq!(size, out.len() as u64);
        out
    }

    fn polars(schema: &ArrowSchema, groups: &[Vec<Box<dyn Array>>]) -> Vec<u8> {
        let options = options();
        let mut w = aw::FileWriter::try_new(Vec::new(), schema.clone(), options).unwrap();
        let fields = w.parquet_schema().fields().to_vec();
        for arrays in groups {
            let columns: Vec<_> = arrays
                .iter()
                .zip(&fields)
                .zip(encodings(schema))
                .flat_map(|((a, f), e)| aw::array_to_columns(a, f.clone(), options, &e).unwrap())
                .collect();
            let row_group = aw::DynIter::new(columns.into_iter().map(move |pages| {
                let pages = pages.map(|p| p.map_err(|e| ParquetError::OutOfSpec(e.to_string())));
                let compressed = aw::Compressor::new(pages, options.compression, Vec::new())
                    .map_err(|e| polars_err!(ComputeError: "{e}"));
                Ok(aw::DynStreamingIterator::new(compressed))
            }));
            w.write(arrays[0].len() as u64, row_group).unwrap();
        }
        w.end(None).unwrap();
        w.into_inner()
    }

    fn footer(file: &[u8]) -> FileMetaData {
        assert_eq!(&file[..4], MAGIC);
        assert_eq!(&file[file.len() - 4..], MAGIC);
        let len = i32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap());
        let start = file.len() - 8 - len as usize;
        let mut input = TCompactInputProtocol::new(&file[start..file.len() - 8], usize::MAX);
        FileMetaData::read_from_in_protocol(&mut input).unwrap()
    }

    #[test]
    fn same_pages_and_row_groups_as_polars_parquet_without_the_page_index() {
        let (schema, groups) = row_groups();
        let ours = ours(&schema, &groups);
        let theirs = polars(&schema, &groups);
        let (mine, mut reference) = (footer(&ours), footer(&theirs));

        // Several pages per column chunk, so statistics were combined.
        let pages_of_ts = |m: &FileMetaData| {
            let c = m.row_groups[0].columns[0].meta_data.as_ref().unwrap();
            c.total_uncompressed_size
        };
        assert!(pages_of_ts(&mine) > 3 * 2048, "{}", pages_of_ts(&mine));

        // Row group data (pages and inline column metadata): same bytes.
        let data_end = reference.row_groups.iter().map(|g| {
            g.columns
                .iter()
                .map(|c| {
                    let m = c.meta_data.as_ref().unwrap();
                    m.dictionary_page_offset.unwrap_or(m.data_page_offset) + m.total_compressed_size
                })
                .max()
                .unwrap()
        });
        let data_end = data_end.max().unwrap() as usize;
        assert!(ours.len() > data_end);
        assert_eq!(ours[..data_end], theirs[..data_end]);

        // Footer: the same row groups, less the page index polars writes.
        for column in reference.row_groups.iter_mut().flat_map(|g| &mut g.columns) {
            assert!(column.column_index_offset.is_some() && column.offset_index_offset.is_some());
            column.column_index_offset = None;
            column.column_index_length = None;
            column.offset_index_offset = None;
            column.offset_index_length = None;
        }
        assert_eq!(mine.row_groups.len(), 3);
        assert_eq!(mine.num_rows, 5_000 + 6_000 + 7_000);
        assert_eq!(mine, reference);
    }
}
