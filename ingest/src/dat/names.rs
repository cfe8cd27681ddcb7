//! The names behind a trace.dat reader's ids, shared with the consumers of
//! its event blocks ([`crate::block::BlockNames`]): symbols by kallsyms
//! index, task names by dense cmdlines id, event names by format index
//! (the index one past the formats is `unknown`, records without a format).

use std::sync::Arc;

use super::cmdlines::Cmdlines;
use super::kallsyms::Kallsyms;
use crate::block::BlockNames;

/// Name tables of one trace.dat.
#[derive(Debug)]
pub(crate) struct DatNames {
    pub kallsyms: Arc<Kallsyms>,
    pub cmdlines: Arc<Cmdlines>,
    /// Format names, by format index (ids past them are `unknown`).
    pub events: Vec<String>,
}

impl BlockNames for DatNames {
    fn comm(&self, id: u32) -> &str {
        self.cmdlines.name_of_id(id)
    }

    fn comm_of(&self, pid: i32) -> u32 {
        self.cmdlines.id(self.cmdlines.lookup(pid))
    }

    fn event(&self, id: u32) -> &str {
        self.events
            .get(id as usize)
            .map_or("unknown", String::as_str)
    }

    fn symbol(&self, id: u32) -> Option<&str> {
        self.kallsyms.name(id)
    }

    fn module(&self, id: u32) -> Option<&str> {
        self.kallsyms.module(id)
    }

    fn symbol_at(&self, addr: u64) -> u32 {
        self.kallsyms.lookup(addr)
    }
}
