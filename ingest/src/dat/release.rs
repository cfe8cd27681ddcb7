//! Giving back the pages of a memory-mapped trace once they are decoded, so
//! resident memory stays flat however large the file: without it every page
//! read stays mapped in the process (as file-backed resident memory) until
//! the whole file has been read.

/// Release at most every this many bytes (fewer system calls).
const STEP: usize = 8 << 20;

/// Where a sequential reader of a mapped region stands: it gives back what it
/// has consumed every [`STEP`] bytes, if the region is a file map at all.
#[derive(Debug, Default)]
pub(crate) struct Releaser {
    /// The bytes are a read-only file map (otherwise nothing is released).
    mapped: bool,
    /// Offset up to which the bytes were released.
    released: usize,
}

impl Releaser {
    /// A reader that starts at offset `from`.
    pub fn starting_at(from: usize) -> Releaser {
        Releaser {
            mapped: false,
            released: from,
        }
    }

    /// Whether the bytes are a read-only file map.
    pub fn set_mapped(&mut self, mapped: bool) {
        self.mapped = mapped;
    }

    /// `data[..to]` has been consumed.
    pub fn consumed(&mut self, data: &[u8], to: usize) {
        if to.saturating_sub(self.released) >= STEP {
            release(self.mapped, data, self.released, to);
            self.released = to;
        }
    }
}

/// Tell the kernel that `data[from..to]`, part of a read-only file mapping,
/// is not needed any more (`MADV_DONTNEED`): its pages leave the process's
/// resident set, and are read from the file again should anything touch them.
/// Only whole OS pages inside the range are released. `mapped` must be true
/// only when `data` is such a mapping: on heap memory this would zero it.
fn release(mapped: bool, data: &[u8], from: usize, to: usize) {
    if !mapped || to <= from || to > data.len() {
        return;
    }
    #[cfg(unix)]
    {
        const OS_PAGE: usize = 4096;
        let base = data.as_ptr() as usize;
        let start = (base + from).div_ceil(OS_PAGE) * OS_PAGE;
        let end = (base + to) / OS_PAGE * OS_PAGE;
        if end > start {
            // SAFETY: [start, end) lies inside `data`, a read-only file
            // mapping (the caller's contract): MADV_DONTNEED only drops the
            // pages from this process; a later access faults them back in from
            // the file with the same contents. No Rust reference observes a
            // change.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}
