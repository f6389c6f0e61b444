//! Bound-capable operators: one trait, one file per operator family.
//!
//! Each operator knows how to evaluate itself, propagate intervals (IBP) and push a linear
//! lower bound backward (CROWN), in the shape of auto_LiRPA's operator contract. Every bound
//! contains what ONNX Runtime computes in float32, not only the exact real-valued function:
//! each operator widens its bounds by the float32 error of its own computation and by an
//! allowance for robcert's float64 rounding (constants in `numerics`).

pub mod activation;
pub mod linear;

use nalgebra::{DMatrix, DVector};

/// Element-wise lower and upper bounds of one value (flattened tensor of one row).
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    pub lo: Vec<f64>,
    pub hi: Vec<f64>,
}

impl Interval {
    pub fn point(x: &[f64]) -> Interval {
        Interval {
            lo: x.to_vec(),
            hi: x.to_vec(),
        }
    }

    /// No information: every element may be anything, including ±inf (what ONNX Runtime may
    /// compute once a float32 value overflows).
    pub fn unbounded(n: usize) -> Interval {
        Interval {
            lo: vec![f64::NEG_INFINITY; n],
            hi: vec![f64::INFINITY; n],
        }
    }

    /// Whether every bound is a finite number (no ±inf, no NaN).
    pub fn is_finite(&self) -> bool {
        self.lo.iter().chain(&self.hi).all(|v| v.is_finite())
    }

    pub fn len(&self) -> usize {
        self.lo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }

    /// Largest magnitude of each element over the interval.
    pub fn magnitude(&self) -> Vec<f64> {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(l, h)| l.abs().max(h.abs()))
            .collect()
    }

    /// Element-wise intersection with another sound interval of the same value.
    pub fn intersect(&self, other: &Interval) -> Interval {
        Interval {
            lo: self
                .lo
                .iter()
                .zip(&other.lo)
                .map(|(a, b)| a.max(*b))
                .collect(),
            hi: self
                .hi
                .iter()
                .zip(&other.hi)
                .map(|(a, b)| a.min(*b))
                .collect(),
        }
    }

    /// Whether every element of `x` lies within the bounds.
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(v, (l, h))| *l <= *v && *v <= *h)
    }
}

/// Linear coefficients Λ (one row per bounded quantity, one column per element of a value).
pub type Lambda = DMatrix<f64>;

/// The result of pushing Λ back through one operator for a lower bound:
/// `Λ·output ≥ Σ_k inputs[k]·input_k + bias` whenever every input lies in its bounds.
/// `bias_abs` sums the magnitudes of the terms in `bias` (for the float64 rounding allowance).
#[derive(Clone, Debug)]
pub struct Backward {
    pub inputs: Vec<Lambda>,
    pub bias: DVector<f64>,
    pub bias_abs: DVector<f64>,
}

/// Free lower-relaxation slopes of an operator (alpha-CROWN's variables): current values and
/// the admissible range of each.
#[derive(Clone, Debug, PartialEq)]
pub struct Slopes {
    pub values: Vec<f64>,
    pub ranges: Vec<(f64, f64)>,
}

/// An operator the bound engine can reason about.
pub trait BoundOp: Send + Sync + std::fmt::Debug {
    /// Short name used in messages (`affine`, `relu`, ...).
    fn kind(&self) -> &'static str;
    /// Number of elements of the output.
    fn output_size(&self) -> usize;
    /// Exact evaluation in float64.
    fn eval(&self, inputs: &[&[f64]]) -> Vec<f64>;
    /// Interval bounds of the output (IBP), containing ONNX Runtime's float32 result.
    fn interval(&self, inputs: &[&Interval]) -> Interval;
    /// Backward linear lower bound (CROWN). `slopes` optionally fixes the lower-relaxation slope
    /// of each output element (alpha-CROWN); operators without free slopes ignore it.
    fn backward_lower(
        &self,
        lambda: &Lambda,
        inputs: &[&Interval],
        slopes: Option<&[f64]>,
    ) -> Backward;
    /// Backward step for the specification `[e_j; −e_j]` over the `selected` output elements
    /// (rows: every selected element's lower bound, then every selected element's negated upper
    /// bound), when the operator can produce it without the generic matrix product.
    fn backward_identity(&self, _inputs: &[&Interval], _selected: &[usize]) -> Option<Backward> {
        None
    }
    /// The relaxed forward map used for alpha-CROWN gradients: the value each output element
    /// takes under the linear pieces that the backward pass chose for the specification row
    /// whose coefficient on this output is `lambda_out` (lower piece where ≥ 0, upper where < 0).
    /// Linear operators return their exact map (less the rounding term on the chosen side).
    fn relaxed_forward(
        &self,
        h_inputs: &[&[f64]],
        lambda_out: &[f64],
        inputs: &[&Interval],
        slopes: Option<&[f64]>,
    ) -> Vec<f64>;
    /// Vector–Jacobian product: the gradient of `grad_out · output` with respect to each input.
    fn vjp(&self, inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>>;
    /// Whether ONNX Runtime's float32 evaluation of this operator may overflow (to ±inf, and then
    /// NaN) somewhere for inputs within `inputs`: any intermediate magnitude (partial sums,
    /// products, scaled accumulators) that can reach the float32 range. The bound drivers then
    /// treat this value and everything after it as unbounded; `interval` and `backward_lower`
    /// are only called when this returns `false`. Activations never overflow.
    fn may_overflow(&self, _inputs: &[&Interval]) -> bool {
        false
    }
    /// Whether the operator is linear (its bounds need no relaxation).
    fn is_linear(&self) -> bool {
        false
    }
    /// Whether the operator is a diagonal affine map (boxes map to boxes exactly under IBP).
    fn is_diagonal(&self) -> bool {
        false
    }
    /// Whether the relaxation of element `j` depends on its input bounds `[l, u]` beyond their
    /// magnitude (a stable ReLU's is exact whatever the bounds, so CROWN need not refine them).
    fn relaxation_depends_on_bounds(&self, _l: f64, _u: f64) -> bool {
        true
    }
    /// Whether `backward_lower` reads `slopes` (alpha-CROWN optimises those).
    fn has_free_slopes(&self) -> bool {
        false
    }
    /// Default slopes (CROWN's choice) for the given input bounds, if the op has free slopes,
    /// with the interval of admissible values per element.
    fn default_slopes(&self, _input: &Interval) -> Option<Slopes> {
        None
    }
}
