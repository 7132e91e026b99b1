//! The [`Env`] trait: where expansion looks variables up.

use std::collections::{BTreeMap, HashMap};

/// A source of variables for expansion. Names are case-sensitive.
pub trait Env {
    /// The value of `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

/// Ordered pairs: the last entry with the name wins.
impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Ordered pairs: the last entry with the name wins.
impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

/// A reference to any environment (so `&&[(String, String)]` is a `&dyn Env`).
impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<&str> {
        T::get(self, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_impl_finds_and_misses() {
        let pairs = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "2".to_string()),
            ("A".to_string(), "3".to_string()),
        ];
        let btree: BTreeMap<String, String> = pairs.iter().cloned().collect();
        let hash: HashMap<String, String> = pairs.iter().cloned().collect();
        let slice = pairs.as_slice();
        let envs: [&dyn Env; 4] = [&pairs, &slice, &btree, &hash];
        for env in envs {
            assert_eq!(env.get("A"), Some("3"));
            assert_eq!(env.get("B"), Some("2"));
            assert_eq!(env.get("a"), None);
            assert_eq!(env.get("C"), None);
        }
    }
}
