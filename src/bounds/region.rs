//! Input regions: boxes, built from a threat model around a data row.

use crate::error::{Error, Result};
use crate::ops::Interval;
use crate::threat::ThreatModel;

/// A box `lo ≤ x ≤ hi` in input space.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl Region {
    /// Checks that the bounds are finite, of equal length and ordered.
    pub fn new(lo: Vec<f64>, hi: Vec<f64>) -> Result<Region> {
        if lo.len() != hi.len() {
            return Err(Error::Region {
                message: format!("{} lower bounds but {} upper bounds", lo.len(), hi.len()),
            });
        }
        for (i, (l, h)) in lo.iter().zip(&hi).enumerate() {
            if !l.is_finite() || !h.is_finite() {
                return Err(Error::Region {
                    message: format!("input {i}: bounds [{l}, {h}] are not finite"),
                });
            }
            if l > h {
                return Err(Error::Region {
                    message: format!("input {i}: lower bound {l} is above upper bound {h}"),
                });
            }
        }
        Ok(Region { lo, hi })
    }

    /// The box enclosing the threat region around `x`: mutable features move by at most
    /// `scale · budget` within their valid range (integer features to the integers inside it),
    /// members of switchable one-hot groups anywhere in [0, 1], immutable features stay fixed.
    /// Relations between features are not applied (the box contains the region).
    pub fn from_threat(threat: &ThreatModel, x: &[f32], scale: f64) -> Result<Region> {
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(Error::param("scale", scale, "must be a finite number ≥ 0"));
        }
        let (mut lo, mut hi) = (Vec::with_capacity(x.len()), Vec::with_capacity(x.len()));
        let integer = &threat.constraints.integer;
        for (f, &v) in x.iter().enumerate() {
            let v = v as f64;
            let b = threat.budgets[f] * scale;
            let (mut l, mut h) = (
                (v - b).max(threat.lower[f]).min(v),
                (v + b).min(threat.upper[f]).max(v),
            );
            // An integer feature only reaches the integers of its interval (the clean value is one).
            if integer.get(f).copied().unwrap_or(false) {
                (l, h) = (l.ceil().min(v), h.floor().max(v));
            }
            lo.push(l);
            hi.push(h);
        }
        // A switchable one-hot group: each member anywhere in [0, 1] (an enclosing box).
        for g in threat.constraints.one_hot.iter().filter(|g| g.switchable) {
            for &m in &g.members {
                lo[m] = 0.0;
                hi[m] = 1.0;
            }
        }
        Region::new(lo, hi)
    }

    pub fn interval(&self) -> Interval {
        Interval {
            lo: self.lo.clone(),
            hi: self.hi.clone(),
        }
    }

    pub fn contains(&self, x: &[f64]) -> bool {
        self.interval().contains(x)
    }

    pub fn project(&self, x: &mut [f64]) {
        for (v, (l, h)) in x.iter_mut().zip(self.lo.iter().zip(&self.hi)) {
            *v = v.clamp(*l, *h);
        }
    }
}
