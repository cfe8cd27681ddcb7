//! One row group of the events file being accumulated, column by column,
//! straight into Arrow arrays.
//!
//! Names (comm, event, function, parent, module) and addresses (ip,
//! parent ip) repeat from a small set, so they are dictionary-encoded here as
//! each event arrives: one hash lookup per value (none when it equals the
//! previous row's), and the row group's dictionary array goes to the Parquet
//! encoder as it is. Letting polars do it cost a cardinality estimate, a
//! string copy into a view array and a second hash per value (docs/performance.md).
//! The Parquet file is the same either way: dictionary pages of the values in
//! first-seen order, keys RLE/bit-packed, the `String`/`UInt64` logical types.
//!
//! The builder's vectors are reserved for a whole row group, handed to Arrow
//! without copying, and taken back once the row group is written
//! ([`Batch::recycle`]), so every row group fills the same memory.

use std::mem;

use polars_arrow::array::{
    Array, BooleanArray, DictionaryArray, MutableBinaryViewArray, PrimitiveArray,
};
use polars_arrow::bitmap::MutableBitmap;
use polars_arrow::datatypes::{ArrowDataType, IntegerType};
use polars_arrow::types::NativeType;
use rustc_hash::FxHashMap;

use crate::event::{Event, IrqFlags};

/// An optional primitive column: values (zero where null) and validity.
struct Opt<T> {
    values: Vec<T>,
    valid: MutableBitmap,
}

impl<T: NativeType + Default> Opt<T> {
    fn with_capacity(n: usize) -> Self {
        Opt {
            values: Vec::with_capacity(n),
            valid: MutableBitmap::with_capacity(n),
        }
    }

    fn push(&mut self, v: Option<T>) {
        self.values.push(v.unwrap_or_default());
        self.valid.push(v.is_some());
    }

    fn take(&mut self, dtype: ArrowDataType, n: usize) -> Box<dyn Array> {
        let values = mem::take(&mut self.values);
        let valid = mem::replace(&mut self.valid, MutableBitmap::with_capacity(n));
        PrimitiveArray::new(dtype, values.into(), Some(valid.into())).boxed()
    }
}

/// Dictionary keys of one column: `u32` per row, with validity.
struct Keys {
    keys: Vec<u32>,
    valid: MutableBitmap,
    /// Key of the previous non-null row, to skip the lookup on runs.
    last: Option<u32>,
}

impl Keys {
    fn with_capacity(n: usize) -> Self {
        Keys {
            keys: Vec::with_capacity(n),
            valid: MutableBitmap::with_capacity(n),
            last: None,
        }
    }

    fn push(&mut self, key: Option<u32>) {
        self.keys.push(key.unwrap_or(0));
        self.valid.push(key.is_some());
        if key.is_some() {
            self.last = key;
        }
    }

    fn take(&mut self, n: usize) -> PrimitiveArray<u32> {
        self.last = None;
        let keys = mem::take(&mut self.keys);
        let valid = mem::replace(&mut self.valid, MutableBitmap::with_capacity(n));
        PrimitiveArray::new(ArrowDataType::UInt32, keys.into(), Some(valid.into()))
    }
}

/// A dictionary-encoded string column.
struct DictStr {
    keys: Keys,
    values: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
    /// For a name that follows from an address (function and module from
    /// ip, parent from parent ip): this column's key by the address's key,
    /// `u32::MAX` where none is known yet. A hit is checked against the
    /// name itself, so a trace where it does not follow loses nothing but
    /// time; the check is a short comparison instead of a hash lookup.
    by_address: Vec<u32>,
}

impl DictStr {
    fn with_capacity(n: usize) -> Self {
        DictStr {
            keys: Keys::with_capacity(n),
            values: Vec::new(),
            index: FxHashMap::default(),
            by_address: Vec::new(),
        }
    }

    fn lookup(&mut self, s: &str) -> u32 {
        match self.keys.last {
            Some(k) if *self.values[k as usize] == *s => k,
            _ => match self.index.get(s) {
                Some(&k) => k,
                None => {
                    let k = self.values.len() as u32;
                    self.values.push(s.into());
                    self.index.insert(s.into(), k);
                    k
                }
            },
        }
    }

    fn push(&mut self, v: Option<&str>) {
        let key = v.map(|s| self.lookup(s));
        self.keys.push(key);
    }

    /// Push `v`, the name of the address whose key (in its own column) is
    /// `address`.
    fn push_for(&mut self, v: Option<&str>, address: Option<u32>) {
        let (Some(s), Some(a)) = (v, address) else {
            return self.push(v);
        };
        let a = a as usize;
        let known = self.by_address.get(a).copied().unwrap_or(u32::MAX);
        let key = if known != u32::MAX && *self.values[known as usize] == *s {
            known
        } else {
            let k = self.lookup(s);
            if a >= self.by_address.len() {
                self.by_address.resize(a + 1, u32::MAX);
            }
            self.by_address[a] = k;
            k
        };
        self.keys.push(Some(key));
    }

    fn take(&mut self, n: usize) -> Box<dyn Array> {
        let mut values = MutableBinaryViewArray::<str>::with_capacity(self.values.len());
        for v in self.values.drain(..) {
            values.push_value(&*v);
        }
        self.index.clear();
        self.by_address.clear();
        let dtype = ArrowDataType::Dictionary(
            IntegerType::UInt32,
            Box::new(ArrowDataType::Utf8View),
            false,
        );
        let values: polars_arrow::array::Utf8ViewArray = values.into();
        // Every key was handed out by `push` for a value it stored.
        DictionaryArray::try_new(dtype, self.keys.take(n), values.boxed())
            .expect("dictionary keys index their own values")
            .boxed()
    }
}

/// A dictionary-encoded `u64` column (addresses).
struct DictU64 {
    keys: Keys,
    values: Vec<u64>,
    index: FxHashMap<u64, u32>,
}

impl DictU64 {
    fn with_capacity(n: usize) -> Self {
        DictU64 {
            keys: Keys::with_capacity(n),
            values: Vec::new(),
            index: FxHashMap::default(),
        }
    }

    /// Push `v`; returns its key.
    fn push(&mut self, v: Option<u64>) -> Option<u32> {
        let key = v.map(|x| match self.keys.last {
            Some(k) if self.values[k as usize] == x => k,
            _ => *self.index.entry(x).or_insert_with(|| {
                self.values.push(x);
                (self.values.len() - 1) as u32
            }),
        });
        self.keys.push(key);
        key
    }

    fn take(&mut self, n: usize) -> Box<dyn Array> {
        self.index.clear();
        let values = PrimitiveArray::<u64>::from_vec(mem::take(&mut self.values));
        let dtype =
            ArrowDataType::Dictionary(IntegerType::UInt32, Box::new(ArrowDataType::UInt64), false);
        DictionaryArray::try_new(dtype, self.keys.take(n), values.boxed())
            .expect("dictionary keys index their own values")
            .boxed()
    }
}

/// The interrupt flags as four boolean columns sharing one validity.
struct Flags {
    bits: [MutableBitmap; 4],
    valid: MutableBitmap,
}

impl Flags {
    fn with_capacity(n: usize) -> Self {
        Flags {
            bits: std::array::from_fn(|_| MutableBitmap::with_capacity(n)),
            valid: MutableBitmap::with_capacity(n),
        }
    }

    fn push(&mut self, f: Option<IrqFlags>) {
        let f = f.as_ref();
        self.valid.push(f.is_some());
        let get = |g: fn(&IrqFlags) -> bool| f.is_some_and(g);
        self.bits[0].push(get(|f| f.irqs_off));
        self.bits[1].push(get(|f| f.hardirq));
        self.bits[2].push(get(|f| f.softirq));
        self.bits[3].push(get(|f| f.nmi));
    }

    fn take(&mut self, n: usize) -> [Box<dyn Array>; 4] {
        let valid = mem::replace(&mut self.valid, MutableBitmap::with_capacity(n)).freeze();
        std::array::from_fn(|i| {
            let bits = mem::replace(&mut self.bits[i], MutableBitmap::with_capacity(n));
            BooleanArray::new(ArrowDataType::Boolean, bits.into(), Some(valid.clone())).boxed()
        })
    }
}

/// A required primitive column as an array, leaving an empty vector in its
/// place (its memory comes back through [`refill`]).
fn take_values<T: NativeType>(v: &mut Vec<T>) -> Box<dyn Array> {
    PrimitiveArray::from_vec(mem::take(v)).boxed()
}

/// Put back into `slot` the values vector of `array` (a primitive array, or
/// the keys of a dictionary array), emptied, if nothing else holds it any
/// more; else a new vector of capacity `n`. Refilling the same memory row
/// group after row group spares faulting in fresh pages for every one.
fn refill<T: NativeType>(slot: &mut Vec<T>, array: Option<Box<dyn Array>>, n: usize) {
    let reclaimed = array.and_then(|array| {
        let any = array.as_any();
        let values = match any.downcast_ref::<PrimitiveArray<T>>() {
            Some(p) => p.clone(),
            None => any
                .downcast_ref::<DictionaryArray<u32>>()?
                .keys()
                .as_any()
                .downcast_ref::<PrimitiveArray<T>>()?
                .clone(),
        };
        drop(array);
        values.into_inner().1.into_mut().right()
    });
    *slot = match reclaimed {
        Some(mut v) => {
            v.clear();
            v
        }
        None => Vec::with_capacity(n),
    };
}

/// One row group of events, column by column.
pub(super) struct Batch {
    capacity: usize,
    ts: Vec<i64>,
    cpu: Vec<u32>,
    pid: Vec<i32>,
    tgid: Opt<i32>,
    comm: DictStr,
    event: DictStr,
    function: DictStr,
    parent: DictStr,
    module: DictStr,
    ip: DictU64,
    parent_ip: DictU64,
    flags: Flags,
    preempt: Opt<u32>,
    /// Event bodies are mostly unique; polars picks dictionary or plain.
    info: MutableBinaryViewArray<str>,
    depth: Opt<u32>,
    calltime: Opt<u64>,
    rettime: Opt<u64>,
    repeats: Opt<u32>,
}

impl Batch {
    /// A builder for row groups of up to `n` rows.
    pub(super) fn with_capacity(n: usize) -> Batch {
        Batch {
            capacity: n,
            ts: Vec::with_capacity(n),
            cpu: Vec::with_capacity(n),
            pid: Vec::with_capacity(n),
            tgid: Opt::with_capacity(n),
            comm: DictStr::with_capacity(n),
            event: DictStr::with_capacity(n),
            function: DictStr::with_capacity(n),
            parent: DictStr::with_capacity(n),
            module: DictStr::with_capacity(n),
            ip: DictU64::with_capacity(n),
            parent_ip: DictU64::with_capacity(n),
            flags: Flags::with_capacity(n),
            preempt: Opt::with_capacity(n),
            info: MutableBinaryViewArray::with_capacity(n),
            depth: Opt::with_capacity(n),
            calltime: Opt::with_capacity(n),
            rettime: Opt::with_capacity(n),
            repeats: Opt::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, e: &Event<'_>) {
        self.ts.push(e.ts_ns);
        self.cpu.push(e.cpu);
        self.pid.push(e.pid);
        self.tgid.push(e.tgid);
        self.comm.push(Some(e.comm));
        self.event.push(Some(e.event));
        let ip = self.ip.push(e.ip);
        let parent_ip = self.parent_ip.push(e.parent_ip);
        self.function.push_for(e.function, ip);
        self.parent.push_for(e.parent, parent_ip);
        self.module.push_for(e.module, ip);
        self.flags.push(e.flags);
        self.preempt.push(e.preempt_depth.map(u32::from));
        self.info.push(e.info);
        self.depth.push(e.depth);
        self.calltime.push(e.calltime);
        self.rettime.push(e.rettime);
        self.repeats.push(e.repeats);
    }

    pub(super) fn len(&self) -> usize {
        self.ts.len()
    }

    /// Give back the arrays of [`Batch::take_arrays`] once written, so that
    /// the next row group reuses their memory.
    pub(super) fn recycle(&mut self, arrays: Vec<Box<dyn Array>>) {
        let n = self.capacity;
        let mut a = arrays.into_iter();
        refill(&mut self.ts, a.next(), n);
        refill(&mut self.cpu, a.next(), n);
        refill(&mut self.pid, a.next(), n);
        refill(&mut self.tgid.values, a.next(), n);
        for d in [
            &mut self.comm,
            &mut self.event,
            &mut self.function,
            &mut self.parent,
            &mut self.module,
        ] {
            refill(&mut d.keys.keys, a.next(), n);
        }
        refill(&mut self.ip.keys.keys, a.next(), n);
        refill(&mut self.parent_ip.keys.keys, a.next(), n);
        let _flags = (a.next(), a.next(), a.next(), a.next());
        refill(&mut self.preempt.values, a.next(), n);
        let _info = a.next();
        refill(&mut self.depth.values, a.next(), n);
        refill(&mut self.calltime.values, a.next(), n);
        refill(&mut self.rettime.values, a.next(), n);
        refill(&mut self.repeats.values, a.next(), n);
    }

    /// The rows so far as one array per column of [`super::schema`], in its
    /// order, leaving the builder empty until [`Batch::recycle`].
    pub(super) fn take_arrays(&mut self) -> Vec<Box<dyn Array>> {
        use ArrowDataType as T;
        let n = self.capacity;
        let [irqs_off, hardirq, softirq, nmi] = self.flags.take(n);
        let info = mem::replace(&mut self.info, MutableBinaryViewArray::with_capacity(n));
        let info: polars_arrow::array::Utf8ViewArray = info.into();
        vec![
            take_values(&mut self.ts),
            take_values(&mut self.cpu),
            take_values(&mut self.pid),
            self.tgid.take(T::Int32, n),
            self.comm.take(n),
            self.event.take(n),
            self.function.take(n),
            self.parent.take(n),
            self.module.take(n),
            self.ip.take(n),
            self.parent_ip.take(n),
            irqs_off,
            hardirq,
            softirq,
            nmi,
            self.preempt.take(T::UInt32, n),
            info.boxed(),
            self.depth.take(T::UInt32, n),
            self.calltime.take(T::UInt64, n),
            self.rettime.take(T::UInt64, n),
            self.repeats.take(T::UInt32, n),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of a dictionary column, row by row.
    fn names(array: &dyn Array) -> Vec<Option<String>> {
        let dict = array
            .as_any()
            .downcast_ref::<DictionaryArray<u32>>()
            .unwrap();
        let values = dict
            .values()
            .as_any()
            .downcast_ref::<polars_arrow::array::Utf8ViewArray>()
            .unwrap();
        dict.keys()
            .iter()
            .map(|k| k.map(|k| values.value(*k as usize).to_string()))
            .collect()
    }

    #[test]
    fn names_keyed_by_address_stay_right_when_an_address_changes_name() {
        // ip 1 is "a", then "b" (a trace where names do not follow from
        // addresses), then "a" again; ip 2 is "b"; a text event has no ip.
        let rows = [
            (Some(1), Some("a")),
            (Some(1), Some("b")),
            (Some(2), Some("b")),
            (Some(1), Some("a")),
            (None, Some("c")),
            (Some(2), None),
            (Some(2), Some("b")),
        ];
        let mut batch = Batch::with_capacity(8);
        for (ip, function) in rows {
            batch.push(&Event {
                ip,
                function,
                parent_ip: ip,
                parent: function,
                ..Event::default()
            });
        }
        let arrays = batch.take_arrays();
        let want: Vec<Option<String>> = rows.iter().map(|r| r.1.map(String::from)).collect();
        assert_eq!(names(&*arrays[6]), want, "function");
        assert_eq!(names(&*arrays[7]), want, "parent");
        // Second row group: the memo starts over with the new dictionary.
        batch.recycle(arrays);
        batch.push(&Event {
            ip: Some(1),
            function: Some("z"),
            ..Event::default()
        });
        let arrays = batch.take_arrays();
        assert_eq!(names(&*arrays[6]), vec![Some("z".to_string())]);
    }
}
