//! Column builders of a row group: plain vectors filled one row at a time,
//! dictionary-encoded as values arrive, and reused from row group to row
//! group ([`super::batch`] holds one per column, [`super::encode`] writes them).
//!
//! Names and addresses repeat from a small set, so each value is looked up
//! once per row group: by the id its reader gave it ([`crate::event::NameIds`])
//! when it has one (an array index), else by equality with the previous row,
//! else by hash. Nulls are counted, and a validity bitmap exists only once a
//! column holds both nulls and values.

use rustc_hash::FxHashMap;

use crate::event::NO_ID;

/// Which rows of a column hold a value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Validity {
    valid: usize,
    nulls: usize,
    /// Bit per row, LSB first; only once the column is mixed.
    bits: Option<Vec<u8>>,
}

impl Validity {
    /// Append a row.
    #[inline(always)]
    pub fn push(&mut self, valid: bool) {
        // Uniform so far and staying so: count only. Once both counts are
        // non-zero every row goes through `push_mixed`.
        if valid {
            if self.nulls != 0 {
                return self.push_mixed(true);
            }
            self.valid += 1;
        } else {
            if self.valid != 0 {
                return self.push_mixed(false);
            }
            self.nulls += 1;
        }
    }

    #[inline(never)]
    fn push_mixed(&mut self, valid: bool) {
        let i = self.len();
        let bits = match &mut self.bits {
            Some(bits) => bits,
            None => {
                // Rows so far: all valid or all null.
                let fill = if self.nulls == 0 { 0xff } else { 0 };
                let mut bits = vec![fill; i.div_ceil(8)];
                if i % 8 != 0 {
                    let last = bits.len() - 1;
                    bits[last] &= (1u8 << (i % 8)) - 1;
                }
                self.bits.insert(bits)
            }
        };
        if i % 8 == 0 {
            bits.push(0);
        }
        bits[i / 8] |= u8::from(valid) << (i % 8);
        if valid {
            self.valid += 1;
        } else {
            self.nulls += 1;
        }
    }

    /// Append `n` rows, all valid or all null.
    #[inline]
    pub fn push_n(&mut self, valid: bool, n: usize) {
        if valid && self.nulls == 0 {
            self.valid += n;
        } else if !valid && self.valid == 0 {
            self.nulls += n;
        } else if n > 0 {
            self.push_mixed(valid);
            let bits = self.bits.as_mut().expect("mixed");
            let (from, to) = (self.valid + self.nulls, self.valid + self.nulls + n - 1);
            bits.resize(to.div_ceil(8), 0);
            if valid {
                for i in from..to {
                    bits[i / 8] |= 1 << (i % 8);
                }
                self.valid += n - 1;
            } else {
                self.nulls += n - 1;
            }
        }
    }

    /// `n` rows that all hold a value.
    pub fn all_valid(n: usize) -> Validity {
        Validity {
            valid: n,
            ..Validity::default()
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.valid + self.nulls
    }

    /// Null rows.
    pub fn nulls(&self) -> usize {
        self.nulls
    }

    /// The bitmap (LSB first), if the column holds both nulls and values.
    pub fn bits(&self) -> Option<&[u8]> {
        self.bits.as_deref()
    }

    /// Empty, keeping the bitmap's memory.
    pub fn clear(&mut self) {
        self.valid = 0;
        self.nulls = 0;
        self.bits = None;
    }
}

/// Rows of a column appended in runs of equal validity, so that a column
/// without nulls (or without values) costs a count, not a push per row.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    valid: bool,
    n: usize,
}

impl Runs {
    /// Note one row.
    #[inline(always)]
    pub fn push(&mut self, to: &mut Validity, valid: bool) {
        if valid == self.valid {
            self.n += 1;
        } else {
            to.push_n(self.valid, self.n);
            self.valid = valid;
            self.n = 1;
        }
    }

    /// Append the last run.
    pub fn finish(self, to: &mut Validity) {
        to.push_n(self.valid, self.n);
    }
}

/// A key not looked up yet (also the empty slot of the memos and tables).
const MISS: u32 = u32::MAX;

/// True if some key is `at_least` or more. Written as a fold of
/// comparisons (no early exit, no unsigned maximum, which x86-64's baseline
/// instruction set lacks) so that it compiles to vector instructions.
#[inline]
fn any_at_least(keys: &[u32], at_least: u32) -> bool {
    keys.iter().fold(0u32, |a, &k| a | u32::from(k >= at_least)) != 0
}

/// Keys appended from `start` on, with [`NULL_KEY`] for null rows: the
/// rows go into `validity`, the null ones out of `keys`.
#[inline]
pub(crate) fn settle_nulls(keys: &mut Vec<u32>, start: usize, validity: &mut Validity) {
    let n = keys.len() - start;
    if !any_at_least(&keys[start..], NULL_KEY) {
        validity.push_n(true, n);
        return;
    }
    if keys[start..].iter().all(|&k| k == NULL_KEY) {
        keys.truncate(start);
        validity.push_n(false, n);
        return;
    }
    let mut runs = Runs::default();
    let mut kept = start;
    for i in start..keys.len() {
        let k = keys[i];
        let valid = k != NULL_KEY;
        runs.push(validity, valid);
        keys[kept] = k;
        kept += usize::from(valid);
    }
    runs.finish(validity);
    keys.truncate(kept);
}

/// Ids past this are not remembered (a memo indexed by id stays small).
const MAX_MEMO_ID: u32 = 1 << 22;

fn memo_set<T: Copy>(memo: &mut Vec<T>, id: u32, v: T, empty: T) {
    if id < MAX_MEMO_ID {
        let i = id as usize;
        if i >= memo.len() {
            memo.resize(i + 1, empty);
        }
        memo[i] = v;
    }
}

/// [`StrColumn`]'s memo entry for an id whose value is null.
pub(crate) const NULL_KEY: u32 = u32::MAX - 1;

/// A dictionary-encoded string column.
#[derive(Debug, Default)]
pub(crate) struct StrColumn {
    pub validity: Validity,
    /// Key of each non-null row.
    pub keys: Vec<u32>,
    /// Distinct values, in first-seen order.
    pub dict: Vec<Box<str>>,
    index: FxHashMap<Box<str>, u32>,
    /// Key by the reader's id of the value.
    by_id: Vec<u32>,
    last: u32,
}

impl StrColumn {
    fn lookup(&mut self, s: &str) -> u32 {
        if let Some(v) = self.dict.get(self.last as usize) {
            if **v == *s {
                return self.last;
            }
        }
        match self.index.get(s) {
            Some(&k) => k,
            None => {
                let k = self.dict.len() as u32;
                self.dict.push(s.into());
                self.index.insert(s.into(), k);
                k
            }
        }
    }

    /// Append a row: `v`, whose id (or [`NO_ID`]) is `id`.
    #[inline(always)]
    pub fn push(&mut self, v: Option<&str>, id: u32) {
        let Some(s) = v else {
            self.validity.push(false);
            return;
        };
        // NO_ID is past the end of the memo.
        let key = match self.by_id.get(id as usize) {
            Some(&k) if k < NULL_KEY => k,
            _ => self.key_of(s, id),
        };
        self.last = key;
        self.keys.push(key);
        self.validity.push(true);
    }

    #[inline(never)]
    fn key_of(&mut self, s: &str, id: u32) -> u32 {
        let k = self.lookup(s);
        memo_set(&mut self.by_id, id, k, u32::MAX);
        k
    }

    /// The key of the value of `id` ([`NO_ID`]: null), `None` for null:
    /// `name` gives the value of an id not seen in this row group.
    #[inline(always)]
    pub fn key_by_id<'n>(
        &mut self,
        id: u32,
        name: impl FnOnce(u32) -> Option<&'n str>,
    ) -> Option<u32> {
        match self.by_id.get(id as usize) {
            Some(&k) if k < NULL_KEY => Some(k),
            Some(&NULL_KEY) => None,
            _ if id == NO_ID => None,
            _ => self.new_id(id, name(id)),
        }
    }

    #[inline(never)]
    fn new_id(&mut self, id: u32, name: Option<&str>) -> Option<u32> {
        match name {
            Some(s) => {
                let k = self.key_of(s, id);
                self.last = k;
                Some(k)
            }
            None => {
                memo_set(&mut self.by_id, id, NULL_KEY, u32::MAX);
                None
            }
        }
    }

    /// Append rows by key ([`NULL_KEY`]: null), keys that
    /// [`StrColumn::key_by_id`] gave, which `fill` appends to the keys.
    #[inline]
    pub fn extend_keys(&mut self, fill: impl FnOnce(&mut Vec<u32>)) {
        let start = self.keys.len();
        fill(&mut self.keys);
        settle_nulls(&mut self.keys, start, &mut self.validity);
    }

    /// Append rows by id alone ([`NO_ID`]: null); `name` gives the value of
    /// an id not seen in this row group (`None`: null).
    #[inline]
    pub fn extend_ids<'n>(
        &mut self,
        ids: impl ExactSizeIterator<Item = u32> + Clone,
        name: impl Fn(u32) -> Option<&'n str>,
    ) {
        // First the keys of ids seen before, in one pass; then the keys of
        // the ids new to this row group, and the nulls taken out.
        let start = self.keys.len();
        let by_id = &self.by_id;
        self.keys.extend(ids.clone().map(|id| {
            if id == NO_ID {
                NULL_KEY
            } else {
                by_id.get(id as usize).copied().unwrap_or(MISS)
            }
        }));
        if any_at_least(&self.keys[start..], MISS) {
            for (i, id) in ids.enumerate() {
                if self.keys[start + i] == MISS {
                    self.keys[start + i] = self.key_by_id(id, &name).unwrap_or(NULL_KEY);
                }
            }
        }
        settle_nulls(&mut self.keys, start, &mut self.validity);
    }

    pub fn clear(&mut self) {
        self.validity.clear();
        self.keys.clear();
        self.dict.clear();
        self.index.clear();
        self.by_id.clear();
        self.last = 0;
    }
}

/// A dictionary-encoded integer column (values kept as `u64` bit patterns;
/// `i32` as its `u32` pattern).
#[derive(Debug, Default)]
pub(crate) struct IntColumn {
    pub validity: Validity,
    /// Key of each non-null row.
    pub keys: Vec<u32>,
    /// Distinct values, in first-seen order.
    pub dict: Vec<u64>,
    index: FxHashMap<u64, u32>,
    /// (value, key) of a recent value, by a hash of the value: addresses
    /// and thread ids repeat from a few thousand, found here without
    /// probing `index`.
    recent: Vec<(u64, u32)>,
    /// Key by value for values below [`SMALL`] (CPUs, depths, counts).
    small: Vec<u32>,
}

/// Values below this are looked up in a table instead of hashed.
const SMALL: u64 = 1024;
/// Slots of [`IntColumn::recent`] (a power of two).
const RECENT: usize = 1 << 14;

/// The slot of `v` in [`IntColumn::recent`] (the top bits of a
/// multiplicative hash).
#[inline(always)]
fn recent_slot(v: u64) -> usize {
    (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - RECENT.trailing_zeros())) as usize
}

impl IntColumn {
    /// The key of `v`, added to the dictionary if new.
    #[inline(always)]
    fn key(&mut self, v: u64) -> u32 {
        match Self::peek(&self.small, &self.recent, v) {
            MISS => self.key_slow(v),
            k => k,
        }
    }

    #[inline(never)]
    fn key_slow(&mut self, v: u64) -> u32 {
        if v < SMALL {
            if self.small.is_empty() {
                self.small.resize(SMALL as usize, u32::MAX);
            }
            let k = self.small[v as usize];
            if k != u32::MAX {
                return k;
            }
            let k = self.dict.len() as u32;
            self.dict.push(v);
            self.small[v as usize] = k;
            return k;
        }
        let k = *self.index.entry(v).or_insert_with(|| {
            self.dict.push(v);
            (self.dict.len() - 1) as u32
        });
        if self.recent.is_empty() {
            self.recent.resize(RECENT, (0, u32::MAX));
        }
        self.recent[recent_slot(v)] = (v, k);
        k
    }

    /// Append a row.
    #[inline(always)]
    pub fn push(&mut self, v: Option<u64>) {
        let Some(v) = v else {
            self.validity.push(false);
            return;
        };
        let key = self.key(v);
        self.keys.push(key);
        self.validity.push(true);
    }

    /// The key of `v` if the column has it at hand, else [`MISS`].
    #[inline(always)]
    fn peek(small: &[u32], recent: &[(u64, u32)], v: u64) -> u32 {
        if v < SMALL {
            small.get(v as usize).copied().unwrap_or(MISS)
        } else {
            match recent.get(recent_slot(v)) {
                Some(&(rv, k)) if rv == v => k,
                _ => MISS,
            }
        }
    }

    /// Append rows of values or nulls.
    #[inline]
    pub fn extend(&mut self, rows: impl ExactSizeIterator<Item = Option<u64>> + Clone) {
        if rows.clone().all(|v| v.is_none()) {
            self.validity.push_n(false, rows.len());
            return;
        }
        // First the keys of values at hand, in one pass; then the keys of
        // the others, and the nulls taken out.
        let start = self.keys.len();
        let (small, recent) = (&self.small, &self.recent);
        self.keys.extend(
            rows.clone()
                .map(|v| v.map_or(NULL_KEY, |v| Self::peek(small, recent, v))),
        );
        if any_at_least(&self.keys[start..], MISS) {
            for (i, v) in rows.enumerate() {
                if let (Some(v), MISS) = (v, self.keys[start + i]) {
                    self.keys[start + i] = self.key(v);
                }
            }
        }
        settle_nulls(&mut self.keys, start, &mut self.validity);
    }

    pub fn clear(&mut self) {
        self.validity.clear();
        self.keys.clear();
        self.dict.clear();
        self.index.clear();
        self.recent.clear();
        self.small.clear();
    }
}

/// A column stored as the values of its non-null rows (`calltime`,
/// `rettime`; the flag bytes).
#[derive(Debug, Default)]
pub(crate) struct PlainColumn<T> {
    pub validity: Validity,
    /// Values of the non-null rows.
    pub values: Vec<T>,
}

impl<T> PlainColumn<T> {
    /// Append rows of values or nulls.
    #[inline]
    pub fn extend(&mut self, rows: impl ExactSizeIterator<Item = Option<T>> + Clone) {
        let n = rows.len();
        if rows.clone().all(|v| v.is_none()) {
            self.validity.push_n(false, n);
            return;
        }
        self.values.reserve(n);
        let mut runs = Runs::default();
        for v in rows {
            runs.push(&mut self.validity, v.is_some());
            if let Some(v) = v {
                self.values.push(v);
            }
        }
        runs.finish(&mut self.validity);
    }

    /// Append rows that all hold a value.
    #[inline]
    pub fn extend_valid(&mut self, rows: impl ExactSizeIterator<Item = T>) {
        self.validity.push_n(true, rows.len());
        self.values.extend(rows);
    }

    #[inline]
    pub fn push(&mut self, v: Option<T>) {
        self.validity.push(v.is_some());
        if let Some(v) = v {
            self.values.push(v);
        }
    }

    pub fn clear(&mut self) {
        self.validity.clear();
        self.values.clear();
    }
}

/// A plain string column (mostly distinct values).
#[derive(Debug, Default)]
pub(crate) struct TextColumn {
    pub validity: Validity,
    pub text: String,
    /// End of each non-null row's value in `text`.
    pub ends: Vec<u32>,
}

impl TextColumn {
    /// Append rows of values or nulls.
    #[inline]
    pub fn extend<'t>(&mut self, rows: impl ExactSizeIterator<Item = Option<&'t str>> + Clone) {
        let n = rows.len();
        if rows.clone().all(|v| v.is_none()) {
            self.validity.push_n(false, n);
            return;
        }
        for v in rows {
            self.push(v);
        }
    }

    #[inline]
    pub fn push(&mut self, v: Option<&str>) {
        if let Some(s) = v {
            self.text.push_str(s);
            self.ends.push(self.text.len() as u32);
        }
        self.validity.push(v.is_some());
    }

    pub fn clear(&mut self) {
        self.validity.clear();
        self.text.clear();
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(v: &Validity) -> Vec<bool> {
        match v.bits() {
            Some(b) => (0..v.len()).map(|i| b[i / 8] >> (i % 8) & 1 == 1).collect(),
            None => vec![v.nulls() == 0; v.len()],
        }
    }

    #[test]
    fn validity_materializes_only_when_mixed() {
        for pattern in [
            vec![true; 20],
            vec![false; 20],
            [vec![true; 9], vec![false], vec![true; 5]].concat(),
            [vec![false; 16], vec![true; 3]].concat(),
            [vec![false; 7], vec![true]].concat(),
        ] {
            let mut v = Validity::default();
            for &b in &pattern {
                v.push(b);
            }
            assert_eq!(bits_of(&v), pattern);
            assert_eq!(v.nulls(), pattern.iter().filter(|b| !**b).count());
            let uniform = pattern.iter().all(|b| *b == pattern[0]);
            assert_eq!(v.bits().is_none(), uniform, "{pattern:?}");
        }
    }

    #[test]
    fn ids_and_values_give_the_same_keys() {
        // id 1 is "a" then (a reader where ids do not follow names) "b".
        let mut c = StrColumn::default();
        c.push(Some("a"), 1);
        c.push(Some("b"), NO_ID);
        c.push(Some("a"), 1);
        c.push(None, 1);
        c.push(Some("a"), NO_ID);
        c.push(Some("b"), 2);
        assert_eq!(c.keys, vec![0, 1, 0, 0, 1]);
        assert_eq!(c.dict, vec!["a".into(), "b".into()]);

        let mut ip = IntColumn::default();
        ip.push(Some(100));
        ip.push(Some(104)); // another address of symbol 7
        ip.push(Some(100));
        ip.push(Some(104));
        assert_eq!(ip.keys, vec![0, 1, 0, 1]);
        assert_eq!(ip.dict, vec![100, 104]);
    }
}
