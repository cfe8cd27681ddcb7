//! Opening a trace: transparent gzip/zstd decompression, content hashing (on
//! a second thread, off the parsing path) and format sniffing, so every parser
//! reads plain bytes from a `BufRead`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::progress::{Counted, Progress};

/// Compression of a stored trace, detected from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Detect compression from the first bytes of a file.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Name used in metadata.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// What kind of trace the decompressed bytes hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// trace-cmd's binary `trace.dat` (magic `\x17\x08\x44tracing`).
    TraceDat,
    /// A Parquet file (magic `PAR1`), e.g. our own events output.
    Parquet,
    /// Anything else is treated as ftrace or trace-cmd report text.
    Text,
}

impl TraceKind {
    /// Detect the trace kind from the first decompressed bytes.
    pub fn sniff(head: &[u8]) -> TraceKind {
        if head.starts_with(b"\x17\x08\x44tracing") {
            TraceKind::TraceDat
        } else if head.starts_with(b"PAR1") {
            TraceKind::Parquet
        } else {
            TraceKind::Text
        }
    }
}

/// An opened trace: decompressed, buffered bytes plus what was learned on the way.
pub struct Input {
    /// Decompressed content.
    pub reader: Box<dyn BufRead + Send>,
    /// Compression of the stored file.
    pub compression: Compression,
    /// Kind of trace inside.
    pub kind: TraceKind,
    /// SHA-256 of the stored file, computed on another thread while parsing
    /// once [`Input::hash_in_background`] started it.
    hasher: Option<std::thread::JoinHandle<io::Result<String>>>,
    /// The stored file.
    path: std::path::PathBuf,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("compression", &self.compression)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Input {
    /// Open `path`, detecting compression and trace kind.
    pub fn open(path: &Path) -> Result<Input, Error> {
        Input::open_counted(path, &Progress::default())
    }

    /// [`Input::open`], counting the stored bytes read into `progress`. Its
    /// total grows by the file's size, except for a plain trace.dat (parsed
    /// from a memory map, which counts its pages itself) or Parquet file,
    /// recognised from a few bytes read without counting.
    pub fn open_counted(path: &Path, progress: &Progress) -> Result<Input, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        // A plain trace.dat or Parquet file is parsed from a memory map:
        // recognised from its first bytes, read where they lie, it is not
        // also read a megabyte ahead into a buffer here.
        let mut magic = [0u8; 16];
        let n = read_head(&file, &mut magic).map_err(|e| Error::io(path, e))?;
        let head = &magic[..n];
        let compression = Compression::sniff(head);
        let raw = BufReader::with_capacity(1 << 20, Counted::new(file, progress.clone()));
        let mapped = compression == Compression::None && TraceKind::sniff(head) != TraceKind::Text;
        if mapped {
            return Ok(Input {
                reader: Box::new(raw),
                compression,
                kind: TraceKind::sniff(head),
                hasher: None,
                path: path.to_path_buf(),
            });
        }
        let mut reader: Box<dyn BufRead + Send> = match compression {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(raw),
            )),
            Compression::Zstd => {
                let dec = zstd::stream::read::Decoder::with_buffer(raw)
                    .map_err(|e| Error::io(path, e))?;
                Box::new(BufReader::with_capacity(1 << 20, dec))
            }
        };
        let kind = TraceKind::sniff(reader.fill_buf().map_err(|e| Error::io(path, e))?);
        progress.add_total(len);
        Ok(Input {
            reader,
            compression,
            kind,
            hasher: None,
            path: path.to_path_buf(),
        })
    }

    /// Start hashing the stored file on another thread, for
    /// [`Input::sha256_hex`] to collect (an input only looked at is never
    /// hashed).
    pub fn hash_in_background(&mut self) {
        if self.hasher.is_none() {
            let owned = self.path.clone();
            self.hasher = Some(std::thread::spawn(move || {
                crate::sched::run_when_idle();
                sha256_file(&owned)
            }));
        }
    }

    /// Hex SHA-256 of the stored file (waits for the hashing thread, or
    /// hashes now if none was started).
    pub fn sha256_hex(&mut self, path: &Path) -> Result<String, Error> {
        let hashed = match self.hasher.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("hashing thread failed"))),
            None => sha256_file(&self.path),
        };
        hashed.map_err(|e| Error::io(path, e))
    }
}

/// Read the first bytes of `file` into `buf` without moving its position;
/// how many there were.
fn read_head(file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// SHA-256 of a whole file, hex. A regular file is hashed where it lies,
/// memory-mapped (copying it out a megabyte at a time was a third of the
/// hashing), its pages given back as it goes so that resident memory does
/// not grow with the file; anything else is read.
fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let regular = file.metadata().is_ok_and(|m| m.is_file() && m.len() > 0);
    // SAFETY: the map is read-only and lives only for this call; a file
    // truncated underneath us by another process could fault, as with any
    // memory-mapped reader (the trace.dat reader maps the same file).
    let map = match regular {
        true => unsafe { memmap2::Mmap::map(&file) }.ok(),
        false => None,
    };
    match map {
        Some(map) => {
            let mut release = crate::dat::release::Releaser::starting_at(0);
            release.set_mapped(true);
            for (i, piece) in map.chunks(1 << 20).enumerate() {
                hasher.update(piece);
                release.consumed(&map, ((i + 1) << 20).min(map.len()));
            }
        }
        None => {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
