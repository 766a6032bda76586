//! Shared by the fuzz targets that feed JSON contents and event sequences: a reader that turns
//! the fuzzer's bytes into choices (0 once they run out, so every input is a finite run), a
//! generator of arbitrary JSON biased towards the keys and values the parsers look at, and a
//! mutator that puts arbitrary values into otherwise valid contents, so the fuzzer gets past
//! the first check of each parser.
#![allow(dead_code)]

use serde_json::{Map, Number, Value};

/// Decodes choices from the fuzz input, front to back.
pub struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Gen<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Gen { data, pos: 0 }
    }

    pub fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The bytes not read yet (all of them are consumed).
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.data[self.pos.min(self.data.len())..];
        self.pos = self.data.len();
        rest
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A number in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        match n {
            0 | 1 => 0,
            2..=256 => self.byte() as usize % n,
            _ => self.u32() as usize % n,
        }
    }

    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }

    /// Up to `max` raw bytes as a string: any UTF-8, control characters, whitespace and
    /// invalid bytes (replaced) included.
    pub fn raw_string(&mut self, max: usize) -> String {
        let len = self.below(max + 1);
        let end = (self.pos + len).min(self.data.len());
        let start = self.pos.min(end);
        self.pos += len;
        String::from_utf8_lossy(&self.data[start..end]).into_owned()
    }

    /// One of `pool` (mostly) or an arbitrary short string.
    pub fn string(&mut self, pool: &[&str]) -> String {
        match self.byte() % 8 {
            0 => self.raw_string(24),
            1 => SPECIAL_STRINGS[self.below(SPECIAL_STRINGS.len())].to_owned(),
            2 if self.byte() % 16 == 0 => "x".repeat(self.pick(&[255, 256, 4096, 4097, 65_536])),
            _ if !pool.is_empty() => self.pick(pool).to_owned(),
            _ => self.raw_string(24),
        }
    }

    /// Milliseconds, biased towards the boundaries the parsers and machines care about.
    pub fn ms(&mut self) -> u64 {
        match self.byte() % 8 {
            0 => self.pick(&INTERESTING_MS),
            1 => u64::from(self.u16()),
            2 => u64::from(self.u32()),
            3 => self.u64(),
            4 => u64::from(self.byte()) * 1000,
            _ => u64::from(self.u16()) * 10,
        }
    }

    pub fn number(&mut self) -> Value {
        match self.byte() % 8 {
            0 => Value::from(self.ms()),
            1 => Value::from(-(i64::from(self.u32()))),
            2 => Value::from(i64::MIN),
            3 => Number::from_f64(f64::from_bits(self.u64())).map_or(Value::Null, Value::Number),
            4 => Value::from(self.pick(&[
                0.0,
                -0.0,
                0.5,
                1.0,
                -1.5,
                1e300,
                9.007_199_254_740_993e15,
            ])),
            5 => Value::from(self.pick(&[0u64, 1, 2, 255, 256, 65_535, 65_536, u64::MAX])),
            _ => Value::from(u64::from(self.byte())),
        }
    }

    /// Arbitrary JSON: object keys mostly from `keys`, strings mostly from `strings`.
    pub fn json(&mut self, keys: &[&str], strings: &[&str], depth: u32) -> Value {
        let kind = self.byte() % if depth == 0 { 5 } else { 8 };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(self.bool()),
            2 => self.number(),
            3 | 4 => Value::String(self.string(strings)),
            5 => {
                let n = self.below(5);
                Value::Array(
                    (0..n)
                        .map(|_| self.json(keys, strings, depth - 1))
                        .collect(),
                )
            }
            _ => {
                let n = self.below(7);
                let mut m = Map::new();
                for _ in 0..n {
                    let k = self.string(keys);
                    let v = self.json(keys, strings, depth - 1);
                    m.insert(k, v);
                }
                Value::Object(m)
            }
        }
    }

    /// Changes one node of `v` (any depth): replaced by arbitrary JSON, or, in an object or
    /// array, a child removed or one added.
    pub fn mutate(&mut self, v: &mut Value, keys: &[&str], strings: &[&str]) {
        let target = self.below(count(v));
        let mut i = 0;
        self.mutate_at(v, target, &mut i, keys, strings);
    }

    fn mutate_at(
        &mut self,
        v: &mut Value,
        target: usize,
        i: &mut usize,
        keys: &[&str],
        strings: &[&str],
    ) -> bool {
        if *i == target {
            match (self.byte() % 4, &mut *v) {
                (1, Value::Object(m)) if !m.is_empty() => {
                    let k = m
                        .keys()
                        .nth(self.below(m.len()))
                        .cloned()
                        .unwrap_or_default();
                    m.remove(&k);
                }
                (1, Value::Array(a)) if !a.is_empty() => {
                    a.remove(self.below(a.len()));
                }
                (2, Value::Object(m)) => {
                    let k = self.string(keys);
                    let child = self.json(keys, strings, 2);
                    m.insert(k, child);
                }
                (2, Value::Array(a)) => {
                    let child = match a.first() {
                        // A copy of a sibling, so that lists grow with valid-looking entries.
                        Some(first) if self.bool() => first.clone(),
                        _ => self.json(keys, strings, 2),
                    };
                    a.push(child);
                }
                _ => *v = self.json(keys, strings, 3),
            }
            return true;
        }
        *i += 1;
        match v {
            Value::Object(m) => {
                for (_, c) in m.iter_mut() {
                    if self.mutate_at(c, target, i, keys, strings) {
                        return true;
                    }
                }
            }
            Value::Array(a) => {
                for c in a.iter_mut() {
                    if self.mutate_at(c, target, i, keys, strings) {
                        return true;
                    }
                }
            }
            _ => {}
        }
        false
    }

    /// `mutate` up to `max` times; often none, so valid contents stay common.
    pub fn mutations(&mut self, v: &mut Value, max: usize, keys: &[&str], strings: &[&str]) {
        let n = match self.byte() % 4 {
            0 | 1 => 0,
            _ => 1 + self.below(max),
        };
        for _ in 0..n {
            self.mutate(v, keys, strings);
        }
    }
}

/// Nodes in a JSON value.
pub fn count(v: &Value) -> usize {
    1 + match v {
        Value::Object(m) => m.values().map(count).sum(),
        Value::Array(a) => a.iter().map(count).sum(),
        _ => 0,
    }
}

/// If `patch` is an object, its keys set over `base` (JSON from raw fuzz bytes made to reach
/// past the parsers' first checks).
pub fn overlay(base: &Value, patch: &Value) -> Option<Value> {
    let patch = patch.as_object()?;
    let mut v = base.clone();
    let obj = v.as_object_mut()?;
    for (k, p) in patch {
        obj.insert(k.clone(), p.clone());
    }
    Some(v)
}

const INTERESTING_MS: [u64; 16] = [
    0,
    1,
    999,
    1_000,
    2_999,
    3_000,
    30_000,
    60_000,
    90_000,
    90_001,
    600_000,
    600_001,
    3_600_000,
    14_400_000,
    (1 << 53) - 1,
    u64::MAX,
];

const SPECIAL_STRINGS: [&str; 14] = [
    "", " ", "\t", "a b", "a\nb", "\r\n", "\u{0}", "\u{7f}", "\u{85}", "\u{a0}", "é", "\u{200b}",
    "🙂", "null",
];
