//! The Parquet file layout: page headers, column chunks, row groups and the
//! footer, written row group by row group with a footer that stays small in
//! memory.
//!
//! [`super::encode`] encodes the pages; this module compresses them, lays
//! them out as the Parquet format specifies and writes the footer. polars-parquet's
//! own `FileWriter` keeps every page's write spec and every column chunk's
//! metadata as Rust structures until the footer, about 61 KB per row group,
//! so the writer's memory grew with the trace (docs/performance.md). Here
//! each row group's metadata is kept serialized (Thrift compact, about 1.7 KB)
//! and decoded once, at the end. No page index (column and offset indexes) is
//! written: it is optional, and it was what the kept page specs were for.

use std::io::Write;

use polars::prelude::{polars_err, PolarsError, PolarsResult};
use polars_parquet::parquet::metadata::{ColumnDescriptor, KeyValue, SchemaDescriptor};
use polars_parquet::parquet::write::{self as pq, ColumnOffsetsMetadata};
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{
    ColumnChunk, ColumnMetaData, CompressionCodec, DataPageHeader, DictionaryPageHeader, Encoding,
    FileMetaData, PageHeader, PageType, RowGroup, Statistics,
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
#[derive(Debug)]
#[cfg_attr(test, derive(PartialEq))]
pub(super) struct Chunk {
    bytes: Vec<u8>,
    dictionary_page: bool,
    first_data_page: usize,
    num_values: i64,
    uncompressed_size: i64,
    /// Of `uncompressed_size`, what the dictionary page takes (with its
    /// header).
    dictionary_size: i64,
    encodings: Vec<Encoding>,
    statistics: Option<Statistics>,
    codec: CompressionCodec,
}

/// A zstd compression context and its output buffer, reused page after page.
pub(super) struct Zstd {
    context: zstd::bulk::Compressor<'static>,
    out: Vec<u8>,
}

impl Zstd {
    /// A context compressing at `level`.
    pub(super) fn new(level: i32) -> std::io::Result<Zstd> {
        Ok(Zstd {
            context: zstd::bulk::Compressor::new(level)?,
            out: Vec::new(),
        })
    }

    /// `data`, compressed (one zstd frame).
    fn compress(&mut self, data: &[u8]) -> std::io::Result<&[u8]> {
        self.out.clear();
        self.out
            .reserve(zstd::zstd_safe::compress_bound(data.len()));
        self.context.compress_to_buffer(data, &mut self.out)?;
        Ok(&self.out)
    }
}

/// A page size (or count) as the Thrift headers store it.
pub(super) fn page_size(n: usize) -> PolarsResult<i32> {
    i32::try_from(n).map_err(|_| polars_err!(ComputeError: "Parquet page of {n} bytes"))
}

/// One encoded page, before compression.
pub(super) enum RawPage<'a> {
    /// A dictionary page (first in its chunk).
    Dictionary {
        header: DictionaryPageHeader,
        bytes: &'a [u8],
    },
    /// A version-1 data page.
    Data {
        header: DataPageHeader,
        bytes: &'a [u8],
    },
}

impl Chunk {
    /// Compress `pages` (one column chunk of `rows` rows) with `zstd` and
    /// put each behind its page header, in `bytes` (emptied first).
    pub(super) fn compress(
        pages: &[RawPage<'_>],
        rows: usize,
        statistics: Option<Statistics>,
        zstd: &mut Zstd,
        mut bytes: Vec<u8>,
    ) -> PolarsResult<Chunk> {
        bytes.clear();
        let mut chunk = Chunk {
            bytes,
            dictionary_page: false,
            first_data_page: 0,
            num_values: rows as i64,
            uncompressed_size: 0,
            dictionary_size: 0,
            encodings: vec![Encoding::RLE],
            statistics,
            codec: CompressionCodec::ZSTD,
        };
        for (i, page) in pages.iter().enumerate() {
            let mut header = PageHeader {
                type_: PageType::DATA_PAGE,
                uncompressed_page_size: 0,
                compressed_page_size: 0,
                crc: None,
                data_page_header: None,
                index_page_header: None,
                dictionary_page_header: None,
                data_page_header_v2: None,
            };
            let buffer = match page {
                RawPage::Dictionary { header: h, bytes } => {
                    chunk.dictionary_page |= i == 0;
                    chunk.encodings.push(h.encoding);
                    header.type_ = PageType::DICTIONARY_PAGE;
                    header.dictionary_page_header = Some(h.clone());
                    *bytes
                }
                RawPage::Data { header: h, bytes } => {
                    if chunk.first_data_page == 0 && !chunk.bytes.is_empty() {
                        chunk.first_data_page = chunk.bytes.len();
                    }
                    chunk.encodings.push(h.encoding);
                    header.data_page_header = Some(h.clone());
                    *bytes
                }
            };
            let compressed = zstd.compress(buffer)?;
            header.uncompressed_page_size = page_size(buffer.len())?;
            header.compressed_page_size = page_size(compressed.len())?;
            // Room for the page and its header (which is well under 256
            // bytes) at once: growing by doubling copied every chunk's bytes
            // over again.
            chunk.bytes.reserve(256 + compressed.len());
            let start = chunk.bytes.len();
            serialize(&mut chunk.bytes, |p| header.write_to_out_protocol(p))?;
            let header_size = (chunk.bytes.len() - start) as i64;
            chunk.uncompressed_size += header_size + buffer.len() as i64;
            if matches!(page, RawPage::Dictionary { .. }) {
                chunk.dictionary_size = chunk.uncompressed_size;
            }
            chunk.bytes.extend_from_slice(compressed);
        }
        chunk.encodings.sort();
        chunk.encodings.dedup();
        Ok(chunk)
    }

    /// The data pages, with their headers.
    #[cfg(test)]
    pub(super) fn data_pages(&self) -> &[u8] {
        &self.bytes[self.first_data_page..]
    }

    /// Append the data pages of `other`, a chunk compressed the same way
    /// whose data pages are those this chunk's would be (a column whose
    /// every row's key is that of the other column's row).
    pub(super) fn take_data_pages_of(&mut self, other: &Chunk) {
        self.first_data_page = self.bytes.len();
        self.bytes
            .extend_from_slice(&other.bytes[other.first_data_page..]);
        self.uncompressed_size += other.uncompressed_size - other.dictionary_size;
        self.encodings.extend_from_slice(&other.encodings);
        self.encodings.sort();
        self.encodings.dedup();
    }
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
    /// order. The chunks' memory goes to `spent`, in the same order, for the
    /// next row group's chunks (first made, it was a fifth of the writing
    /// thread's page faults).
    pub(super) fn write_row_group(
        &mut self,
        rows: u64,
        chunks: Vec<Chunk>,
        spent: &mut Vec<Vec<u8>>,
    ) -> PolarsResult<()> {
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
                codec: chunk.codec,
                num_values: chunk.num_values,
                total_uncompressed_size: chunk.uncompressed_size,
                total_compressed_size: compressed_size,
                key_value_metadata: None,
                data_page_offset: base + chunk.first_data_page as i64,
                index_page_offset: None,
                dictionary_page_offset: chunk.dictionary_page.then_some(base),
                statistics: chunk.statistics,
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
            spent.push(chunk.bytes);
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
        // A buffered output hands the row group to the file now.
        self.out.flush()?;
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
