//! printk formats (`printk_formats`): constant kernel strings by address,
//! for events that record a pointer to a format or string (`bputs`, `%s` of
//! a `const char *`).
//!
//! Each line is `0xADDR : "text"`; like libtraceevent, the quotes and a
//! trailing `\n` are dropped.

/// printk formats: constant kernel strings by address.
#[derive(Clone, Debug, Default)]
pub(crate) struct Printk {
    map: Vec<(u64, String)>,
}

impl Printk {
    /// Parse `printk_formats` (`0xADDR : "text"` lines).
    pub fn parse(text: &[u8]) -> Printk {
        let text = String::from_utf8_lossy(text);
        let mut map = Vec::new();
        for line in text.split('\n').filter(|l| !l.is_empty()) {
            let Some((addr, fmt)) = line.split_once(':') else {
                continue;
            };
            let a = addr.trim();
            let a = a
                .strip_prefix("0x")
                .or_else(|| a.strip_prefix("0X"))
                .unwrap_or(a);
            let Ok(addr) = u64::from_str_radix(a, 16) else {
                continue;
            };
            let mut s = fmt.strip_prefix(' ').unwrap_or(fmt);
            s = s.strip_prefix('"').unwrap_or(s);
            s = s.strip_suffix('"').unwrap_or(s);
            s = s.strip_suffix("\\n").unwrap_or(s);
            map.push((addr, s.to_string()));
        }
        map.reverse();
        map.sort_by_key(|e| e.0);
        Printk { map }
    }

    /// The string registered at `addr`.
    pub fn get(&self, addr: u64) -> Option<&str> {
        let i = self.map.binary_search_by_key(&addr, |e| e.0).ok()?;
        Some(&self.map[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_address() {
        let p = Printk::parse(
            b"0xffffffff82000000 : \"hello\\n\"\nffffffff82000010 : \"a: b\"\nbad line\n",
        );
        assert_eq!(p.get(0xffffffff82000000), Some("hello"));
        assert_eq!(p.get(0xffffffff82000010), Some("a: b"));
        assert_eq!(p.get(1), None);
    }
}
