//! One row group of the events file being accumulated, column by column
//! ([`super::column`]), and its encoding into column chunks
//! ([`super::encode`]), one column per task.
//!
//! The builder's vectors keep their memory from row group to row group: a
//! row group is encoded from the builder itself on the writer thread, and
//! the builder comes back to be refilled ([`super::background`]).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::Arc;

use polars::prelude::PolarsResult;
use rustc_hash::FxHashMap;

use super::column::{settle_nulls, NULL_KEY};
use super::column::{IntColumn, PlainColumn, StrColumn, TextColumn, Validity};
use super::encode::{encode_column, encode_dictionary, IntKind, Scratch, Strs, Values};
use super::file::Chunk;
use crate::block::{field, BlockNames, Rows, NONE32, NONE64};
use crate::event::Event;
#[cfg(test)]
use crate::event::NO_ID;

/// For rows `rows` of an address column (its `validity`; `keys`, the keys
/// of its non-null rows from the first of `rows` on), `table[k]` where `k`
/// is the row's key, or `none` for a row without an address.
fn by_address<'a, T: Copy>(
    validity: &'a Validity,
    rows: Range<usize>,
    keys: &'a [u32],
    table: &'a [T],
    none: T,
) -> impl Iterator<Item = T> + 'a {
    // Without a bitmap the column is uniform: all valid or all null.
    let (bits, uniform) = (validity.bits(), validity.nulls() == 0);
    let mut keys = keys.iter();
    rows.map(
        move |i| match bits.map_or(uniform, |b| b[i / 8] >> (i % 8) & 1 == 1) {
            true => keys.next().map_or(none, |&k| table[k as usize]),
            false => none,
        },
    )
}

/// `pick(table[k])` for rows `rows` of a key column (its `validity`;
/// `keys`, the keys of its non-null rows from the first of `rows` on), with
/// `pick(none)` for a null row, appended to `out`.
fn gather<T: Copy>(
    validity: &Validity,
    rows: Range<usize>,
    keys: &[u32],
    table: &[T],
    none: T,
    pick: impl Fn(T) -> u32,
    out: &mut Vec<u32>,
) {
    if all_valid(validity) {
        // Every row has a value (a function trace's addresses): one key
        // per row, a gather the compiler vectorizes.
        out.extend(keys.iter().map(|&k| pick(table[k as usize])));
    } else {
        out.extend(by_address(validity, rows, keys, table, none).map(pick));
    }
}

/// True if every row of the column holds a value.
fn all_valid(v: &Validity) -> bool {
    v.nulls() == 0
}

/// Where the names of rows pushed as blocks start: they follow from the
/// rows' addresses, and are filled in when the row group is encoded
/// ([`Batch::settle_names`]).
#[derive(Clone, Copy, Debug, Default)]
struct Unnamed {
    /// First row without names.
    row: usize,
    /// Its index among the keys of `ip`, `parent_ip` and `pid`.
    ip: usize,
    parent_ip: usize,
    pid: usize,
}

/// The symbol of each address resolved so far, and the names of those
/// symbols, for the row groups of one file: each row group resolves its
/// distinct addresses again (its dictionaries start empty), and most are
/// the same ones. The kallsyms search behind a miss costs a dozen cache
/// misses, and looking a name up, hashing and copying it again for every
/// row group was most of a row group's fixed cost (docs/performance.md).
#[derive(Default)]
pub(super) struct AddrSymbols {
    /// The names the symbols are of.
    names: Option<Arc<dyn BlockNames>>,
    syms: FxHashMap<u64, u32>,
    /// Function and module name of each address (indices into `strings`,
    /// [`NO_NAME`]: none).
    named: FxHashMap<u64, (u32, u32)>,
    /// Every distinct name met, once.
    strings: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
}

/// [`AddrSymbols`]'s name index for "no name".
const NO_NAME: u32 = u32::MAX;

impl AddrSymbols {
    /// Forget everything if `names` are not the names remembered.
    fn names_of(&mut self, names: &Arc<dyn BlockNames>) {
        if !self.names.as_ref().is_some_and(|n| Arc::ptr_eq(n, names)) {
            *self = AddrSymbols {
                names: Some(names.clone()),
                ..AddrSymbols::default()
            };
        }
    }

    fn symbol_at(&mut self, names: &Arc<dyn BlockNames>, addr: u64) -> u32 {
        self.names_of(names);
        *self
            .syms
            .entry(addr)
            .or_insert_with(|| names.symbol_at(addr))
    }

    /// The function and module name of `addr`, as indices into
    /// [`AddrSymbols::strings`].
    fn names_at(&mut self, names: &Arc<dyn BlockNames>, addr: u64) -> (u32, u32) {
        self.names_of(names);
        if let Some(&n) = self.named.get(&addr) {
            return n;
        }
        let sym = self.symbol_at(names, addr);
        let function = self.intern(names.symbol(sym));
        let module = self.intern(names.module(sym));
        self.named.insert(addr, (function, module));
        (function, module)
    }

    fn intern(&mut self, name: Option<&str>) -> u32 {
        let Some(s) = name else {
            return NO_NAME;
        };
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.into());
        self.index.insert(s.into(), i);
        i
    }
}

/// The keys of a row group's name dictionary whose values are
/// [`AddrSymbols`] names: key by name index, and the name index of each key.
#[derive(Debug, Default)]
struct InternedKeys {
    by_name: Vec<u32>,
    dict: Vec<u32>,
}

impl InternedKeys {
    /// The key of name `name` ([`NO_NAME`]: [`NULL_KEY`]).
    fn key(&mut self, name: u32) -> u32 {
        if name == NO_NAME {
            return NULL_KEY;
        }
        let i = name as usize;
        if i >= self.by_name.len() {
            self.by_name.resize(i + 1, NULL_KEY);
        }
        if self.by_name[i] == NULL_KEY {
            self.by_name[i] = self.dict.len() as u32;
            self.dict.push(name);
        }
        self.by_name[i]
    }

    fn clear(&mut self) {
        for &name in &self.dict {
            self.by_name[name as usize] = NULL_KEY;
        }
        self.dict.clear();
    }
}

/// One row group of events, column by column.
#[derive(Debug, Default)]
pub(super) struct Batch {
    ts: Vec<i64>,
    cpu: IntColumn,
    pid: IntColumn,
    tgid: IntColumn,
    comm: StrColumn,
    event: StrColumn,
    function: StrColumn,
    parent: StrColumn,
    module: StrColumn,
    ip: IntColumn,
    parent_ip: IntColumn,
    /// Keys in `function` and `module` of each `ip` dictionary entry, and
    /// in `parent` of each `parent_ip` entry ([`NULL_KEY`]: null), for rows
    /// whose names follow from their addresses ([`Batch::push_block`]).
    ip_names: Vec<(u32, u32)>,
    parent_ip_names: Vec<u32>,
    /// The function name of each `ip` dictionary entry and the parent name
    /// of each `parent_ip` entry, as [`AddrSymbols`] names ([`NO_NAME`]:
    /// none), for a row group whose every row's names follow from its
    /// addresses.
    ip_functions: Vec<u32>,
    parent_ip_parents: Vec<u32>,
    /// Key in `comm` of each `pid` dictionary entry, for rows pushed as
    /// blocks.
    pid_comms: Vec<u32>,
    /// The name dictionaries of a row group whose every row's names follow
    /// from its addresses (then `function`, `parent` and `module` stay
    /// empty, [`Batch::encode`]).
    function_names: InternedKeys,
    parent_names: InternedKeys,
    module_names: InternedKeys,
    /// Names of the rows pushed as blocks since `unnamed` (none: every row
    /// has its names).
    names: Option<Arc<dyn BlockNames>>,
    unnamed: Unnamed,
    /// The interrupt flags, one byte per row (bit `i` for the `i`-th flag
    /// column), split when encoded.
    flags: PlainColumn<u8>,
    preempt: IntColumn,
    info: TextColumn,
    depth: IntColumn,
    calltime: PlainColumn<u64>,
    rettime: PlainColumn<u64>,
    repeats: IntColumn,
}

/// Columns of the events schema, in its order.
const COLUMNS: usize = 21;
/// The name columns that can follow from other columns: the task name
/// from the thread id, the others from the addresses.
const COMM: usize = 4;
const FUNCTION: usize = 6;
const PARENT: usize = 7;
const MODULE: usize = 8;
/// The address columns the function and parent names follow from.
const IP: usize = 9;
const PARENT_IP: usize = 10;

/// A name column's keys and validity made at encoding time
/// ([`Batch::derive_names`]), reused column after column.
#[derive(Default)]
struct Derived {
    keys: Vec<u32>,
    validity: Validity,
}

impl Batch {
    pub(super) fn push(&mut self, e: &Event<'_>) {
        if self.names.is_some() {
            self.settle_names(&mut AddrSymbols::default());
        }
        let ids = &e.ids;
        self.ts.push(e.ts_ns);
        self.cpu.push(Some(u64::from(e.cpu)));
        self.pid.push(Some(u64::from(e.pid as u32)));
        self.tgid.push(e.tgid.map(|t| u64::from(t as u32)));
        self.comm.push(Some(e.comm), ids.comm);
        self.event.push(Some(e.event), ids.event);
        self.function.push(e.function, ids.function);
        self.parent.push(e.parent, ids.parent);
        self.module.push(e.module, ids.module);
        self.ip.push(e.ip);
        self.parent_ip.push(e.parent_ip);
        self.flags.push(e.flags.map(|f| {
            u8::from(f.irqs_off)
                | u8::from(f.hardirq) << 1
                | u8::from(f.softirq) << 2
                | u8::from(f.nmi) << 3
        }));
        self.preempt.push(e.preempt_depth.map(u64::from));
        self.info.push(e.info);
        self.depth.push(e.depth.map(u64::from));
        self.calltime.push(e.calltime);
        self.rettime.push(e.rettime);
        self.repeats.push(e.repeats.map(u64::from));
    }

    /// Append rows `range` of `block`, column by column. Names that follow
    /// from addresses are left for [`Batch::settle_names`].
    pub(super) fn push_block(&mut self, block: Rows<'_>) {
        let names = &**block.names;
        let rows = block.rows;
        let some64 = |v: u64| (v != NONE64).then_some(v);
        let some32 = |v: u32| (v != NONE32).then_some(u64::from(v));
        if self.names.is_none() {
            self.unnamed = Unnamed {
                row: self.len(),
                ip: self.ip.keys.len(),
                parent_ip: self.parent_ip.keys.len(),
                pid: self.pid.keys.len(),
            };
            self.names = Some(Arc::clone(block.names));
        }
        self.ts.extend(rows.iter().map(|r| r.ts));
        self.cpu.extend(rows.iter().map(|r| Some(u64::from(r.cpu))));
        self.pid
            .extend(rows.iter().map(|r| Some(u64::from(r.pid as u32))));
        self.tgid.validity.push_n(false, rows.len());
        let extras = block.extras;
        self.event
            .extend_ids(rows.iter().map(|r| r.event_id(extras)), |i| {
                Some(names.event(i))
            });
        self.ip.extend(rows.iter().map(|r| some64(r.ip)));
        self.parent_ip
            .extend(rows.iter().map(|r| some64(r.parent_ip)));
        self.flags.extend_valid(rows.iter().map(|r| r.flags));
        self.preempt
            .extend(rows.iter().map(|r| Some(u64::from(r.preempt))));
        // Fields the block promises no row holds take a count, not a look
        // at every row.
        let may = |f: u8| block.may_hold & f != 0;
        let n = rows.len();
        let x = block.extras;
        match may(field::INFO) {
            true => self.info.extend(rows.iter().map(|r| r.info(x, block.text))),
            false => self.info.validity.push_n(false, n),
        }
        match may(field::DEPTH) {
            true => self
                .depth
                .extend(rows.iter().map(|r| some32(r.extra(x).depth))),
            false => self.depth.validity.push_n(false, n),
        }
        match may(field::CALLTIME) {
            true => self
                .calltime
                .extend(rows.iter().map(|r| some64(r.extra(x).calltime))),
            false => self.calltime.validity.push_n(false, n),
        }
        match may(field::RETTIME) {
            true => self
                .rettime
                .extend(rows.iter().map(|r| some64(r.extra(x).rettime))),
            false => self.rettime.validity.push_n(false, n),
        }
        match may(field::REPEATS) {
            true => self
                .repeats
                .extend(rows.iter().map(|r| some32(r.extra(x).repeats))),
            false => self.repeats.validity.push_n(false, n),
        }
    }

    /// Fill in the function, module and parent names of the rows pushed as
    /// blocks: each address new to the row group is resolved once, in the
    /// order the addresses were first seen (so the name dictionaries come
    /// out in first-seen order too), then every row takes the names of its
    /// address's key. Done on the writing thread, off the builder's, and
    /// late enough that the trace's symbol table is parsed by then.
    pub(super) fn settle_names(&mut self, known: &mut AddrSymbols) {
        if self.resolve_names(known) {
            self.name_rows();
        }
    }

    /// The key of the task name of each thread new to the row group (a
    /// thread's task name follows from its id).
    fn resolve_comms(&mut self, names: &dyn BlockNames) {
        for &pid in &self.pid.dict[self.pid_comms.len()..] {
            let id = names.comm_of(pid as u32 as i32);
            let key = self.comm.key_by_id(id, |i| Some(names.comm(i)));
            self.pid_comms.push(key.unwrap_or(NULL_KEY));
        }
    }

    /// [`Batch::resolve_names`] for a row group whose every row's names
    /// follow from its addresses, into the dictionaries of names interned
    /// in `known`. True if there were such rows.
    fn resolve_interned(&mut self, known: &mut AddrSymbols) -> bool {
        let Some(shared) = self.names.take() else {
            return false;
        };
        self.resolve_comms(&*shared);
        for &addr in &self.ip.dict[self.ip_names.len()..] {
            let (f, m) = known.names_at(&shared, addr);
            self.ip_names
                .push((self.function_names.key(f), self.module_names.key(m)));
            self.ip_functions.push(f);
        }
        for &addr in &self.parent_ip.dict[self.parent_ip_names.len()..] {
            let (p, _) = known.names_at(&shared, addr);
            self.parent_ip_names.push(self.parent_names.key(p));
            self.parent_ip_parents.push(p);
        }
        true
    }

    /// The first half of [`Batch::settle_names`]: the keys of the names of
    /// the addresses new to the row group. True if rows are left to name.
    fn resolve_names(&mut self, known: &mut AddrSymbols) -> bool {
        let Some(shared) = self.names.take() else {
            return false;
        };
        let names = &*shared;
        self.resolve_comms(names);
        for &addr in &self.ip.dict[self.ip_names.len()..] {
            let sym = known.symbol_at(&shared, addr);
            let f = self.function.key_by_id(sym, |i| names.symbol(i));
            let m = self.module.key_by_id(sym, |i| names.module(i));
            self.ip_names
                .push((f.unwrap_or(NULL_KEY), m.unwrap_or(NULL_KEY)));
        }
        for &addr in &self.parent_ip.dict[self.parent_ip_names.len()..] {
            let sym = known.symbol_at(&shared, addr);
            let p = self.parent.key_by_id(sym, |i| names.symbol(i));
            self.parent_ip_names.push(p.unwrap_or(NULL_KEY));
        }
        true
    }

    /// The second half of [`Batch::settle_names`]: every row without names
    /// takes those of its addresses' keys.
    fn name_rows(&mut self) {
        let rows = self.unnamed.row..self.len();
        let none = (NULL_KEY, NULL_KEY);
        let (pid, pids) = (&self.pid.validity, &self.pid.keys[self.unnamed.pid..]);
        let (ip, ips) = (&self.ip.validity, &self.ip.keys[self.unnamed.ip..]);
        let parent_ip = &self.parent_ip.validity;
        let parent_ips = &self.parent_ip.keys[self.unnamed.parent_ip..];
        let (comms, names, parents) = (&self.pid_comms, &self.ip_names, &self.parent_ip_names);
        self.comm
            .extend_keys(|out| gather(pid, rows.clone(), pids, comms, NULL_KEY, |n| n, out));
        self.function
            .extend_keys(|out| gather(ip, rows.clone(), ips, names, none, |n| n.0, out));
        self.module
            .extend_keys(|out| gather(ip, rows.clone(), ips, names, none, |n| n.1, out));
        self.parent
            .extend_keys(|out| gather(parent_ip, rows, parent_ips, parents, NULL_KEY, |n| n, out));
    }

    /// A builder whose row-per-row vectors hold `n` rows without growing
    /// (growing copied them several times per row group).
    pub(super) fn with_capacity(n: usize) -> Box<Batch> {
        let mut b = Box::<Batch>::default();
        b.ts.reserve(n);
        for keys in b.row_keys() {
            keys.reserve(n);
        }
        b.flags.values.reserve(n);
        b
    }

    /// The key vectors that get one key per row (the others only one per
    /// non-null row, and rows without them are the rule; the name columns
    /// of rows pushed as blocks get their keys when encoded).
    fn row_keys(&mut self) -> [&mut Vec<u32>; 6] {
        [
            &mut self.cpu.keys,
            &mut self.pid.keys,
            &mut self.ip.keys,
            &mut self.parent_ip.keys,
            &mut self.preempt.keys,
            &mut self.event.keys,
        ]
    }

    pub(super) fn len(&self) -> usize {
        self.ts.len()
    }

    /// Empty every column, keeping their memory.
    pub(super) fn clear(&mut self) {
        self.ts.clear();
        for c in [
            &mut self.cpu,
            &mut self.pid,
            &mut self.tgid,
            &mut self.ip,
            &mut self.parent_ip,
            &mut self.preempt,
            &mut self.depth,
            &mut self.repeats,
        ] {
            c.clear();
        }
        for c in [
            &mut self.comm,
            &mut self.event,
            &mut self.function,
            &mut self.parent,
            &mut self.module,
        ] {
            c.clear();
        }
        self.ip_names.clear();
        self.parent_ip_names.clear();
        self.ip_functions.clear();
        self.parent_ip_parents.clear();
        self.pid_comms.clear();
        self.function_names.clear();
        self.parent_names.clear();
        self.module_names.clear();
        self.names = None;
        self.flags.clear();
        self.info.clear();
        self.calltime.clear();
        self.rettime.clear();
    }

    /// Column `i` of the schema: its validity and values.
    fn column<'a>(&'a self, i: usize, all: &'a Validity) -> (&'a Validity, Values<'a>) {
        fn int(c: &IntColumn, kind: IntKind) -> (&Validity, Values<'_>) {
            (
                &c.validity,
                Values::IntDict {
                    keys: &c.keys,
                    dict: &c.dict,
                    kind,
                },
            )
        }
        fn str(c: &StrColumn) -> (&Validity, Values<'_>) {
            (
                &c.validity,
                Values::StrDict {
                    keys: &c.keys,
                    dict: Strs::Own(&c.dict),
                },
            )
        }

        match i {
            0 => (all, Values::Delta(&self.ts)),
            1 => int(&self.cpu, IntKind::U32),
            2 => int(&self.pid, IntKind::I32),
            3 => int(&self.tgid, IntKind::I32),
            COMM => str(&self.comm),
            5 => str(&self.event),
            FUNCTION => str(&self.function),
            PARENT => str(&self.parent),
            MODULE => str(&self.module),
            IP => int(&self.ip, IntKind::U64),
            PARENT_IP => int(&self.parent_ip, IntKind::U64),
            11..=14 => (
                &self.flags.validity,
                Values::Flags {
                    rows: &self.flags.values,
                    bit: (i - 11) as u8,
                },
            ),
            15 => int(&self.preempt, IntKind::U32),
            16 => (
                &self.info.validity,
                Values::PlainStr {
                    text: &self.info.text,
                    ends: &self.info.ends,
                },
            ),
            17 => int(&self.depth, IntKind::U32),
            18 => (
                &self.calltime.validity,
                Values::PlainU64(&self.calltime.values),
            ),
            19 => (
                &self.rettime.validity,
                Values::PlainU64(&self.rettime.values),
            ),
            _ => int(&self.repeats, IntKind::U32),
        }
    }

    /// Keys ([`NULL_KEY`]: null) of name column `i` (comm, function,
    /// parent or module) for a row group whose every row's names follow
    /// from its thread id and addresses, made from the keys of the column
    /// they follow from into `out`.
    fn derive_names(&self, i: usize, out: &mut Derived) {
        out.keys.clear();
        out.validity.clear();
        let (rows, keys) = (0..self.len(), &mut out.keys);
        let none = (NULL_KEY, NULL_KEY);
        let (ip, ips) = (&self.ip.validity, &self.ip.keys);
        match i {
            COMM => {
                let (pid, pids) = (&self.pid.validity, &self.pid.keys);
                gather(pid, rows, pids, &self.pid_comms, NULL_KEY, |n| n, keys)
            }
            FUNCTION => gather(ip, rows, ips, &self.ip_names, none, |n| n.0, keys),
            MODULE => gather(ip, rows, ips, &self.ip_names, none, |n| n.1, keys),
            _ => {
                let (parent_ip, parent_ips) = (&self.parent_ip.validity, &self.parent_ip.keys);
                let table = &self.parent_ip_names;
                gather(parent_ip, rows, parent_ips, table, NULL_KEY, |n| n, keys)
            }
        }
        settle_nulls(keys, 0, &mut out.validity);
    }

    /// The dictionary of name column `i` (function, parent or module) of a
    /// row group whose every row's names follow from its addresses: the
    /// names, interned in [`AddrSymbols`], in key order.
    fn name_ids(&self, i: usize) -> &[u32] {
        match i {
            FUNCTION => &self.function_names.dict,
            PARENT => &self.parent_names.dict,
            _ => &self.module_names.dict,
        }
    }

    /// For the function (`i` = [`FUNCTION`]) or parent column of a row
    /// group whose every row's names follow from its addresses: the
    /// address column it follows from and, if every address of the row
    /// group has a name, the name of each address in the order of the
    /// address column's keys (two addresses may share a name). Such a
    /// column is keyed like its address column, its dictionary one name
    /// per address: its data page is the address column's, byte for byte.
    /// Once [`Batch::resolve_interned`] has run.
    fn names_by_address(&self, i: usize) -> (usize, Option<&[u32]>) {
        let (column, names) = match i {
            FUNCTION => (IP, &self.ip_functions),
            _ => (PARENT_IP, &self.parent_ip_parents),
        };
        (column, (!names.contains(&NO_NAME)).then_some(&names[..]))
    }

    /// Encode the row group, one column chunk per column of the schema, in
    /// its order, compressed with zstd at `level`, into the memory of the
    /// `spare` chunks (taken; column by column, the last row group's).
    pub(super) fn encode(
        &mut self,
        level: i32,
        known: &mut AddrSymbols,
        spare: &mut Vec<Vec<u8>>,
    ) -> PolarsResult<Vec<Chunk>> {
        use rayon::prelude::*;

        // When every row's names follow from its addresses, the name
        // columns' keys are made as each is encoded, into the encoding
        // thread's scratch, instead of being stored row by row (three
        // vectors a row group long: a fifth of a builder's memory).
        let derive = self.names.is_some() && self.unnamed.row == 0;
        if derive {
            self.resolve_interned(known);
        } else {
            self.settle_names(known);
        }
        // A function or parent column keyed like its address column has
        // only its dictionary page made: the data page is copied from the
        // address column's once that is compressed. A dictionary that
        // names each address instead of each distinct name is larger (in
        // the benchmark trace's row groups, about 3 parent_ip addresses a
        // parent name: 1.5 % of the file), but the parent column's rows
        // cost the derivation, bit-packing and compression of as many keys
        // as the file has events.
        let shared = |i| match derive && matches!(i, FUNCTION | PARENT) {
            true => self.names_by_address(i),
            false => (0, None),
        };
        let (this, strings) = (&*self, &known.strings[..]);
        // `ts_ns` has no nulls: its validity is its length.
        let all = Validity::all_valid(self.ts.len());
        thread_local! {
            static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
            static DERIVED: RefCell<Derived> = RefCell::new(Derived::default());
        }
        let mut memory = std::mem::take(spare);
        memory.resize_with(COLUMNS, Vec::new);
        let mut chunks = memory
            .into_par_iter()
            .enumerate()
            .map(|(i, bytes)| {
                SCRATCH.with_borrow_mut(|scratch| {
                    let scratch = match scratch {
                        Some(s) => s,
                        None => scratch.insert(Scratch::new(level)?),
                    };
                    if derive && matches!(i, COMM | FUNCTION | PARENT | MODULE) {
                        if let (c, Some(ids)) = shared(i) {
                            let dict = Strs::Interned { ids, strings };
                            let values = Values::StrDict { keys: &[], dict };
                            let validity = &this.column(c, &all).0;
                            return encode_dictionary(validity, values, scratch, bytes);
                        }
                        return DERIVED.with_borrow_mut(|d| {
                            let dict = match i {
                                COMM => Strs::Own(&this.comm.dict),
                                _ => Strs::Interned {
                                    ids: this.name_ids(i),
                                    strings,
                                },
                            };
                            this.derive_names(i, d);
                            let values = Values::StrDict {
                                keys: &d.keys,
                                dict,
                            };
                            encode_column(&d.validity, values, scratch, bytes)
                        });
                    }
                    let (validity, values) = this.column(i, &all);
                    encode_column(validity, values, scratch, bytes)
                })
            })
            .collect::<PolarsResult<Vec<Chunk>>>()?;
        for i in [FUNCTION, PARENT] {
            if let (c, Some(_)) = shared(i) {
                let (names, addresses) = chunks.split_at_mut(c);
                names[i].take_data_pages_of(&addresses[0]);
            }
        }
        Ok(chunks)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::event::NameIds;

    fn names(c: &StrColumn) -> Vec<Option<String>> {
        let bits = c.validity.bits();
        let mut keys = c.keys.iter();
        (0..c.validity.len())
            .map(|i| {
                let valid = bits.map_or(c.validity.nulls() == 0, |b| b[i / 8] >> (i % 8) & 1 == 1);
                valid.then(|| c.dict[*keys.next().unwrap() as usize].to_string())
            })
            .collect()
    }

    /// Names for blocks: pids 10 and 11 run `redis`, 12 `sh`; 0x100 is
    /// `f`, 0x200 is `g` in `ext4`, 0x300 has no symbol.
    #[derive(Debug)]
    struct TestNames;

    impl BlockNames for TestNames {
        fn comm(&self, id: u32) -> &str {
            ["redis", "sh"][id as usize]
        }
        fn comm_of(&self, pid: i32) -> u32 {
            u32::from(pid == 12)
        }
        fn event(&self, _: u32) -> &str {
            "function"
        }
        fn symbol(&self, id: u32) -> Option<&str> {
            ["f", "g"].get(id as usize).copied()
        }
        fn module(&self, id: u32) -> Option<&str> {
            (id == 1).then_some("ext4")
        }
        fn symbol_at(&self, addr: u64) -> u32 {
            match addr {
                0x100 => 0,
                0x200 => 1,
                _ => NONE32,
            }
        }
    }

    /// Per row, the names of a column derived at encoding time.
    fn derived(b: &Batch, i: usize, strings: &[Box<str>]) -> Vec<Option<String>> {
        let mut d = Derived::default();
        b.derive_names(i, &mut d);
        let dict: Vec<String> = match i {
            COMM => b.comm.dict.iter().map(|s| s.to_string()).collect(),
            _ => (b.name_ids(i).iter())
                .map(|&n| strings[n as usize].to_string())
                .collect(),
        };
        let mut c = StrColumn::default();
        c.validity = d.validity;
        c.keys = d.keys;
        c.dict = dict.into_iter().map(String::into_boxed_str).collect();
        names(&c)
    }

    #[test]
    fn names_that_follow_from_pids_and_addresses_are_the_same_stored_or_derived() {
        let shared: Arc<dyn BlockNames> = Arc::new(TestNames);
        let row = |pid, ip, parent_ip| crate::block::BlockRow {
            ts: 0,
            ip,
            parent_ip,
            cpu: 0,
            pid,
            extra: NONE32,
            event: 0,
            flags: 0,
            preempt: 0,
        };
        let rows = [
            row(10, 0x100, 0x200),
            row(11, 0x200, 0x300),
            row(12, 0x300, NONE64),
            row(10, NONE64, 0x100),
        ];
        let block = || Rows {
            rows: &rows,
            extras: &[],
            text: "",
            names: &shared,
            may_hold: 0,
        };
        let s = |v: &[Option<&str>]| v.iter().map(|n| n.map(String::from)).collect::<Vec<_>>();
        let want = [
            (
                COMM,
                s(&[Some("redis"), Some("redis"), Some("sh"), Some("redis")]),
            ),
            (FUNCTION, s(&[Some("f"), Some("g"), None, None])),
            (PARENT, s(&[Some("g"), None, None, Some("f")])),
            (MODULE, s(&[None, Some("ext4"), None, None])),
        ];
        // Stored row by row, as when other rows come before the block's.
        let mut stored = Batch::default();
        stored.push(&Event {
            comm: "init",
            ..Event::default()
        });
        stored.push_block(block());
        stored.settle_names(&mut AddrSymbols::default());
        for (i, w) in &want {
            let column = match *i {
                COMM => &stored.comm,
                FUNCTION => &stored.function,
                PARENT => &stored.parent,
                _ => &stored.module,
            };
            assert_eq!(names(column)[1..], w[..], "stored column {i}");
        }
        // Made when encoded, from the pid and address keys.
        let mut derive = Batch::default();
        derive.push_block(block());
        let mut known = AddrSymbols::default();
        assert!(derive.resolve_interned(&mut known));
        for (i, w) in &want {
            assert_eq!(
                &derived(&derive, *i, &known.strings),
                w,
                "derived column {i}"
            );
        }
    }

    /// Names for blocks in which 0x100 and 0x400 are two static functions
    /// named `f`, 0x200 is `g` and 0x300 has no symbol.
    #[derive(Debug)]
    pub(in crate::parquet) struct TwinNames;

    impl BlockNames for TwinNames {
        fn comm(&self, _: u32) -> &str {
            "redis"
        }
        fn comm_of(&self, _: i32) -> u32 {
            0
        }
        fn event(&self, _: u32) -> &str {
            "function"
        }
        fn symbol(&self, id: u32) -> Option<&str> {
            ["f", "g", "f"].get(id as usize).copied()
        }
        fn module(&self, _: u32) -> Option<&str> {
            None
        }
        fn symbol_at(&self, addr: u64) -> u32 {
            match addr {
                0x100 => 0,
                0x200 => 1,
                0x400 => 2,
                _ => NONE32,
            }
        }
    }

    #[test]
    fn name_columns_take_their_address_columns_data_page_when_every_address_is_named() {
        let shared: Arc<dyn BlockNames> = Arc::new(TwinNames);
        let row = |ip, parent_ip| crate::block::BlockRow {
            ts: 0,
            ip,
            parent_ip,
            cpu: 0,
            pid: 1,
            extra: NONE32,
            event: 0,
            flags: 0,
            preempt: 0,
        };
        let (n, f, g) = (NONE64, 0x100, 0x200);
        // (rows, shared function, shared parent): a name per address, with
        // null addresses among them (the pages carry a bitmap); two
        // addresses of one name; an address without a name (0x300).
        let cases = [
            (
                vec![(f, g), (n, n), (g, f), (g, f), (f, n), (n, g)],
                true,
                true,
            ),
            (vec![(f, 0x400), (g, f), (n, g), (0x400, 0x400)], true, true),
            (vec![(f, 0x300), (0x300, f), (g, g)], false, false),
        ];
        for (pairs, function, parent) in cases {
            let rows: Vec<_> = pairs.iter().map(|&(i, p)| row(i, p)).collect();
            let mut b = Batch::default();
            b.push_block(Rows {
                rows: &rows,
                extras: &[],
                text: "",
                names: &shared,
                may_hold: 0,
            });
            let mut known = AddrSymbols::default();
            let chunks = b.encode(1, &mut known, &mut Vec::new()).unwrap();
            for (i, address, want) in [(FUNCTION, IP, function), (PARENT, PARENT_IP, parent)] {
                assert_eq!(b.names_by_address(i).1.is_some(), want, "{pairs:x?} {i}");
                let same = chunks[i].data_pages() == chunks[address].data_pages();
                assert_eq!(same, want, "{pairs:x?} {i}");
                // Keyed by distinct names, the chunk is the same where each
                // address has a name of its own (the first case).
                let mut d = Derived::default();
                b.derive_names(i, &mut d);
                let dict = Strs::Interned {
                    ids: b.name_ids(i),
                    strings: &known.strings,
                };
                let values = Values::StrDict {
                    keys: &d.keys,
                    dict,
                };
                let mut scratch = Scratch::new(1).unwrap();
                let own = encode_column(&d.validity, values, &mut scratch, Vec::new()).unwrap();
                let first = pairs.len() == 6;
                assert_eq!(chunks[i] == own, first || !want, "{pairs:x?} {i}");
            }
        }
    }

    #[test]
    fn names_come_back_row_for_row_with_and_without_ids() {
        // ip 1 is "a", then "b" (a reader whose names do not follow from
        // addresses, without ids), then "a" again; ip 2 is "b"; a text
        // event has no ip; the last rows carry symbol ids.
        let rows = [
            (Some(1), Some("a"), NO_ID),
            (Some(1), Some("b"), NO_ID),
            (Some(2), Some("b"), NO_ID),
            (Some(1), Some("a"), NO_ID),
            (None, Some("c"), NO_ID),
            (Some(2), None, NO_ID),
            (Some(2), Some("b"), 5),
            (Some(3), Some("d"), 6),
            (Some(2), Some("b"), 5),
        ];
        let mut batch = Batch::default();
        for (ip, function, id) in rows {
            batch.push(&Event {
                ip,
                function,
                parent_ip: ip,
                parent: function,
                ids: NameIds {
                    function: id,
                    parent: id,
                    ..NameIds::default()
                },
                ..Event::default()
            });
        }
        let want: Vec<Option<String>> = rows.iter().map(|r| r.1.map(String::from)).collect();
        assert_eq!(names(&batch.function), want, "function");
        assert_eq!(names(&batch.parent), want, "parent");
        assert_eq!(batch.ip.dict, vec![1, 2, 3]);
        assert_eq!(batch.ip.keys, vec![0, 0, 1, 0, 1, 1, 2, 1]);
        // The next row group starts over with new dictionaries.
        batch.clear();
        batch.push(&Event {
            ip: Some(1),
            function: Some("z"),
            ids: NameIds {
                function: 5,
                ..NameIds::default()
            },
            ..Event::default()
        });
        assert_eq!(names(&batch.function), vec![Some("z".to_string())]);
        assert_eq!(batch.ip.keys, vec![0]);
    }
}
