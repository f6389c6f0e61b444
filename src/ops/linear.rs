//! Linear operators: `Affine` (y = W·x + b; Gemm, MatMul, Add/Sub/Mul/Div by constants,
//! BatchNormalization) and `LinearSum` (y = Σ_k c_k·x_k over variable inputs; Add/Sub of two
//! tensors).
//!
//! Float32 soundness: ONNX Runtime computes each output as a float32 dot product of n terms
//! plus a bias. Its error is at most γ_{n+2}·(Σ_i |W_ji|·|x_i| + |b_j|) (Higham, Accuracy and
//! Stability of Numerical Algorithms, §3.1), for any summation order. Bounds are widened by this
//! error computed from the input bounds, so they contain the float32 result, not just the exact one.

use super::{Backward, BoundOp, Interval, Lambda};
use crate::numerics::{F32_MIN_NORMAL, F64_BOUND_REL_MARGIN, f32_gamma};
use nalgebra::{DMatrix, DVector};

/// y = W·x + b with constant W (out × in) and b.
#[derive(Clone, Debug)]
pub struct Affine {
    pub weight: DMatrix<f64>,
    pub bias: DVector<f64>,
    /// Float32 operations per output in ONNX Runtime's computation (fan-in plus bias etc.).
    pub f32_ops: usize,
    abs_weight: DMatrix<f64>,
}

impl Affine {
    /// `f32_ops`: the length of the float32 dot product ONNX Runtime evaluates per output
    /// (fan-in + 2 for Gemm with bias; 1 for an element-wise scale or shift).
    pub fn new(weight: DMatrix<f64>, bias: DVector<f64>, f32_ops: usize) -> Affine {
        assert_eq!(
            weight.nrows(),
            bias.len(),
            "affine weight and bias disagree"
        );
        Affine {
            abs_weight: weight.abs(),
            weight,
            bias,
            f32_ops,
        }
    }

    /// Upper bound on |float32 result − exact result| per output, given input bounds,
    /// plus the float64 allowance for robcert's own evaluation.
    fn rounding_error(&self, input: &Interval) -> (DVector<f64>, DVector<f64>) {
        let mag = DVector::from_vec(input.magnitude());
        let mass = &self.abs_weight * mag + self.bias.abs();
        let gamma = f32_gamma(self.f32_ops) + F64_BOUND_REL_MARGIN;
        let err = mass.map(|m| gamma * m + self.f32_ops as f64 * F32_MIN_NORMAL);
        (err, mass)
    }
}

impl BoundOp for Affine {
    fn kind(&self) -> &'static str {
        "affine"
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn output_size(&self) -> usize {
        self.weight.nrows()
    }

    fn eval(&self, inputs: &[&[f64]]) -> Vec<f64> {
        let x = DVector::from_column_slice(inputs[0]);
        (&self.weight * x + &self.bias).as_slice().to_vec()
    }

    fn interval(&self, inputs: &[&Interval]) -> Interval {
        let input = inputs[0];
        let mid = DVector::from_iterator(
            input.len(),
            input.lo.iter().zip(&input.hi).map(|(l, h)| 0.5 * (l + h)),
        );
        let rad = DVector::from_iterator(
            input.len(),
            input.lo.iter().zip(&input.hi).map(|(l, h)| 0.5 * (h - l)),
        );
        let center = &self.weight * mid + &self.bias;
        // The midpoint form is exact in real arithmetic; its float64 rounding is covered by the
        // relative allowance inside rounding_error (its mass dominates |center| + radius).
        let radius = &self.abs_weight * rad + self.rounding_error(input).0;
        Interval {
            lo: center
                .iter()
                .zip(radius.iter())
                .map(|(c, r)| c - r)
                .collect(),
            hi: center
                .iter()
                .zip(radius.iter())
                .map(|(c, r)| c + r)
                .collect(),
        }
    }

    fn backward_lower(
        &self,
        lambda: &Lambda,
        inputs: &[&Interval],
        _slopes: Option<&[f64]>,
    ) -> Backward {
        let (err, mass) = self.rounding_error(inputs[0]);
        let abs_lambda = lambda.abs();
        let err_term = &abs_lambda * &err;
        // bias_abs also carries |Λ|·(|W|·|x| + |b|): the scale of float64 rounding in Λ·W and Λ·b,
        // which cancellation in Λ·W could otherwise hide from the final allowance.
        Backward {
            inputs: vec![lambda * &self.weight],
            bias: lambda * &self.bias - &err_term,
            bias_abs: &abs_lambda * mass + err_term,
        }
    }

    fn vjp(&self, _inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>> {
        let g = DVector::from_column_slice(grad_out);
        vec![(self.weight.transpose() * g).as_slice().to_vec()]
    }
}

/// y = Σ_k c_k·x_k over variable inputs of equal size (Add, Sub of two tensors).
#[derive(Clone, Debug)]
pub struct LinearSum {
    pub coefficients: Vec<f64>,
    pub size: usize,
}

impl LinearSum {
    fn rounding_error(&self, inputs: &[&Interval]) -> Vec<f64> {
        let gamma = f32_gamma(self.coefficients.len() + 1) + F64_BOUND_REL_MARGIN;
        (0..self.size)
            .map(|j| {
                let mass: f64 = inputs
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(b, c)| c.abs() * b.lo[j].abs().max(b.hi[j].abs()))
                    .sum();
                gamma * mass + F32_MIN_NORMAL
            })
            .collect()
    }
}

impl BoundOp for LinearSum {
    fn kind(&self) -> &'static str {
        "sum"
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn output_size(&self) -> usize {
        self.size
    }

    fn eval(&self, inputs: &[&[f64]]) -> Vec<f64> {
        (0..self.size)
            .map(|j| {
                inputs
                    .iter()
                    .zip(&self.coefficients)
                    .map(|(x, c)| c * x[j])
                    .sum()
            })
            .collect()
    }

    fn interval(&self, inputs: &[&Interval]) -> Interval {
        let err = self.rounding_error(inputs);
        let mut lo = vec![0.0; self.size];
        let mut hi = vec![0.0; self.size];
        for (b, &c) in inputs.iter().zip(&self.coefficients) {
            for j in 0..self.size {
                let (a, z) = if c >= 0.0 {
                    (c * b.lo[j], c * b.hi[j])
                } else {
                    (c * b.hi[j], c * b.lo[j])
                };
                lo[j] += a;
                hi[j] += z;
            }
        }
        for j in 0..self.size {
            lo[j] -= err[j];
            hi[j] += err[j];
        }
        Interval { lo, hi }
    }

    fn backward_lower(
        &self,
        lambda: &Lambda,
        inputs: &[&Interval],
        _slopes: Option<&[f64]>,
    ) -> Backward {
        let err = DVector::from_vec(self.rounding_error(inputs));
        let err_term = lambda.abs() * err;
        Backward {
            inputs: self.coefficients.iter().map(|&c| lambda * c).collect(),
            bias: -&err_term,
            bias_abs: err_term,
        }
    }

    fn vjp(&self, _inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>> {
        self.coefficients
            .iter()
            .map(|&c| grad_out.iter().map(|g| c * g).collect())
            .collect()
    }
}
