//! Units as types, so that a number cannot silently change meaning (millijoules vs joules).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul};

/// A count of multiply-accumulate operations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Macs(pub u64);

/// A count of bytes (memory traffic or bytes on a link).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Bytes {
    /// These bytes split over `n` samples so that the parts add up exactly (none for `n = 0`).
    pub fn split(self, n: usize) -> Vec<Bytes> {
        let n64 = n as u64;
        if n64 == 0 {
            return Vec::new();
        }
        let (base, rem) = (self.0 / n64, self.0 % n64);
        (0..n64).map(|k| Bytes(base + u64::from(k < rem))).collect()
    }
}

/// Energy in joules.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Joules(pub f64);

/// A duration in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

macro_rules! additive {
    ($t:ident, $inner:ty) => {
        impl Add for $t {
            type Output = $t;
            fn add(self, rhs: $t) -> $t {
                $t(self.0 + rhs.0)
            }
        }
        impl AddAssign for $t {
            fn add_assign(&mut self, rhs: $t) {
                self.0 += rhs.0;
            }
        }
        impl Sum for $t {
            fn sum<I: Iterator<Item = $t>>(iter: I) -> $t {
                iter.fold($t::default(), |a, b| a + b)
            }
        }
        impl Mul<$inner> for $t {
            type Output = $t;
            fn mul(self, rhs: $inner) -> $t {
                $t(self.0 * rhs)
            }
        }
    };
}
additive!(Macs, u64);
additive!(Bytes, u64);
additive!(Joules, f64);
additive!(Seconds, f64);

impl Joules {
    /// Energy from picojoules.
    pub fn from_picojoules(pj: f64) -> Self {
        Joules(pj * 1e-12)
    }
}

impl fmt::Display for Macs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0 as f64;
        match self.0 {
            0..1_000 => write!(f, "{}", self.0),
            1_000..1_000_000 => write!(f, "{:.2} K", v / 1e3),
            1_000_000..1_000_000_000 => write!(f, "{:.2} M", v / 1e6),
            _ => write!(f, "{:.3} G", v / 1e9),
        }
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} B", self.0)
    }
}

impl fmt::Display for Joules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.abs() >= 1.0 {
            write!(f, "{v:.3} J")
        } else if v.abs() >= 1e-3 {
            write!(f, "{:.3} mJ", v * 1e3)
        } else if v.abs() >= 1e-6 {
            write!(f, "{:.3} uJ", v * 1e6)
        } else {
            write!(f, "{:.3} nJ", v * 1e9)
        }
    }
}

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} ms", self.0 * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_picks_a_readable_scale() {
        assert_eq!(Macs(69_100_000).to_string(), "69.10 M");
        assert_eq!(Macs(12).to_string(), "12");
        assert_eq!(Joules::from_picojoules(4.6e6).to_string(), "4.600 uJ");
        assert_eq!(Joules(0.0123).to_string(), "12.300 mJ");
    }

    #[test]
    fn units_add_and_sum() {
        let total: Macs = [Macs(1), Macs(2), Macs(3)].into_iter().sum();
        assert_eq!(total, Macs(6));
        assert_eq!(Bytes(3) * 4, Bytes(12));
        assert!(((Joules(1.5) + Joules(0.5)).0 - 2.0).abs() < 1e-12);
    }
}
