//! JSON tensor data, read straight into a flat buffer.
//!
//! A v2 tensor's `data` is a flat or nested array of numbers. Going through `serde_json::Value`
//! would cost ~32 bytes per element (16x the text), and reserving room for the declared shape
//! would let a 90-byte request ask for exabytes. [`TensorData`] instead appends each number as
//! it is parsed, so memory grows only with the bytes actually sent. Nesting depth is bounded by
//! serde_json's recursion limit (128), which answers deeper input with an error.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The elements of a JSON tensor, flattened in row-major order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorData(pub Vec<f32>);

impl Serialize for TensorData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Whole numbers are written as integers (`3`, not `3.0`), which integer tensors
        // (UINT8 pixels) need and float readers take alike.
        s.collect_seq(self.0.iter().map(|&v| {
            if v.fract() == 0.0 && v.abs() < 16_777_216.0 {
                serde_json::Number::from(v as i64)
            } else {
                serde_json::Number::from_f64(f64::from(v)).unwrap_or_else(|| 0.into())
            }
        }))
    }
}

impl<'de> Deserialize<'de> for TensorData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        Flatten(&mut out).deserialize(d)?;
        Ok(TensorData(out))
    }
}

/// Appends one JSON value (a number or an array of them, nested) to the buffer.
struct Flatten<'a>(&'a mut Vec<f32>);

impl Flatten<'_> {
    fn push<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        let f = v as f32;
        if v.is_finite() && !f.is_finite() {
            return Err(E::custom(format_args!("element {v} is out of FP32 range")));
        }
        self.0.push(f);
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or an array of numbers")
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        self.push(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        self.push(v as f64)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        self.push(v as f64)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        Err(E::custom(format_args!(
            "element {v} is not a number (only FP32 tensors are read as JSON)"
        )))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        let shown: String = v.chars().take(32).collect();
        Err(E::custom(format_args!(
            "element {shown:?} is not a number (only FP32 tensors are read as JSON)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_arrays_flatten_in_row_major_order() {
        let d: TensorData = serde_json::from_str("[[1, 2.5], [-3, 4e2]]").unwrap();
        assert_eq!(d.0, vec![1.0, 2.5, -3.0, 400.0]);
        let d: TensorData = serde_json::from_str("7").unwrap();
        assert_eq!(d.0, vec![7.0]);
        assert_eq!(serde_json::to_string(&d).unwrap(), "[7]");
        let d = TensorData(vec![0.5, -2.0, 255.0]);
        assert_eq!(serde_json::to_string(&d).unwrap(), "[0.5,-2,255]");
    }

    #[test]
    fn non_numbers_and_out_of_range_values_are_errors() {
        for (text, want) in [
            (r#"[1, "a"]"#, "is not a number"),
            ("[true]", "is not a number"),
            ("[1e300]", "out of FP32 range"),
            ("[null]", "expected a number"),
            ("{}", "expected a number"),
        ] {
            let e = serde_json::from_str::<TensorData>(text).unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn absurd_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = serde_json::from_str::<TensorData>(&deep).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }
}
