//! Environment overrides: `MTS1B_TV_<SECTION>__<KEY>=value`, nested with `__`.
//!
//! figment's own `Env` provider guesses types from values (`12345` becomes an integer, which a
//! secret or an id then fails to deserialize from). This provider never guesses: every value is
//! a string and validation parses it for what the key needs. Section and key names are matched
//! in any case; map keys chosen by the operator (fund ids, symbology entries) keep
//! their spelling, since fund ids are case-sensitive. Adapter names are fixed keys, matched in
//! any case like sections.

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// The prefix of every override.
pub const PREFIX: &str = "MTS1B_TV_";

/// Reads overrides from a list of variables (the process environment by default).
#[derive(Clone, Debug)]
pub struct EnvOverrides {
    vars: Vec<(String, String)>,
}

impl EnvOverrides {
    /// Overrides from the process environment.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// Overrides from the given variables (for tests and embedders).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .filter(|(k, _)| k.starts_with(PREFIX))
                .collect(),
        }
    }
}

/// True when segment `i` of `path` is a map key the operator chose, to keep as written.
fn is_map_key(path: &[String], i: usize) -> bool {
    matches!(
        (path.first().map(String::as_str), i),
        (Some("funds"), 1) | (Some("symbology"), 2)
    )
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named(format!("environment variable(s) {PREFIX}*"))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let mut paths: Vec<(&str, Vec<String>)> = Vec::with_capacity(self.vars.len());
        for (name, _) in &self.vars {
            let mut path: Vec<String> = Vec::new();
            for (i, segment) in name[PREFIX.len()..].split("__").enumerate() {
                let segment = if is_map_key(&path, i) {
                    segment.to_owned()
                } else {
                    segment.to_ascii_lowercase()
                };
                path.push(segment);
            }
            if path.iter().any(String::is_empty) {
                return Err(Error::from(format!("{name}: empty key segment")));
            }
            paths.push((name, path));
        }
        // Two variables for one key (`…SERVER__LISTEN` and `…server__listen`), or a value for a
        // whole section beside a key inside it (`…SERVER` and `…SERVER__LISTEN`): which would
        // win depends on the order of the environment, so neither does.
        let mut sorted: Vec<&(&str, Vec<String>)> = paths.iter().collect();
        sorted.sort_by(|a, b| a.1.cmp(&b.1));
        for pair in sorted.windows(2) {
            let ((first, outer), (second, inner)) = (pair[0], pair[1]);
            if inner.starts_with(outer) {
                return Err(Error::from(format!(
                    "{first} and {second} both set {}: set one of them",
                    outer.join(".")
                )));
            }
        }
        let mut root = Dict::new();
        for ((_, value), (_, path)) in self.vars.iter().zip(&paths) {
            insert(&mut root, path, Value::from(value.clone()));
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let (first, rest) = path.split_first().expect("non-empty path");
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if !matches!(entry, Value::Dict(..)) {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        insert(inner, rest, value);
    }
}
