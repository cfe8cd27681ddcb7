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
            Some(&k) if k != u32::MAX => k,
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
    /// (value, key) by the id of the name the value goes with (an address
    /// by its symbol).
    by_id: Vec<(u64, u32)>,
    last: Option<(u64, u32)>,
    /// Key by value for values below [`SMALL`] (CPUs, depths, counts).
    small: Vec<u32>,
}

/// Values below this are looked up in a table instead of hashed.
const SMALL: u64 = 1024;

impl IntColumn {
    fn lookup(&mut self, v: u64) -> u32 {
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
        match self.last {
            Some((lv, k)) if lv == v => k,
            _ => *self.index.entry(v).or_insert_with(|| {
                self.dict.push(v);
                (self.dict.len() - 1) as u32
            }),
        }
    }

    /// Append a row.
    #[inline(always)]
    pub fn push(&mut self, v: Option<u64>) {
        self.push_for(v, NO_ID);
    }

    /// Append a row whose value usually follows from `id` (an address from
    /// its symbol): the key is remembered by id, checked against the value.
    #[inline(always)]
    pub fn push_for(&mut self, v: Option<u64>, id: u32) {
        let Some(v) = v else {
            self.validity.push(false);
            return;
        };
        let key = match (self.by_id.get(id as usize), self.last) {
            (Some(&(mv, k)), _) if mv == v && k != u32::MAX => k,
            (_, Some((lv, k))) if lv == v => k,
            _ => self.key_of(v, id),
        };
        self.last = Some((v, key));
        self.keys.push(key);
        self.validity.push(true);
    }

    #[inline(never)]
    fn key_of(&mut self, v: u64, id: u32) -> u32 {
        let k = self.lookup(v);
        memo_set(&mut self.by_id, id, (v, k), (0, u32::MAX));
        k
    }

    pub fn clear(&mut self) {
        self.validity.clear();
        self.keys.clear();
        self.dict.clear();
        self.index.clear();
        self.by_id.clear();
        self.last = None;
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
        ip.push_for(Some(100), 7);
        ip.push_for(Some(104), 7); // another address of symbol 7
        ip.push_for(Some(100), 7);
        ip.push_for(Some(104), NO_ID);
        assert_eq!(ip.keys, vec![0, 1, 0, 1]);
        assert_eq!(ip.dict, vec![100, 104]);
    }
}
