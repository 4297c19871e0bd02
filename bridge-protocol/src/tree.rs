//! The client's side of both codecs: a message from the daemon, in either codec, is read into one
//! tree, a [`Value`], and a result is deserialized from the tree as its method's type; a request's
//! params are serialized into a tree ([`to_value`]) and written in the session's codec
//! ([`write_json`], [`write_msgpack`]), byte for byte as the daemon's own codecs
//! ([`json`](crate::json), [`msgpack`](crate::msgpack)) write them.
//!
//! One path for both codecs keeps the browser's WebAssembly small: serde's derives compile once
//! per type, against this module's deserializer and serializer, instead of once for serde_json's
//! and once for rmp-serde's. The tree borrows from the message: a string with no escape and
//! MessagePack `bin` bytes are not copied. A `recv`'s 64 KiB answer is one string (JSON, base64) or
//! one `bin` (MessagePack), read with one scan or none.
//!
//! The reader accepts exactly JSON (RFC 8259) and MessagePack (without its `ext` types), maps keyed
//! by strings, nested at most [`MAX_NESTING`] deep; anything else is `None`. Errors carry no words
//! ([`WrongShape`]): the caller knows what it asked for.
//!
//! ```
//! use bridge_protocol::tree::{self, Value};
//! use bridge_protocol::Address;
//!
//! let value = tree::parse_json(r#"{"address": ["127.0.0.1", 80], "n": -1}"#);
//! let Some(Value::Map(members)) = &value else { panic!("not a map") };
//! assert_eq!(members[1], ("n".into(), Value::Int(-1)));
//! let address: Address = tree::deserialize(&members[0].1, true).unwrap();
//! assert_eq!(address, Address::from(("127.0.0.1", 80)));
//! ```

use crate::MAX_NESTING;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;

/// One JSON or MessagePack value, borrowing from the message it was read from.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// `null`, MessagePack nil.
    Nil,
    /// A boolean.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A number with a fraction or an exponent, or out of the integers' range; MessagePack floats.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// MessagePack `bin` bytes (JSON has none: its bytes are base64 strings).
    Bin(Cow<'a, [u8]>),
    /// An array.
    Array(Vec<Value<'a>>),
    /// A map, its members in the message's order.
    Map(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    /// The same value, owning its strings and bytes.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(n) => Value::Int(n),
            Value::UInt(n) => Value::UInt(n),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bin(b) => Value::Bin(Cow::Owned(b.into_owned())),
            Value::Array(items) => Value::Array(items.into_iter().map(Value::into_owned).collect()),
            Value::Map(members) => {
                Value::Map(members.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned())).collect())
            }
        }
    }
}

impl From<&str> for Value<'static> {
    fn from(s: &str) -> Self {
        Value::Str(Cow::Owned(s.to_owned()))
    }
}

/// Writes the value with any serde serializer (a request's params, in either codec).
impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Nil => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => serializer.serialize_i64(*n),
            Value::UInt(n) => serializer.serialize_u64(*n),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bin(b) => serializer.serialize_bytes(b),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Map(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

// ---- MessagePack ----

/// Reads one MessagePack value that fills `bytes` exactly.
pub fn parse_msgpack(bytes: &[u8]) -> Option<Value<'_>> {
    let mut reader = Msgpack { rest: bytes };
    let value = reader.value(0)?;
    reader.rest.is_empty().then_some(value)
}

struct Msgpack<'a> {
    rest: &'a [u8],
}

impl<'a> Msgpack<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.rest = rest;
        Some(head)
    }

    fn uint(&mut self, width: usize) -> Option<u64> {
        Some(self.take(width)?.iter().fold(0, |n, &b| (n << 8) | u64::from(b)))
    }

    fn len(&mut self, width: usize) -> Option<usize> {
        usize::try_from(self.uint(width)?).ok()
    }

    fn str(&mut self, n: usize) -> Option<Cow<'a, str>> {
        std::str::from_utf8(self.take(n)?).ok().map(Cow::Borrowed)
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        let (&marker, rest) = self.rest.split_first()?;
        self.rest = rest;
        Some(match marker {
            0x00..=0x7f => Value::UInt(u64::from(marker)),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(marker & 0x0f), depth)?,
            0xa0..=0xbf => Value::Str(self.str(usize::from(marker & 0x1f))?),
            0xc0 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                Value::Bin(Cow::Borrowed(self.take(n)?))
            }
            0xca => Value::Float(f64::from(f32::from_bits(self.uint(4)? as u32))),
            0xcb => Value::Float(f64::from_bits(self.uint(8)?)),
            0xcc..=0xcf => Value::UInt(self.uint(1 << (marker - 0xcc))?),
            0xd0..=0xd3 => {
                let width = 1 << (marker - 0xd0);
                let raw = self.uint(width)?;
                // Sign-extend from the width's top bit.
                let shift = 64 - 8 * width as u32;
                integer(((raw << shift) as i64) >> shift)
            }
            0xd9..=0xdb => {
                let n = self.len(1 << (marker - 0xd9))?;
                Value::Str(self.str(n)?)
            }
            0xdc | 0xdd => {
                let n = self.len(2 << (marker - 0xdc))?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.len(2 << (marker - 0xde))?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(marker as i8)),
            // 0xc1 (never used) and the ext types, which our messages never hold.
            _ => return None,
        })
    }

    fn array(&mut self, n: usize, depth: usize) -> Option<Value<'a>> {
        if depth == MAX_NESTING {
            return None;
        }
        // Every item takes a byte at least: a count beyond what is left is a lie, not a reservation.
        let mut items = Vec::with_capacity(n.min(self.rest.len()));
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Some(Value::Array(items))
    }

    fn map(&mut self, n: usize, depth: usize) -> Option<Value<'a>> {
        if depth == MAX_NESTING {
            return None;
        }
        let mut members = Vec::with_capacity(n.min(self.rest.len() / 2));
        for _ in 0..n {
            let Value::Str(key) = self.value(depth + 1)? else { return None };
            members.push((key, self.value(depth + 1)?));
        }
        Some(Value::Map(members))
    }
}

/// A signed integer as the tree holds it: non-negative ones are `UInt`, as JSON's are.
fn integer(n: i64) -> Value<'static> {
    u64::try_from(n).map_or(Value::Int(n), Value::UInt)
}

// ---- JSON ----

/// Reads one JSON value that fills `text` (whitespace around it aside).
pub fn parse_json(text: &str) -> Option<Value<'_>> {
    let mut reader = Json { text, at: 0 };
    let value = reader.value(0)?;
    reader.skip_space();
    (reader.at == text.len()).then_some(value)
}

struct Json<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Json<'a> {
    fn bytes(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().first().copied()
    }

    fn skip_space(&mut self) {
        self.at += self.bytes().iter().take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).count();
    }

    fn expect(&mut self, word: &str) -> Option<()> {
        self.bytes().starts_with(word.as_bytes()).then(|| self.at += word.len())
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        self.skip_space();
        Some(match self.peek()? {
            b'{' => {
                self.at += 1;
                self.map(depth)?
            }
            b'[' => {
                self.at += 1;
                self.array(depth)?
            }
            b'"' => {
                self.at += 1;
                Value::Str(self.string()?)
            }
            b't' => self.expect("true").map(|()| Value::Bool(true))?,
            b'f' => self.expect("false").map(|()| Value::Bool(false))?,
            b'n' => self.expect("null").map(|()| Value::Nil)?,
            _ => self.number()?,
        })
    }

    /// After `[`.
    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth == MAX_NESTING {
            return None;
        }
        let mut items = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    /// After `{`.
    fn map(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth == MAX_NESTING {
            return None;
        }
        let mut members = Vec::new();
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(Value::Map(members));
        }
        loop {
            self.skip_space();
            self.expect("\"")?;
            let key = self.string()?;
            self.skip_space();
            self.expect(":")?;
            members.push((key, self.value(depth + 1)?));
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(Value::Map(members));
                }
                _ => return None,
            }
        }
    }

    /// After the opening quote: the string, borrowed when it holds no escape.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let plain = plain_prefix(self.bytes());
        let start = self.at;
        self.at += plain;
        match self.peek()? {
            b'"' => {
                self.at += 1;
                Some(Cow::Borrowed(&self.text[start..start + plain]))
            }
            b'\\' => {
                let mut owned = String::from(&self.text[start..start + plain]);
                loop {
                    let plain = plain_prefix(self.bytes());
                    owned.push_str(&self.text[self.at..self.at + plain]);
                    self.at += plain;
                    match self.peek()? {
                        b'"' => {
                            self.at += 1;
                            return Some(Cow::Owned(owned));
                        }
                        b'\\' => {
                            self.at += 1;
                            owned.push(self.escape()?);
                        }
                        _ => return None,
                    }
                }
            }
            // A control character: JSON strings must escape them.
            _ => None,
        }
    }

    /// After a backslash: the character it stands for.
    fn escape(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                match first {
                    0xd800..=0xdbff => {
                        self.expect("\\u")?;
                        let second = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&second) {
                            return None;
                        }
                        char::from_u32(0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00))?
                    }
                    _ => char::from_u32(first)?,
                }
            }
            _ => return None,
        })
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes().get(..4)?;
        let mut n = 0;
        for &d in digits {
            n = n * 16 + char::from(d).to_digit(16)?;
        }
        self.at += 4;
        Some(n)
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        self.at += usize::from(negative);
        let int = self.digits();
        if int == 0 || (int > 1 && self.text.as_bytes()[self.at - int] == b'0') {
            return None;
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            integral = false;
            if self.digits() == 0 {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            integral = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = &self.text[start..self.at];
        if integral {
            if negative {
                // `-0` is left to `float`: it is -0.0, as serde_json reads it.
                if let Ok(n @ ..=-1) = text.parse::<i64>() {
                    return Some(Value::Int(n));
                }
            } else if let Ok(n) = text.parse::<u64>() {
                return Some(Value::UInt(n));
            }
        }
        float(text).map(Value::Float)
    }

    fn digits(&mut self) -> usize {
        let n = self.bytes().iter().take_while(|b| b.is_ascii_digit()).count();
        self.at += n;
        n
    }
}

/// A JSON number's value, as serde_json computes it by default: exact when its digits fit 2^53 and
/// its power of ten is within 10^±22 (every number the daemon writes: timestamps, link settings),
/// else within a unit in the last place. (Rust's exact parser would add 15 KB to the browser's
/// download, 10 KB of it a table of powers.) `None` if it is out of `f64`'s range.
fn float(text: &str) -> Option<f64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (digits, exponent) = match text.find(['e', 'E']) {
        // An exponent beyond i32 is beyond any float: saturated, it gives 0 or infinity.
        Some(at) => {
            let exponent = &text[at + 1..];
            let huge = if exponent.starts_with('-') { -9_999_999 } else { 9_999_999 };
            (&text[..at], exponent.parse::<i32>().map_or(huge, |e| e.clamp(-9_999_999, 9_999_999)))
        }
        None => (text, 0),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    // The first 19 significant digits make the mantissa; the rest only move the point.
    let mut mantissa: u64 = 0;
    let mut scale = exponent.saturating_sub(i32::try_from(fraction.len()).ok()?);
    let mut kept = 0;
    for d in whole.bytes().chain(fraction.bytes()) {
        if kept < 19 {
            mantissa = mantissa * 10 + u64::from(d - b'0');
            kept += usize::from(mantissa > 0);
        } else {
            scale = scale.saturating_add(1);
        }
    }
    let value = if mantissa == 0 {
        0.0
    } else if scale >= 0 {
        mantissa as f64 * pow10(scale)
    } else if scale >= -308 {
        mantissa as f64 / pow10(-scale)
    } else {
        // Below 10^-308 the divisor is infinite: divide in two steps.
        mantissa as f64 / pow10(-scale - 308) / 1e308
    };
    value.is_finite().then_some(if negative { -value } else { value })
}

/// 10^n for n ≥ 0: exact up to 10^22, infinite from 10^309.
fn pow10(n: i32) -> f64 {
    const EXACT: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    let mut result = 1.0_f64;
    let mut n = n;
    while n > 22 {
        result *= 1e22;
        n -= 22;
        if result.is_infinite() {
            return result;
        }
    }
    result * EXACT[n as usize]
}

/// How many bytes of `bytes` need no care in a JSON string: up to a quote, a backslash or a control
/// character. Looks at 8 bytes at a time (a `recv`'s answer is 87 KB of base64 to pass over).
fn plain_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `word` is below `n` (exact for n ≤ 128); and whether any is zero.
    let any_below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS != 0;
    let any_zero = |word: u64| any_below(word, 1);
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
        if any_below(word, 0x20)
            || any_zero(word ^ (ONES * u64::from(b'"')))
            || any_zero(word ^ (ONES * u64::from(b'\\')))
        {
            break;
        }
        at += 8;
    }
    at + bytes[at..].iter().take_while(|&&b| b >= 0x20 && b != b'"' && b != b'\\').count()
}

// ---- Typed values from the tree ----

/// Why a tree did not have a type's shape. It keeps no message: the caller knows what it asked for,
/// and formatting serde's messages would cost the browser's download more than they tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongShape;

impl fmt::Display for WrongShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value of the wrong shape")
    }
}

impl std::error::Error for WrongShape {}

// Every constructor says the same, so the descriptions serde's derives pass them (the expected
// types' names) are left out of the browser's download.
impl de::Error for WrongShape {
    #[inline(always)]
    fn custom<T: fmt::Display>(_: T) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn invalid_type(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn invalid_value(_: de::Unexpected<'_>, _: &dyn de::Expected) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn invalid_length(_: usize, _: &dyn de::Expected) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn unknown_variant(_: &str, _: &'static [&'static str]) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn missing_field(_: &'static str) -> Self {
        WrongShape
    }
    #[inline(always)]
    fn duplicate_field(_: &'static str) -> Self {
        WrongShape
    }
}

/// Deserializes `T` from a tree. `human` is the codec's: `true` for JSON (bytes are base64
/// strings), `false` for MessagePack.
pub fn deserialize<'a, T: de::Deserialize<'a>>(value: &'a Value<'a>, human: bool) -> Result<T, WrongShape> {
    T::deserialize(Tree { value, human })
}

/// The deserializer over a tree.
#[derive(Clone, Copy)]
struct Tree<'a> {
    value: &'a Value<'a>,
    human: bool,
}

impl<'de> Deserializer<'de> for Tree<'de> {
    type Error = WrongShape;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WrongShape> {
        let human = self.human;
        match self.value {
            Value::Nil => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(n) => visitor.visit_i64(*n),
            Value::UInt(n) => visitor.visit_u64(*n),
            Value::Float(f) => visitor.visit_f64(*f),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Bin(b) => visitor.visit_borrowed_bytes(b),
            Value::Array(items) => visitor.visit_seq(Items { items: items.iter(), human }),
            Value::Map(members) => visitor.visit_map(Members { members: members.iter(), value: None, human }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WrongShape> {
        match self.value {
            Value::Nil => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, WrongShape> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, WrongShape> {
        // Unit variants, by name: the only enums our results spell.
        match self.value {
            Value::Str(s) => visitor.visit_enum(IntoDeserializer::<WrongShape>::into_deserializer(s.as_ref())),
            _ => Err(WrongShape),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, WrongShape> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.human
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

struct Items<'a> {
    items: std::slice::Iter<'a, Value<'a>>,
    human: bool,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = WrongShape;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, WrongShape> {
        self.items.next().map(|value| seed.deserialize(Tree { value, human: self.human })).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Members<'a> {
    members: std::slice::Iter<'a, (Cow<'a, str>, Value<'a>)>,
    value: Option<&'a Value<'a>>,
    human: bool,
}

impl<'de> MapAccess<'de> for Members<'de> {
    type Error = WrongShape;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, WrongShape> {
        let Some((key, value)) = self.members.next() else { return Ok(None) };
        self.value = Some(value);
        seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, WrongShape> {
        let value = self.value.take().ok_or(WrongShape)?;
        seed.deserialize(Tree { value, human: self.human })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.members.len())
    }
}

// ---- Writing: a value into a tree, and a tree as MessagePack or JSON ----

impl ser::Error for WrongShape {
    #[inline(always)]
    fn custom<T: fmt::Display>(_: T) -> Self {
        WrongShape
    }
}

/// Serializes `value` into a tree: bytes become [`Value::Bin`] (the serializer is not human
/// readable), structs maps keyed by field name, tuples arrays, `None` nil.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value<'static>, WrongShape> {
    value.serialize(ToTree)
}

/// The serializer into a tree.
struct ToTree;

/// A map or struct being built.
struct MapBuilder {
    members: Vec<(Cow<'static, str>, Value<'static>)>,
    key: Option<Cow<'static, str>>,
    /// For a variant: its name, the map's one key.
    variant: Option<&'static str>,
}

/// An array, tuple or variant's tuple being built.
struct SeqBuilder {
    items: Vec<Value<'static>>,
    variant: Option<&'static str>,
}

/// `{variant: value}`, serde's externally tagged form.
fn tagged(variant: Option<&'static str>, value: Value<'static>) -> Value<'static> {
    match variant {
        Some(name) => Value::Map(vec![(Cow::Borrowed(name), value)]),
        None => value,
    }
}

impl Serializer for ToTree {
    type Ok = Value<'static>;
    type Error = WrongShape;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value<'static>, WrongShape> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value<'static>, WrongShape> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value<'static>, WrongShape> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value<'static>, WrongShape> {
        Ok(integer(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value<'static>, WrongShape> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value<'static>, WrongShape> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value<'static>, WrongShape> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value<'static>, WrongShape> {
        Ok(Value::UInt(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value<'static>, WrongShape> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Str(Cow::Owned(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Bin(Cow::Owned(v.to_vec())))
    }
    fn serialize_none(self) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value<'static>, WrongShape> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value<'static>, WrongShape> {
        Ok(Value::Str(Cow::Borrowed(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value<'static>, WrongShape> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value<'static>, WrongShape> {
        Ok(tagged(Some(variant), value.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, WrongShape> {
        Ok(SeqBuilder { items: Vec::with_capacity(len.unwrap_or(0)), variant: None })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, WrongShape> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder, WrongShape> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, WrongShape> {
        Ok(SeqBuilder { items: Vec::with_capacity(len), variant: Some(variant) })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, WrongShape> {
        Ok(MapBuilder { members: Vec::with_capacity(len.unwrap_or(0)), key: None, variant: None })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapBuilder, WrongShape> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapBuilder, WrongShape> {
        Ok(MapBuilder { members: Vec::with_capacity(len), key: None, variant: Some(variant) })
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl SerializeSeq for SeqBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WrongShape> {
        self.items.push(value.serialize(ToTree)?);
        Ok(())
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        Ok(tagged(self.variant, Value::Array(self.items)))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WrongShape> {
        SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WrongShape> {
        SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WrongShape> {
        SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        SerializeSeq::end(self)
    }
}

impl SerializeMap for MapBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), WrongShape> {
        // Both codecs key their maps by strings.
        let Value::Str(key) = key.serialize(ToTree)? else { return Err(WrongShape) };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), WrongShape> {
        let key = self.key.take().ok_or(WrongShape)?;
        self.members.push((key, value.serialize(ToTree)?));
        Ok(())
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        Ok(tagged(self.variant, Value::Map(self.members)))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), WrongShape> {
        self.members.push((Cow::Borrowed(key), value.serialize(ToTree)?));
        Ok(())
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        SerializeMap::end(self)
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value<'static>;
    type Error = WrongShape;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), WrongShape> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<Value<'static>, WrongShape> {
        SerializeMap::end(self)
    }
}

/// About how many bytes `value` takes written as JSON (`json`) or MessagePack: enough, for the
/// messages the client sends, that writing it does not grow the buffer.
pub fn encoded_len(value: &Value<'_>, json: bool) -> usize {
    match value {
        Value::Nil | Value::Bool(_) => 5,
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => 24,
        Value::Str(s) => s.len() + 5,
        Value::Bin(b) if json => crate::Payload::base64_len(b.len()) + 2,
        Value::Bin(b) => b.len() + 5,
        Value::Array(items) => 5 + items.iter().map(|item| 1 + encoded_len(item, json)).sum::<usize>(),
        Value::Map(members) => {
            5 + members.iter().map(|(key, value)| key.len() + 6 + encoded_len(value, json)).sum::<usize>()
        }
    }
}

/// Appends `value` as MessagePack, each number and length in its shortest form (as rmp-serde
/// writes them; floats are always 64-bit).
pub fn write_msgpack(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::UInt(n) => match *n {
            0..=0x7f => out.push(*n as u8),
            0x80..=0xff => out.extend([0xcc, *n as u8]),
            0x100..=0xffff => msgpack_head(out, 0xcd, 2, *n),
            0x1_0000..=0xffff_ffff => msgpack_head(out, 0xce, 4, *n),
            _ => msgpack_head(out, 0xcf, 8, *n),
        },
        Value::Int(n) => match *n {
            -32..=-1 => out.push(*n as u8),
            -0x80..=-33 => out.extend([0xd0, *n as u8]),
            -0x8000..=-0x81 => msgpack_head(out, 0xd1, 2, *n as u64),
            -0x8000_0000..=-0x8001 => msgpack_head(out, 0xd2, 4, *n as u64),
            _ => msgpack_head(out, 0xd3, 8, *n as u64),
        },
        Value::Float(f) => msgpack_head(out, 0xcb, 8, f.to_bits()),
        Value::Str(s) => msgpack_str(out, s),
        Value::Bin(b) => {
            msgpack_len(out, [0xc4, 0xc5, 0xc6], b.len());
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            msgpack_collection_head(out, [0x90, 0xdc, 0xdd], items.len());
            for item in items {
                write_msgpack(item, out);
            }
        }
        Value::Map(members) => {
            msgpack_map_head(out, members.len());
            for (key, value) in members {
                msgpack_str(out, key);
                write_msgpack(value, out);
            }
        }
    }
}

/// A string.
pub(crate) fn msgpack_str(out: &mut Vec<u8>, s: &str) {
    match s.len() {
        n @ 0..=31 => out.push(0xa0 | n as u8),
        n => msgpack_len(out, [0xd9, 0xda, 0xdb], n),
    }
    out.extend_from_slice(s.as_bytes());
}

/// A map's header, for `n` members.
pub(crate) fn msgpack_map_head(out: &mut Vec<u8>, n: usize) {
    msgpack_collection_head(out, [0x80, 0xde, 0xdf], n);
}

/// An array's or a map's header: its fix form up to 15 entries, then 16- and 32-bit counts.
fn msgpack_collection_head(out: &mut Vec<u8>, markers: [u8; 3], n: usize) {
    match n {
        0..=15 => out.push(markers[0] | n as u8),
        16..=0xffff => msgpack_head(out, markers[1], 2, n as u64),
        _ => msgpack_head(out, markers[2], 4, n as u64),
    }
}

/// `marker`, then the low `width` bytes of `n`, big-endian.
fn msgpack_head(out: &mut Vec<u8>, marker: u8, width: usize, n: u64) {
    out.push(marker);
    out.extend_from_slice(&n.to_be_bytes()[8 - width..]);
}

/// A length with 8-, 16- and 32-bit markers (lengths past 4 GiB are not ours to send).
fn msgpack_len(out: &mut Vec<u8>, markers: [u8; 3], n: usize) {
    match n {
        0..=0xff => out.extend([markers[0], n as u8]),
        0x100..=0xffff => msgpack_head(out, markers[1], 2, n as u64),
        _ => msgpack_head(out, markers[2], 4, n as u64),
    }
}

/// Appends `value` as JSON, as serde_json writes it (compact; bytes as base64 strings).
pub fn write_json(value: &Value<'_>, out: &mut String) {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::UInt(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // serde_json's shortest form (and `null` for what JSON cannot hold).
        Value::Float(f) => out.push_str(&serde_json::to_string(f).unwrap_or_else(|_| "null".to_owned())),
        Value::Str(s) => write_json_string(s, out),
        Value::Bin(b) => {
            out.push('"');
            base64_simd::STANDARD.encode_append(b, out);
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Map(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(key, out);
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string, escaped as serde_json escapes: `\"`, `\\`, the short forms of control characters,
/// `\u00XX` for the rest of them.
pub(crate) fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut rest = s;
    loop {
        let plain = plain_prefix(rest.as_bytes());
        out.push_str(&rest[..plain]);
        let Some(&b) = rest.as_bytes().get(plain) else { break };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        rest = &rest[plain + 1..];
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{AcceptResult, HelloResult};
    use crate::{Address, Payload};

    fn json(text: &str) -> Option<Value<'_>> {
        parse_json(text)
    }

    fn some<T>(value: Option<T>) -> T {
        value.unwrap_or_else(|| panic!("no value"))
    }

    fn ok<T, E: fmt::Debug>(value: Result<T, E>) -> T {
        value.unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn json_values() {
        assert_eq!(json(" null "), Some(Value::Nil));
        assert_eq!(json("true"), Some(Value::Bool(true)));
        assert_eq!(json("0"), Some(Value::UInt(0)));
        assert_eq!(json("-0"), Some(Value::Float(-0.0)));
        assert_eq!(json("-12"), Some(Value::Int(-12)));
        assert_eq!(json("18446744073709551615"), Some(Value::UInt(u64::MAX)));
        assert_eq!(json("18446744073709551616"), Some(Value::Float(18446744073709551616.0)));
        assert_eq!(json("1.5e3"), Some(Value::Float(1500.0)));
        assert_eq!(json("1e400"), None, "beyond f64, as serde_json refuses it");
        assert_eq!(json("1e-400"), Some(Value::Float(0.0)));
        assert_eq!(json("0e99999999999999999999"), Some(Value::Float(0.0)));
        assert_eq!(json("1e-99999999999999999999"), Some(Value::Float(0.0)));
        assert_eq!(json("1e+99999999999999999999"), None);
        assert_eq!(
            json(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#),
            Some(Value::Str("a\"\\/\u{8}\u{c}\n\r\té😀".into()))
        );
        assert_eq!(json("[1,[]]"), Some(Value::Array(vec![Value::UInt(1), Value::Array(vec![])])));
        assert_eq!(json(r#"{"a":{}}"#), Some(Value::Map(vec![("a".into(), Value::Map(vec![]))])));
    }

    #[test]
    fn json_refusals() {
        for text in [
            "",
            " ",
            "nul",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{1:2}",
            "\"a",
            "\"\u{1}\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            "[] []",
            "truex",
        ] {
            assert_eq!(json(text), None, "{text:?}");
        }
        let deep = "[".repeat(MAX_NESTING + 1) + &"]".repeat(MAX_NESTING + 1);
        assert_eq!(json(&deep), None);
        let fits = "[".repeat(MAX_NESTING) + &"]".repeat(MAX_NESTING);
        assert!(json(&fits).is_some());
    }

    /// The numbers the daemon writes (serde_json's shortest forms) read back exactly.
    #[test]
    fn floats_read_back() {
        let mut exact =
            vec![0.05, 0.2, 0.1 + 0.2, 1.0 / 3.0, 123_456.789, 1.5e-7, 2.5e20, 1_733_363_000.123_456, 5e-324];
        exact.extend((0..2000).map(|i| f64::from(i) * 0.001));
        exact.extend((0..2000).map(|i| 1_733_363_000.0 + f64::from(i) * 0.000_123));
        for x in exact {
            let text = ok(serde_json::to_string(&x));
            let Some(Value::Float(back)) = json(&text) else { panic!("{text} is not a float") };
            // Exact whenever the digits fit 2^53, as these do; within a unit in the last place else.
            let ulp = x.abs() * f64::EPSILON;
            assert!((back - x).abs() <= ulp, "{text}: {back} is not {x}");
        }
        // The common ones are exact.
        for (text, x) in [("0.05", 0.05), ("0.2", 0.2), ("-1.25", -1.25), ("1.7e-3", 1.7e-3), ("100.5", 100.5)] {
            assert_eq!(json(text), Some(Value::Float(x)), "{text}");
        }
        // More digits than a u64 holds.
        let long = format!("0.{}", "3".repeat(40));
        assert_eq!(json(&long).map(|v| matches!(v, Value::Float(f) if (f - 1.0 / 3.0).abs() < 1e-15)), Some(true));
    }

    /// The word-at-a-time scan stops where a byte-at-a-time one does, wherever the byte is.
    #[test]
    fn plain_prefix_matches_the_plain_loop() {
        let plain = |bytes: &[u8]| bytes.iter().take_while(|&&b| b >= 0x20 && b != b'"' && b != b'\\').count();
        for special in [0x00, 0x01, 0x1f, b'"', b'\\'] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| [b'A', 0x20, 0x7f, 0xc3, 0xff, b'!', b'#', b'['][i % 8]).collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    assert_eq!(plain_prefix(&bytes), plain(&bytes), "{bytes:x?}");
                }
            }
        }
        // Every byte value, in every lane of a word.
        for b in 0..=255u8 {
            for lane in 0..8 {
                let mut bytes = [b'A'; 16];
                bytes[lane] = b;
                assert_eq!(plain_prefix(&bytes), plain(&bytes), "{b:#x} in lane {lane}");
            }
        }
    }

    #[test]
    fn long_strings_are_borrowed() {
        for len in [0, 1, 63, 64, 65, 200] {
            let text = format!("\"{}\"", "A".repeat(len));
            assert!(matches!(json(&text), Some(Value::Str(Cow::Borrowed(s))) if s.len() == len));
            let escaped = format!("\"{}\\n{}\"", "A".repeat(len), "B".repeat(len));
            assert_eq!(json(&escaped), Some(Value::Str(format!("{}\n{}", "A".repeat(len), "B".repeat(len)).into())));
        }
    }

    #[test]
    fn msgpack_values_match_rmp_serde() {
        let values = [
            Value::Nil,
            Value::Bool(false),
            Value::UInt(0),
            Value::UInt(200),
            Value::UInt(70_000),
            Value::UInt(u64::MAX),
            Value::Int(-1),
            Value::Int(-200),
            Value::Int(i64::MIN),
            Value::Float(0.5),
            "x".repeat(40).as_str().into(),
            Value::Bin(Cow::Owned(vec![7; 300])),
            Value::Array(vec![Value::UInt(1); 20]),
            Value::Map(vec![("k".into(), Value::Nil)]),
        ];
        for value in values {
            let bytes = ok(rmp_serde::to_vec(&value));
            assert_eq!(parse_msgpack(&bytes), Some(value.clone()), "{bytes:x?}");
        }
        assert_eq!(parse_msgpack(&[0xca, 0x3f, 0x00, 0x00, 0x00]), Some(Value::Float(0.5)));
        assert_eq!(parse_msgpack(&[0xd0, 0x05]), Some(Value::UInt(5)));
    }

    #[test]
    fn msgpack_refusals() {
        for bytes in [
            &[][..],
            &[0xc1],
            &[0xd4, 0, 0],
            &[0x91],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0x81, 0x01, 0x01],
            &[0xa1, 0xff],
            &[0xc0, 0xc0],
        ] {
            assert_eq!(parse_msgpack(bytes), None, "{bytes:x?}");
        }
        let mut deep = vec![0x91; MAX_NESTING + 1];
        deep.push(0xc0);
        assert_eq!(parse_msgpack(&deep), None);
        deep.drain(..1);
        assert!(parse_msgpack(&deep).is_some());
    }

    #[test]
    fn typed_values_from_either_codec() {
        let hello = HelloResult {
            protocol: "sockbridge.v1".into(),
            protocol_version: 1,
            daemon: "bridge-daemon 0.1.0".into(),
            limits: crate::Limits {
                max_message_bytes: 1 << 20,
                max_payload_bytes: 1 << 19,
                max_inflight: 256,
                max_inflight_bytes: 8 << 20,
                max_sockets: 128,
            },
            features: vec!["unix".into()],
            labs: [("echo_tcp".to_owned(), Address::from(("127.0.0.1", 7)))].into_iter().collect(),
            network: None,
        };
        let accept = AcceptResult { fd: 4, address: Address::from(("::1", 80, 0, 0)) };
        let data = Payload(b"\0\xffbytes".to_vec());

        let text = ok(serde_json::to_string(&(&hello, &accept, &data)));
        let tree = some(parse_json(&text));
        assert_eq!(deserialize(&tree, true), Ok((hello.clone(), accept.clone(), data.clone())));

        let bytes = ok(rmp_serde::to_vec_named(&(&hello, &accept, &data)));
        let tree = some(parse_msgpack(&bytes));
        assert_eq!(deserialize(&tree, false), Ok((hello, accept, data)));

        let wrong = some(parse_json(r#"{"fd":"4","address":["::1",80,0,0]}"#));
        assert_eq!(deserialize::<AcceptResult>(&wrong, true), Err(WrongShape));
    }

    /// The writers write what rmp-serde and serde_json write for the same values, at every
    /// boundary of MessagePack's forms.
    #[test]
    fn writers_match_rmp_serde_and_serde_json() {
        let mut values =
            vec![Value::Nil, Value::Bool(true), Value::Bool(false), Value::Float(0.1), Value::Float(-2.5e300)];
        for n in [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 0x1_0000_0000, u64::MAX] {
            values.push(Value::UInt(n));
        }
        for n in [-1, -32, -33, -0x80, -0x81, -0x8000, -0x8001, -0x8000_0000, -0x8000_0001, i64::MIN] {
            values.push(Value::Int(n));
        }
        for len in [0, 31, 32, 255, 256, 65_535, 65_536] {
            values.push(Value::Str(Cow::Owned("é".repeat(len / 2) + &"x".repeat(len % 2))));
        }
        let controls: String = (0u8..0x20).map(char::from).chain("\"\\/\u{7f}é😀".chars()).collect();
        values.push(Value::Str(Cow::Owned(controls)));
        for len in [0, 15, 16, 65_535, 65_536] {
            values.push(Value::Array(vec![Value::Nil; len]));
            values.push(Value::Map((0..len).map(|i| (Cow::Owned(i.to_string()), Value::UInt(i as u64))).collect()));
        }
        for value in &values {
            let mut bytes = Vec::new();
            write_msgpack(value, &mut bytes);
            assert_eq!(bytes, ok(rmp_serde::to_vec(value)), "{value:?}");
            let mut text = String::new();
            write_json(value, &mut text);
            assert_eq!(text, ok(serde_json::to_string(value)), "{value:?}");
        }
        for len in [0, 255, 256, 65_535, 65_536] {
            let data = Payload(vec![0xa5; len]);
            let tree = ok(to_value(&data));
            let mut bytes = Vec::new();
            write_msgpack(&tree, &mut bytes);
            assert_eq!(bytes, ok(rmp_serde::to_vec(&data)));
            let mut text = String::new();
            write_json(&tree, &mut text);
            assert_eq!(text, ok(serde_json::to_string(&data)));
        }
    }

    #[test]
    fn send_params_borrowed_as_serialized() {
        for (fd, flags, len) in [(3, 0, 0), (1_000_000, -1, 70_000), (i32::MAX, i32::MIN, 5)] {
            let params = crate::params::SendParams { fd, data: Payload(vec![7; len]), flags };
            assert_eq!(Ok(params.as_tree()), to_value(&params));
        }
    }

    #[test]
    fn serializes_as_it_was_read() {
        let text = r#"{"a":[1,-2,0.5,"s",null,true],"b":{}}"#;
        let tree = some(parse_json(text));
        assert_eq!(ok(serde_json::to_string(&tree)), text);
        let bytes = ok(rmp_serde::to_vec(&tree));
        assert_eq!(parse_msgpack(&bytes), Some(tree));
    }
}
