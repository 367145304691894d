//! A list of IP networks (sources that are refused or screened).

use std::net::IpAddr;

use super::entry::{EntryMeta, Target};
use super::intervals::IntervalMap;
use super::numbers::Lookup;
use cidr::ip_key;

#[derive(Debug)]
pub struct NetworkList {
    map: IntervalMap<u128>,
    entries: Vec<(Target, u32)>,
    metas: Vec<EntryMeta>,
}

impl NetworkList {
    pub fn build(entries: Vec<(Target, u32)>, metas: Vec<EntryMeta>) -> NetworkList {
        let intervals = entries
            .iter()
            .enumerate()
            .filter_map(|(i, (t, _))| match t {
                Target::Network(c) => {
                    let (lo, hi) = c.range();
                    Some((lo, hi, i as u32))
                }
                _ => None,
            })
            .collect();
        NetworkList {
            map: IntervalMap::build(intervals),
            entries,
            metas,
        }
    }

    /// The most specific live network containing `ip`.
    pub fn lookup(&self, ip: IpAddr, now: u64) -> Lookup<'_> {
        let mut out = Lookup::default();
        out.first_live(self.map.lookup(ip_key(ip)), &self.entries, &self.metas, now);
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn expired(&self, now: u64) -> usize {
        self.entries
            .iter()
            .filter(|e| self.metas[e.1 as usize].is_expired(now))
            .count()
    }

    pub fn entries(&self) -> impl Iterator<Item = (Target, &EntryMeta)> + '_ {
        self.entries
            .iter()
            .map(|&(t, m)| (t, &self.metas[m as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Guard, parse};
    use crate::kind::ListKind;

    #[test]
    fn most_specific_network_wins() {
        let p = parse(
            b"# callscreen list v1 name=n version=1\n10.0.0.0/8,wide\n10.1.0.0/16,narrow\n2001:db8::/32\n",
            ListKind::Networks,
            Guard::default(),
        )
        .unwrap();
        let l = NetworkList::build(p.entries, p.metas);
        let r = |s: &str| {
            l.lookup(s.parse().unwrap(), 0)
                .hit
                .map(|h| h.meta.reason.clone())
        };
        assert_eq!(r("10.1.2.3"), Some(Some("narrow".into())));
        assert_eq!(r("10.2.0.1"), Some(Some("wide".into())));
        assert_eq!(r("2001:db8::1"), Some(None));
        assert_eq!(r("11.0.0.1"), None);
    }
}
