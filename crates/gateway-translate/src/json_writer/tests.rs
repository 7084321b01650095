//! The writer against serde_json: every value must come out byte for byte the same.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::*;

fn same<T: ?Sized + Serialize>(value: &T) {
    let ours = to_vec(value, 0).expect("writes");
    let theirs = serde_json::to_vec(value).expect("serde_json writes");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn every_ascii_byte_and_some_unicode_escape_as_serde_json() {
    for b in 0u8..0x80 {
        let c = char::from(b);
        same(&c.to_string());
        same(&c);
        // At each offset of an 8-byte word, between clean bytes.
        for at in 0..17 {
            let mut s = "a".repeat(17);
            s.insert(at, c);
            same(&s);
        }
    }
    same("héllo \u{2028} wörld 日本語 \u{10FFFF}\"\\\n\t\u{7f}/");
    same("");
}

#[test]
fn json_in_json_escapes_as_serde_json_at_every_length() {
    // Runs of every length between escapes, at every distance from the text's end
    // (a short run is copied with a fixed-size load where 16 bytes follow it).
    let base = r#"{"city":"Oslo","unit":"celsius","n":[1,2],"t":"a\tb\\c","e":"é🎉"}"#;
    for at in 0..=base.len() {
        if base.is_char_boundary(at) {
            same(&base[..at]);
            same(&base[at..]);
        }
    }
    for gap in 0..40 {
        same(&format!(
            "\"{}\"\n{}\\\u{1}",
            "x".repeat(gap),
            "é".repeat(gap % 5)
        ));
    }
}

#[derive(Serialize)]
enum Kinds {
    Unit,
    Newtype(u8),
    Tuple(i32, String),
    Struct { a: Option<f64>, b: Vec<u8> },
}

#[derive(Serialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    raw: &'a RawValue,
    boxed: Box<RawValue>,
    kinds: Vec<Kinds>,
    keys: BTreeMap<i64, bool>,
    bool_keys: BTreeMap<bool, ()>,
    floats: Vec<f64>,
    ints: (i8, i16, i32, i64, u64, i128, u128),
    #[serde(with = "serde_bytes_as_seq")]
    bytes: &'a [u8],
    unit: (),
    none: Option<String>,
    value: Value,
}

mod serde_bytes_as_seq {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
}

#[test]
fn every_serde_form_writes_as_serde_json() {
    let raw = RawValue::from_string(r#"{ "b" : [1, 2.50, "x\u0041"] }"#.to_owned()).expect("raw");
    same(&Wire {
        kind: "wire",
        raw: &raw,
        boxed: RawValue::from_string("  null ".to_owned()).expect("raw"),
        kinds: vec![
            Kinds::Unit,
            Kinds::Newtype(7),
            Kinds::Tuple(-3, "t\"".into()),
            Kinds::Struct {
                a: Some(1.0),
                b: vec![1, 2],
            },
            Kinds::Struct { a: None, b: vec![] },
        ],
        keys: [(-1, true), (i64::MAX, false)].into_iter().collect(),
        bool_keys: [(true, ()), (false, ())].into_iter().collect(),
        floats: vec![
            0.0,
            -0.0,
            0.1,
            1e21,
            1e-7,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
        ],
        ints: (
            i8::MIN,
            i16::MIN,
            i32::MIN,
            i64::MIN,
            u64::MAX,
            i128::MIN,
            u128::MAX,
        ),
        bytes: b"\x00\xff",
        unit: (),
        none: None,
        value: serde_json::json!({"z": [1, -2, 3.5, {"y": null}], "a": "\u{1}"}),
    });
}

#[test]
fn keys_that_are_not_strings_fail_as_in_serde_json() {
    let map: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
    assert!(to_vec(&map, 0).is_err());
    assert!(serde_json::to_vec(&map).is_err());
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[ -~\\n\\t\"\\\\\u{0}-\u{1f}é]{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_value_writes_as_serde_json(value in json_value()) {
        same(&value);
    }

    #[test]
    fn any_string_escapes_as_serde_json(s in any::<String>()) {
        same(&s);
    }
}
