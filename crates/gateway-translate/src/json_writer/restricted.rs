//! The two places a serializer takes only some values: map keys (strings, or numbers
//! and booleans quoted, as serde_json allows) and the text of a raw value.

use serde::ser::{self, Impossible, Serialize};

use super::{Error, Writer, escape_into, write_with_serde_json};

fn key_must_be_a_string() -> Error {
    Error("key must be a string".to_owned())
}

/// Writes a map key: strings as they are, numbers and booleans quoted (as serde_json
/// does); anything else is an error.
pub(super) struct MapKey<'w, 'o> {
    pub(super) w: &'w mut Writer<'o>,
}

impl MapKey<'_, '_> {
    fn quoted(self, write: impl FnOnce(&mut Writer<'_>)) -> Result<(), Error> {
        self.w.out.push(b'"');
        write(self.w);
        self.w.out.push(b'"');
        Ok(())
    }

    fn quoted_serde_json<T: Serialize>(self, v: T) -> Result<(), Error> {
        self.w.out.push(b'"');
        write_with_serde_json(self.w.out, v)?;
        self.w.out.push(b'"');
        Ok(())
    }
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        escape_into(self.w.out, v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.quoted(|w| w.out.extend_from_slice(if v { b"true" } else { b"false" }))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.quoted(|w| w.write_i64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.quoted(|w| w.write_i64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.quoted(|w| w.write_i64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.quoted(|w| w.write_i64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.quoted_serde_json(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.quoted(|w| w.write_u64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.quoted(|w| w.write_u64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.quoted(|w| w.write_u64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.quoted(|w| w.write_u64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.quoted_serde_json(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error(
                "float key must be finite (got NaN or +/-inf)".to_owned(),
            ));
        }
        self.quoted_serde_json(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        if !v.is_finite() {
            return Err(Error(
                "float key must be finite (got NaN or +/-inf)".to_owned(),
            ));
        }
        self.quoted_serde_json(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

/// Takes the text of a raw value (a `&str` field) and writes it unescaped.
pub(super) struct RawText<'w, 'o> {
    pub(super) w: &'w mut Writer<'o>,
}

fn not_raw_text() -> Error {
    Error("raw JSON must be given as text".to_owned())
}

impl ser::Serializer for RawText<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Impossible<(), Error>;
    type SerializeTuple = Impossible<(), Error>;
    type SerializeTupleStruct = Impossible<(), Error>;
    type SerializeTupleVariant = Impossible<(), Error>;
    type SerializeMap = Impossible<(), Error>;
    type SerializeStruct = Impossible<(), Error>;
    type SerializeStructVariant = Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.w.out.extend_from_slice(v.as_bytes());
        Ok(())
    }
    fn serialize_bool(self, _v: bool) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_i8(self, _v: i8) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_i16(self, _v: i16) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_i32(self, _v: i32) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_i64(self, _v: i64) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_u8(self, _v: u8) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_u16(self, _v: u16) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_u32(self, _v: u32) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_u64(self, _v: u64) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_char(self, _v: char) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(not_raw_text())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(not_raw_text())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(not_raw_text())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(not_raw_text())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(not_raw_text())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(not_raw_text())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(not_raw_text())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(not_raw_text())
    }
}
