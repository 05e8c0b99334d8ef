//! Sorting compiled once (issue 19, library size). The standard library's sorts are generic:
//! each element type and comparison gets its own copy of the whole algorithm, 2 to 7 KB
//! apiece, and the library had about twenty of them (and one more for every `BTreeMap` built
//! with `collect`, which sorts its pairs first). None of those sorts is on a hot path: they
//! order a window's commands, a POP3 listing, a folder list, byte ranges.
//!
//! [`sort_by`] and [`sort_by_key`] sort a list of positions with one compiled stable sort,
//! calling back into the caller's comparison through a `dyn` reference, then move the
//! elements into that order: per caller only the comparison and the moves are compiled.
//! [`map_from`] and [`set_from`] build a `BTreeMap` or `BTreeSet` of strings or records by
//! inserting, which needs no sort (sets of integers are still collected: one sort for all).
//! Integer slices keep the standard `sort_unstable` (one copy per integer type, shared by
//! every caller).

use std::{
    cmp::Ordering,
    collections::{BTreeMap, BTreeSet},
};

/// Sorts `items` by `compare`, stably (equal elements keep their order), in O(n log n).
pub(crate) fn sort_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> Ordering) {
    let order = {
        let items = &*items;
        order(
            items.len(),
            &mut |a, b| match (items.get(a), items.get(b)) {
                (Some(a), Some(b)) => compare(a, b),
                // `order` only passes positions below `items.len()`.
                _ => Ordering::Equal,
            },
        )
    };
    permute(items, order);
}

/// Sorts `items` in their own order, stably.
pub(crate) fn sort<T: Ord>(items: &mut [T]) {
    sort_by(items, T::cmp);
}

/// Sorts `items` by the key `key` gives each, stably.
pub(crate) fn sort_by_key<T, K: Ord>(items: &mut [T], mut key: impl FnMut(&T) -> K) {
    sort_by(items, |a, b| key(a).cmp(&key(b)));
}

/// The positions `0..len` ordered by `compare` (stable): the one compiled sort.
fn order(len: usize, compare: &mut dyn FnMut(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    order
}

/// Rearranges `items` so that position `k` holds what position `order[k]` held, following
/// each cycle of the permutation with swaps.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..order.len() {
        let mut at = start;
        while let Some(from) = order.get_mut(at).map(|slot| std::mem::replace(slot, at)) {
            if from == start || from >= items.len() {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

/// A map of the pairs of `pairs`; for a key given twice, the later value (as `collect`).
pub(crate) fn map_from<K: Ord, V>(pairs: impl IntoIterator<Item = (K, V)>) -> BTreeMap<K, V> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        map.insert(key, value);
    }
    map
}

/// A set of the items of `items` (as `collect`, without its sort).
pub(crate) fn set_from<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeSet<T> {
    let mut set = BTreeSet::new();
    for item in items {
        set.insert(item);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::{
        ChaCha8Rng,
        rand_core::{RngCore, SeedableRng},
    };

    #[test]
    fn sorts_stably_as_the_standard_sort_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(19);
        for len in [0usize, 1, 2, 3, 7, 20, 33, 100, 1000] {
            for _ in 0..20 {
                // Few distinct keys, so that stability matters; the position tags each element.
                let items: Vec<(u32, usize)> = (0..len).map(|i| (rng.next_u32() % 5, i)).collect();
                let mut want = items.clone();
                want.sort_by_key(|(k, _)| *k);
                let mut got = items.clone();
                sort_by_key(&mut got, |(k, _)| *k);
                assert_eq!(got, want, "len {len}");
                let mut got = items;
                sort_by(&mut got, |a, b| b.0.cmp(&a.0));
                want.sort_by_key(|b| std::cmp::Reverse(b.0));
                assert_eq!(got, want, "len {len}, descending");
            }
        }
    }

    #[test]
    fn moves_owned_elements_without_losing_any() {
        let mut words: Vec<String> = ["pear", "fig", "apple", "kiwi", "date", "fig"]
            .map(String::from)
            .to_vec();
        sort_by_key(&mut words, |w| w.len());
        assert_eq!(words, ["fig", "fig", "pear", "kiwi", "date", "apple"]);
        sort_by(&mut words, |a, b| a.cmp(b));
        assert_eq!(words, ["apple", "date", "fig", "fig", "kiwi", "pear"]);
    }

    #[test]
    fn a_map_keeps_the_last_value_of_a_key() {
        let map = map_from([(2, "b"), (1, "a"), (2, "c")]);
        let want: BTreeMap<_, _> = [(2, "b"), (1, "a"), (2, "c")].into_iter().collect();
        assert_eq!(map, want);
        assert_eq!(map.get(&2), Some(&"c"));
    }
}
