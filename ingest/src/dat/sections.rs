//! Version 7 sections and compression.
//!
//! Every v7 section starts with a 16-byte header (trace-cmd reads an 8-byte
//! size, whatever older docs say):
//!
//! ```text
//! <id:2> <flags:2, 1 = compressed> <description string id:4> <size:8>
//! ```
//!
//! A compressed metadata section is one block `<compressed size:4>
//! <uncompressed size:4> <bytes>`. Flyrecord CPU data is compressed in chunks:
//! `<count:4>` then per chunk `<compressed size:4> <uncompressed size:4>
//! <bytes>`; [`ChunkStream`] decompresses them one after another so a CPU's
//! data never has to be decompressed all at once.

use std::borrow::Cow;

use super::cursor::{Cursor, DatResult, Fault};
use super::release::Releaser;

/// Largest uncompressed block or chunk accepted (a guard against sizes read
/// from a damaged file driving huge allocations; trace-cmd writes ~1 MiB chunks).
pub(crate) const MAX_BLOCK: u64 = 256 << 20;

/// Section flag: the section body is compressed.
pub(crate) const SEC_FL_COMPRESS: u16 = 1;

/// Section (and option) ids used by the reader.
pub(crate) mod id {
    /// Options section / DONE option.
    pub const OPTIONS: u16 = 0;
    /// Header info (header_page, header_event).
    pub const HEADER_INFO: u16 = 16;
    /// ftrace event formats.
    pub const FTRACE_EVENTS: u16 = 17;
    /// Other event formats.
    pub const EVENT_FORMATS: u16 = 18;
    /// /proc/kallsyms.
    pub const KALLSYMS: u16 = 19;
    /// printk formats.
    pub const PRINTK: u16 = 20;
    /// saved_cmdlines.
    pub const CMDLINES: u16 = 21;
}

/// A compression algorithm named in the v7 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    /// Zstandard frames (one per block or chunk).
    Zstd,
    /// zlib streams (RFC 1950, as written by zlib's `compress2`).
    Zlib,
}

impl Compression {
    /// The algorithm for a header name, if supported.
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "zstd" => Some(Compression::Zstd),
            "zlib" => Some(Compression::Zlib),
            _ => None,
        }
    }
}

/// Reusable decompression state (one per thread). Output grows with what the
/// data really holds, never with the size a (possibly damaged) header claims.
pub(crate) struct Decompressor {
    kind: Compression,
    zstd: Option<zstd::zstd_safe::DCtx<'static>>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("kind", &self.kind)
            .finish()
    }
}

/// Output grows by at most this much per step.
const STEP: usize = 1 << 20;

/// Room made at once for a block's declared size, up to this: growing step
/// by step copied a kallsyms section (~7 MB) three times over and faulted in
/// every copy; a damaged size costs at most this much address space, which
/// is never touched unless written.
const FIRST_STEP: usize = 64 << 20;

/// Make room in `out` for the rest of a block of `size` bytes of which
/// `produced` are there, plus one byte to notice overflow.
fn make_room(out: &mut Vec<u8>, size: usize, produced: usize) {
    let step = if produced == 0 { FIRST_STEP } else { STEP };
    out.reserve((size - produced).min(step) + 1);
}

impl Decompressor {
    /// A decompressor for `kind`.
    pub fn new(kind: Compression) -> Decompressor {
        Decompressor { kind, zstd: None }
    }

    /// Decompress `input`, which must yield exactly `size` bytes, appending to
    /// `out`. `at` is the file offset used in errors.
    pub fn decompress_into(
        &mut self,
        input: &[u8],
        size: u64,
        out: &mut Vec<u8>,
        at: u64,
    ) -> DatResult<()> {
        if size > MAX_BLOCK {
            return Err(Fault::unsupported(
                at,
                format!("compressed block of {size} bytes (limit {MAX_BLOCK})"),
            ));
        }
        let size = size as usize;
        let start = out.len();
        match self.kind {
            Compression::Zstd => self.zstd_into(input, size, out, at)?,
            Compression::Zlib => zlib_into(input, size, out, at)?,
        }
        let got = out.len() - start;
        if got != size {
            return Err(Fault::invalid(
                at,
                format!("compressed block (declares {size} bytes, holds {got})"),
            ));
        }
        Ok(())
    }

    /// One pass straight into `out` (`ZSTD_decompressDCtx`): a block is
    /// whole in the file, so nothing is gained by streaming it through the
    /// decoder's window, which copied every byte once more.
    fn zstd_into(
        &mut self,
        input: &[u8],
        size: usize,
        out: &mut Vec<u8>,
        at: u64,
    ) -> DatResult<()> {
        use zstd::zstd_safe;
        if size > FIRST_STEP {
            return self.zstd_stream_into(input, size, out, at);
        }
        let dctx = self.zstd.get_or_insert_with(zstd_safe::DCtx::create);
        let start = out.len();
        // Room for exactly the declared size: a frame that holds more
        // fails (destination too small) instead of growing the buffer.
        out.reserve_exact(size);
        let mut at_end = std::io::Cursor::new(&mut *out);
        at_end.set_position(start as u64);
        dctx.decompress(&mut at_end, input)
            .map_err(|code| zstd_fault(at, code))?;
        Ok(())
    }

    /// Block by block, the output growing with what the frame really holds
    /// (for blocks that declare more than [`FIRST_STEP`]).
    fn zstd_stream_into(
        &mut self,
        input: &[u8],
        size: usize,
        out: &mut Vec<u8>,
        at: u64,
    ) -> DatResult<()> {
        use zstd::zstd_safe::{self, InBuffer, OutBuffer, ResetDirective};
        let bad = |code| zstd_fault(at, code);
        let dec = self.zstd.get_or_insert_with(zstd_safe::DCtx::create);
        dec.reset(ResetDirective::SessionOnly).map_err(bad)?;
        let start = out.len();
        let mut inb = InBuffer::around(input);
        loop {
            let produced = out.len() - start;
            if produced > size {
                break; // larger than declared; reported by the caller
            }
            // Room for the rest (bounded per step) plus one byte to notice overflow.
            make_room(out, size, produced);
            let pos = out.len();
            let before_in = inb.pos();
            let hint = {
                let mut ob = OutBuffer::around_pos(out, pos);
                dec.decompress_stream(&mut ob, &mut inb).map_err(bad)?
            };
            let progressed = out.len() > pos || inb.pos() > before_in;
            if hint == 0 && inb.pos() == input.len() {
                break; // frame(s) complete, input used up
            }
            if !progressed {
                return Err(Fault::invalid(at, "zstd block (truncated frame)"));
            }
        }
        Ok(())
    }
}

/// A zstd error code, as the fault of the block at `at`.
fn zstd_fault(at: u64, code: usize) -> Fault {
    Fault::invalid(
        at,
        format!("zstd block: {}", zstd::zstd_safe::get_error_name(code)),
    )
}

fn zlib_into(input: &[u8], size: usize, out: &mut Vec<u8>, at: u64) -> DatResult<()> {
    let mut d = flate2::Decompress::new(true);
    let start = out.len();
    loop {
        let produced = out.len() - start;
        if produced > size {
            return Ok(()); // larger than declared; reported by the caller
        }
        make_room(out, size, produced);
        let (before_in, before_out) = (d.total_in(), out.len());
        let status = d
            .decompress_vec(
                &input[d.total_in() as usize..],
                out,
                flate2::FlushDecompress::Finish,
            )
            .map_err(|e| Fault::invalid(at, format!("zlib block: {e}")))?;
        if status == flate2::Status::StreamEnd {
            return Ok(());
        }
        if d.total_in() == before_in && out.len() == before_out {
            return Err(Fault::invalid(at, "zlib block (truncated stream)"));
        }
    }
}

/// A v7 section header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    /// Section id.
    pub id: u16,
    /// Flags (`SEC_FL_COMPRESS`).
    pub flags: u16,
    /// Size of the section body in the file.
    pub size: u64,
    /// File offset of the body.
    pub body: u64,
}

impl SectionHeader {
    /// True if the body is compressed.
    pub fn compressed(&self) -> bool {
        self.flags & SEC_FL_COMPRESS != 0
    }
}

/// Read the section header at `offset`.
pub(crate) fn section_header(data: &[u8], offset: u64, big: bool) -> DatResult<SectionHeader> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= data.len())
        .ok_or_else(|| Fault::invalid(offset, "section offset (beyond end of file)"))?;
    let mut c = Cursor::new(&data[start..], offset, big);
    let id = c.u16("section id")?;
    let flags = c.u16("section flags")?;
    let _description = c.u32("section description")?;
    let size = c.u64("section size")?;
    Ok(SectionHeader {
        id,
        flags,
        size,
        body: c.offset(),
    })
}

/// Read one compressed block at `offset`: returns the decompressed bytes and
/// the offset just past the block.
pub(crate) fn read_block(
    data: &[u8],
    offset: u64,
    big: bool,
    dec: &mut Decompressor,
) -> DatResult<(Vec<u8>, u64)> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= data.len())
        .ok_or_else(|| Fault::invalid(offset, "compressed block offset (beyond end of file)"))?;
    let mut c = Cursor::new(&data[start..], offset, big);
    let csize = c.u32("compressed block size")?;
    let usize_ = c.u32("uncompressed block size")?;
    let at = c.offset();
    let input = c.bytes(u64::from(csize), "compressed block")?;
    let mut out = Vec::new();
    dec.decompress_into(input, u64::from(usize_), &mut out, at)?;
    Ok((out, c.offset()))
}

/// The body of the section at `offset`, which must have id `expect`:
/// decompressed if the section is compressed, else borrowed from `data`.
/// Returns the body and the file offset it starts at (for error messages).
pub(crate) fn section_body<'a>(
    data: &'a [u8],
    offset: u64,
    expect: u16,
    big: bool,
    dec: Option<&mut Decompressor>,
) -> DatResult<(Cow<'a, [u8]>, u64)> {
    let h = section_header(data, offset, big)?;
    if h.id != expect {
        return Err(Fault::invalid(
            offset,
            format!("section (id {} where {expect} was expected)", h.id),
        ));
    }
    if h.compressed() {
        let dec = dec.ok_or_else(|| {
            Fault::invalid(
                offset,
                "section (compressed, but the file names no compression)",
            )
        })?;
        let (body, _) = read_block(data, h.body, big, dec)?;
        return Ok((Cow::Owned(body), h.body));
    }
    let start = h.body as usize;
    // Sections may be written with a zero or stale size; trust the file end.
    let end = match usize::try_from(h.size) {
        Ok(s) if s > 0 => start.saturating_add(s).min(data.len()),
        _ => data.len(),
    };
    Ok((Cow::Borrowed(&data[start..end]), h.body))
}

/// One compressed chunk of CPU data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// File offset of the compressed bytes.
    pub zoffset: u64,
    /// Compressed size.
    pub zsize: u32,
    /// Uncompressed size.
    pub size: u32,
}

/// Read the chunk table at `offset` (`<count:4>` then chunk headers and bytes).
pub(crate) fn chunk_table(data: &[u8], offset: u64, big: bool) -> DatResult<Vec<Chunk>> {
    let start = usize::try_from(offset)
        .ok()
        .filter(|&o| o <= data.len())
        .ok_or_else(|| Fault::invalid(offset, "CPU data offset (beyond end of file)"))?;
    let mut c = Cursor::new(&data[start..], offset, big);
    let count = c.u32("compressed chunk count")?;
    // Each chunk needs at least its 8-byte header: cap the count by the file.
    if u64::from(count) * 8 > c.remaining() as u64 {
        return Err(Fault::invalid(
            offset,
            format!("compressed chunk count {count} (more than the file can hold)"),
        ));
    }
    let mut chunks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let zsize = c.u32("chunk compressed size")?;
        let size = c.u32("chunk uncompressed size")?;
        let zoffset = c.offset();
        c.skip(u64::from(zsize), "compressed chunk")?;
        if u64::from(size) > MAX_BLOCK {
            return Err(Fault::unsupported(
                zoffset,
                format!("compressed chunk of {size} bytes (limit {MAX_BLOCK})"),
            ));
        }
        chunks.push(Chunk {
            zoffset,
            zsize,
            size,
        });
    }
    Ok(chunks)
}

/// Pages of one CPU's compressed data, decompressed chunk after chunk.
#[derive(Debug)]
pub(crate) struct ChunkStream<'a> {
    data: &'a [u8],
    chunks: Vec<Chunk>,
    next: usize,
    dec: Decompressor,
    buf: Vec<u8>,
    pos: usize,
    /// File offset of the chunk the current bytes came from (for errors).
    chunk_at: u64,
    /// Gives back inflated compressed chunks when `data` is a file map.
    release: Releaser,
}

impl<'a> ChunkStream<'a> {
    /// Release inflated chunks when `data` is a read-only file map.
    pub fn set_mapped(&mut self, mapped: bool) {
        self.release.set_mapped(mapped);
    }

    /// A stream over `chunks` of `data`.
    pub fn new(data: &'a [u8], chunks: Vec<Chunk>, kind: Compression) -> ChunkStream<'a> {
        // A CPU's chunks are consecutive in the file, from the first one.
        let release = Releaser::starting_at(chunks.first().map_or(0, |c| c.zoffset as usize));
        ChunkStream {
            data,
            chunks,
            next: 0,
            dec: Decompressor::new(kind),
            buf: Vec::new(),
            pos: 0,
            release,
            chunk_at: 0,
        }
    }

    /// Total uncompressed size.
    pub fn total(&self) -> u64 {
        self.chunks.iter().map(|c| u64::from(c.size)).sum()
    }

    /// File offset of the chunk the last page came from.
    pub fn chunk_offset(&self) -> u64 {
        self.chunk_at
    }

    /// The next `len` bytes (fewer at the end of the data) and the file offset
    /// of the chunk they came from, or `None` at the end.
    pub fn next_page(&mut self, len: usize) -> DatResult<Option<(&[u8], u64)>> {
        while self.buf.len() - self.pos < len && self.next < self.chunks.len() {
            // Keep the unread tail, drop what was consumed.
            self.buf.drain(..self.pos);
            self.pos = 0;
            let ch = self.chunks[self.next];
            self.next += 1;
            let start = ch.zoffset as usize;
            let input = &self.data[start..start + ch.zsize as usize];
            self.chunk_at = ch.zoffset;
            self.dec
                .decompress_into(input, u64::from(ch.size), &mut self.buf, ch.zoffset)?;
            self.release.consumed(self.data, start + ch.zsize as usize);
        }
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let end = (self.pos + len).min(self.buf.len());
        let page = &self.buf[self.pos..end];
        self.pos = end;
        Ok(Some((page, self.chunk_at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_header_and_plain_body() {
        let mut f = vec![0u8; 4];
        f.extend_from_slice(&21u16.to_le_bytes()); // id: CMDLINES
        f.extend_from_slice(&0u16.to_le_bytes()); // flags: none
        f.extend_from_slice(&7u32.to_le_bytes()); // description string id
        f.extend_from_slice(&3u64.to_le_bytes()); // size
        f.extend_from_slice(b"abcdef");
        let (body, at) = section_body(&f, 4, id::CMDLINES, false, None).unwrap();
        assert_eq!((&body[..], at), (&b"abc"[..], 20));
        let e = section_body(&f, 4, id::KALLSYMS, false, None).unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(section_header(&f, 100, false).is_err());
    }

    #[test]
    fn compressed_blocks_and_chunks() {
        let page = vec![7u8; 100];
        let z = zstd::bulk::compress(&page, 3).unwrap();
        let mut f = Vec::new();
        f.extend_from_slice(&2u32.to_le_bytes()); // two chunks
        for _ in 0..2 {
            f.extend_from_slice(&(z.len() as u32).to_le_bytes());
            f.extend_from_slice(&100u32.to_le_bytes());
            f.extend_from_slice(&z);
        }
        let chunks = chunk_table(&f, 0, false).unwrap();
        assert_eq!(chunks.len(), 2);
        let mut s = ChunkStream::new(&f, chunks, Compression::Zstd);
        assert_eq!(s.total(), 200);
        // Pages of 64 bytes span the chunk boundary.
        let mut n = 0;
        while let Some((p, _)) = s.next_page(64).unwrap() {
            assert!(p.iter().all(|&b| b == 7));
            n += p.len();
        }
        assert_eq!(n, 200);

        let mut dec = Decompressor::new(Compression::Zstd);
        let mut blk = Vec::new();
        blk.extend_from_slice(&(z.len() as u32).to_le_bytes());
        blk.extend_from_slice(&99u32.to_le_bytes()); // wrong size
        blk.extend_from_slice(&z);
        assert!(read_block(&blk, 0, false, &mut dec).is_err());

        let mut bad = f.clone();
        bad[0..4].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(chunk_table(&bad, 0, false).is_err());
    }

    #[test]
    fn zlib_blocks() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(b"hello hello hello").unwrap();
        let z = e.finish().unwrap();
        let mut out = Vec::new();
        Decompressor::new(Compression::Zlib)
            .decompress_into(&z, 17, &mut out, 0)
            .unwrap();
        assert_eq!(out, b"hello hello hello");
        assert!(Decompressor::new(Compression::Zlib)
            .decompress_into(&z, 16, &mut Vec::new(), 0)
            .is_err());
    }
}
