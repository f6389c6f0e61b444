//! Linear operators: `Affine` (y = W·x + b; Gemm, MatMul, FusedGemm, FusedMatMul),
//! `Diagonal` (y = s ⊙ x + t; Add/Sub/Mul/Div by constants, BatchNormalization) and `LinearSum`
//! (y = Σ_k c_k·x_k over variable inputs; Add/Sub of two tensors).
//!
//! Float32 soundness: ONNX Runtime computes each output as a float32 dot product of n terms
//! plus a bias. Its rounding error is at most γ_{n+2}·(Σ_i |W_ji|·|x_i| + |b_j|) (Higham,
//! Accuracy and Stability of Numerical Algorithms, §3.1), for any summation order, plus an
//! absolute allowance for products that underflow into the subnormal range. Bounds are widened by
//! this error computed from the input bounds, so they contain the float32 result, not just the
//! exact one. Every factor that robcert folds into a weight (Gemm's `alpha` and `beta`,
//! BatchNormalization's folded scale and shift) carries its own rounding into the allowance.
//! A layer whose float32 intermediates may leave the float32 range reports it through
//! `may_overflow`, and the bound drivers then give up on every value that depends on it.

use super::{Backward, BoundOp, Interval, Lambda};
use crate::numerics::{F32_MIN_NORMAL, F64_BOUND_REL_MARGIN, f32_finite, f32_gamma};
use nalgebra::{DMatrix, DVector};

/// How ONNX Runtime evaluates one output of an affine layer in float32: `fan_in` products
/// accumulated in any order, scaled by `acc_scale` (Gemm's `alpha`, folded into the weights by
/// robcert), plus `extra_ops` further roundings (the bias, `beta`, the scaling itself).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DotProduct {
    pub fan_in: usize,
    pub extra_ops: usize,
    /// The factor ONNX Runtime applies to the accumulated products (1 when there is none).
    /// Products and partial sums are `1 / acc_scale` times the folded weights' products, which
    /// matters for overflow; ONNX Runtime may also apply the factor to each weight first, whose
    /// underflow is then allowed for.
    pub acc_scale: f64,
}

impl DotProduct {
    /// A plain dot product of `fan_in` terms plus `extra_ops` roundings, no scaling.
    pub fn plain(fan_in: usize, extra_ops: usize) -> DotProduct {
        DotProduct {
            fan_in,
            extra_ops,
            acc_scale: 1.0,
        }
    }

    fn gamma(&self) -> f64 {
        f32_gamma(self.fan_in + self.extra_ops) + F64_BOUND_REL_MARGIN
    }

    /// Absolute allowance for underflow: each product (and each scaled weight, when a scale
    /// factor is folded) may lose up to a subnormal's spacing; generous by using the smallest
    /// normal instead.
    fn underflow(&self, input_abs_sum: f64) -> f64 {
        let products = self.acc_scale.abs() * self.fan_in as f64 + self.extra_ops as f64;
        let scaled_weights = if self.acc_scale == 1.0 {
            0.0
        } else {
            input_abs_sum
        };
        F32_MIN_NORMAL * (products + scaled_weights)
    }
}

/// y = W·x + b with constant W (out × in) and b.
#[derive(Clone, Debug)]
pub struct Affine {
    pub weight: DMatrix<f64>,
    pub bias: DVector<f64>,
    pub f32: DotProduct,
    abs_weight: DMatrix<f64>,
    /// Largest row sum of |W| and largest |b|: a cheap bound for the overflow check.
    max_row_abs: f64,
    max_abs_bias: f64,
}

impl Affine {
    pub fn new(weight: DMatrix<f64>, bias: DVector<f64>, f32: DotProduct) -> Affine {
        assert_eq!(
            weight.nrows(),
            bias.len(),
            "affine weight and bias disagree"
        );
        let abs_weight = weight.abs();
        let max_row_abs = abs_weight.row_iter().map(|r| r.sum()).fold(0.0, f64::max);
        Affine {
            max_abs_bias: bias.amax(),
            abs_weight,
            max_row_abs,
            weight,
            bias,
            f32,
        }
    }

    /// Upper bound on |float32 result − exact result| per output, given input bounds,
    /// plus the float64 allowance for robcert's own evaluation; and the mass Σ|W||x| + |b|.
    fn rounding_error(&self, input: &Interval) -> (DVector<f64>, DVector<f64>) {
        let magnitude = input.magnitude();
        let abs_sum: f64 = magnitude.iter().sum();
        let mag = DVector::from_vec(magnitude);
        let mass = &self.abs_weight * mag + self.bias.abs();
        let gamma = self.f32.gamma();
        let floor = self.f32.underflow(abs_sum);
        let err = mass.map(|m| gamma * m + floor);
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

    fn may_overflow(&self, inputs: &[&Interval]) -> bool {
        let magnitude = inputs[0].magnitude();
        let m = magnitude.iter().copied().fold(0.0, f64::max);
        let sum: f64 = magnitude.iter().sum();
        let products = self.max_row_abs * m;
        // Partial sums of the unscaled products, and the scaled result with its bias.
        let peak = (products / self.f32.acc_scale.abs().min(1.0)).max(products + self.max_abs_bias);
        !f32_finite(peak * (1.0 + self.f32.gamma()) + self.f32.underflow(sum))
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
        // relative allowance inside the error term (its mass dominates |center| + radius).
        // One product for both: |W|·rad + γ·(|W|·mag + |b|) = |W|·(rad + γ·mag) + γ·|b|.
        let gamma = self.f32.gamma();
        let magnitude = input.magnitude();
        let floor = self.f32.underflow(magnitude.iter().sum());
        let mag = DVector::from_vec(magnitude);
        let radius =
            (&self.abs_weight * (rad + mag * gamma) + self.bias.abs() * gamma).add_scalar(floor);
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
        let rows = lambda.nrows();
        let mut bias = DVector::zeros(rows);
        let mut bias_abs = DVector::zeros(rows);
        let mut live = Vec::with_capacity(lambda.ncols());
        // Column j of Λ (contiguous: nalgebra is column-major) pairs with output element j.
        // bias_abs also carries |Λ|·(|W|·|x| + |b|): the scale of float64 rounding in Λ·W and
        // Λ·b, which cancellation in Λ·W could otherwise hide from the final allowance.
        let (bias_s, bias_abs_s) = (bias.as_mut_slice(), bias_abs.as_mut_slice());
        for (j, col) in lambda.as_slice().chunks_exact(rows.max(1)).enumerate() {
            let (b, e, m) = (self.bias[j], err[j], mass[j] + err[j]);
            let mut any = false;
            for ((v, bi), ba) in col.iter().zip(bias_s.iter_mut()).zip(bias_abs_s.iter_mut()) {
                let a = v.abs();
                *bi += v * b - a * e;
                *ba += a * m;
                any |= *v != 0.0;
            }
            if any {
                live.push(j);
            }
        }
        // Columns of Λ that are all zero (e.g. behind inactive ReLUs) are skipped in Λ·W.
        let product = if live.len() == lambda.ncols() {
            lambda * &self.weight
        } else {
            lambda.select_columns(&live) * self.weight.select_rows(&live)
        };
        Backward {
            inputs: vec![product],
            bias,
            bias_abs,
        }
    }

    fn relaxed_forward(
        &self,
        h: &[&[f64]],
        lambda_out: &[f64],
        inputs: &[&Interval],
        _s: Option<&[f64]>,
    ) -> Vec<f64> {
        let (err, _) = self.rounding_error(inputs[0]);
        let y = &self.weight * DVector::from_column_slice(h[0]) + &self.bias;
        y.iter()
            .zip(err.iter())
            .zip(lambda_out)
            .map(|((v, e), l)| v - l.signum() * e)
            .collect()
    }

    fn backward_identity(&self, inputs: &[&Interval], selected: &[usize]) -> Option<Backward> {
        let (err, mass) = self.rounding_error(inputs[0]);
        let (s, m) = (selected.len(), self.weight.ncols());
        let mut w = DMatrix::zeros(2 * s, m);
        let mut bias = DVector::zeros(2 * s);
        let mut bias_abs = DVector::zeros(2 * s);
        for (r, &j) in selected.iter().enumerate() {
            for c in 0..m {
                let v = self.weight[(j, c)];
                w[(r, c)] = v;
                w[(s + r, c)] = -v;
            }
            bias[r] = self.bias[j] - err[j];
            bias[s + r] = -self.bias[j] - err[j];
            bias_abs[r] = mass[j] + err[j];
            bias_abs[s + r] = mass[j] + err[j];
        }
        Some(Backward {
            inputs: vec![w],
            bias,
            bias_abs,
        })
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

    fn may_overflow(&self, inputs: &[&Interval]) -> bool {
        let gamma = f32_gamma(self.coefficients.len() + 1) + F64_BOUND_REL_MARGIN;
        (0..self.size).any(|j| {
            let mass: f64 = inputs
                .iter()
                .zip(&self.coefficients)
                .map(|(b, c)| c.abs() * b.lo[j].abs().max(b.hi[j].abs()))
                .sum();
            !f32_finite(mass * (1.0 + gamma) + F32_MIN_NORMAL)
        })
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

    fn relaxed_forward(
        &self,
        h: &[&[f64]],
        lambda_out: &[f64],
        inputs: &[&Interval],
        _s: Option<&[f64]>,
    ) -> Vec<f64> {
        let err = self.rounding_error(inputs);
        (0..self.size)
            .map(|j| {
                h.iter()
                    .zip(&self.coefficients)
                    .map(|(x, c)| c * x[j])
                    .sum::<f64>()
                    - lambda_out[j].signum() * err[j]
            })
            .collect()
    }

    fn vjp(&self, _inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>> {
        self.coefficients
            .iter()
            .map(|&c| grad_out.iter().map(|g| c * g).collect())
            .collect()
    }
}

/// y = s ⊙ x + t element-wise (Add/Sub/Mul/Div by constants, BatchNormalization): a diagonal
/// affine map, kept separate so it costs O(n) and maps boxes to boxes exactly.
#[derive(Clone, Debug)]
pub struct Diagonal {
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
    /// Float32 operations per element in ONNX Runtime (1 for a shift or scale, 2 for batch norm's
    /// multiply-add).
    pub f32_ops: usize,
    /// For a scale and shift that ONNX Runtime computes itself at run time (BatchNormalization
    /// folds `scale / sqrt(var + ε)` and `B − mean · scale'` in float32): per element, bounds
    /// on |float32 scale − exact scale| and |float32 shift − exact shift|.
    pub slack: Option<DiagonalSlack>,
}

/// Per-element uncertainty of a diagonal map's scale and shift as ONNX Runtime computes them.
#[derive(Clone, Debug, PartialEq)]
pub struct DiagonalSlack {
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
}

impl Diagonal {
    /// A map with exactly known scale and shift (robcert's constants are ONNX Runtime's).
    pub fn exact(scale: Vec<f64>, shift: Vec<f64>, f32_ops: usize) -> Diagonal {
        Diagonal {
            scale,
            shift,
            f32_ops,
            slack: None,
        }
    }

    fn rounding_error(&self, j: usize, magnitude: f64) -> f64 {
        let gamma = f32_gamma(self.f32_ops) + F64_BOUND_REL_MARGIN;
        let slack = self
            .slack
            .as_ref()
            .map_or(0.0, |s| s.scale[j] * magnitude + s.shift[j]);
        gamma * (self.scale[j].abs() * magnitude + self.shift[j].abs())
            + slack
            + self.f32_ops as f64 * F32_MIN_NORMAL
    }
}

impl BoundOp for Diagonal {
    fn kind(&self) -> &'static str {
        "diagonal"
    }

    fn is_linear(&self) -> bool {
        true
    }

    fn is_diagonal(&self) -> bool {
        true
    }

    fn may_overflow(&self, inputs: &[&Interval]) -> bool {
        let b = inputs[0];
        (0..self.scale.len()).any(|j| {
            let m = b.lo[j].abs().max(b.hi[j].abs());
            let peak = self.scale[j].abs() * m + self.shift[j].abs();
            !f32_finite(peak + self.rounding_error(j, m))
        })
    }

    fn output_size(&self) -> usize {
        self.scale.len()
    }

    fn eval(&self, inputs: &[&[f64]]) -> Vec<f64> {
        inputs[0]
            .iter()
            .zip(self.scale.iter().zip(&self.shift))
            .map(|(x, (s, t))| s * x + t)
            .collect()
    }

    fn interval(&self, inputs: &[&Interval]) -> Interval {
        let b = inputs[0];
        let n = self.scale.len();
        let (mut lo, mut hi) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for j in 0..n {
            let (s, t) = (self.scale[j], self.shift[j]);
            let (a, z) = if s >= 0.0 {
                (s * b.lo[j], s * b.hi[j])
            } else {
                (s * b.hi[j], s * b.lo[j])
            };
            let err = self.rounding_error(j, b.lo[j].abs().max(b.hi[j].abs()));
            lo.push(a + t - err);
            hi.push(z + t + err);
        }
        Interval { lo, hi }
    }

    fn backward_lower(
        &self,
        lambda: &Lambda,
        inputs: &[&Interval],
        _slopes: Option<&[f64]>,
    ) -> Backward {
        let b = inputs[0];
        let rows = lambda.nrows();
        let mut out = lambda.clone();
        let mut bias = DVector::zeros(rows);
        let mut bias_abs = DVector::zeros(rows);
        let (bias_s, bias_abs_s) = (bias.as_mut_slice(), bias_abs.as_mut_slice());
        for (j, col) in out.as_mut_slice().chunks_exact_mut(rows.max(1)).enumerate() {
            let m = b.lo[j].abs().max(b.hi[j].abs());
            let err = self.rounding_error(j, m);
            let mass = self.scale[j].abs() * m + self.shift[j].abs() + err;
            let (scale, shift) = (self.scale[j], self.shift[j]);
            for ((v, bi), ba) in col
                .iter_mut()
                .zip(bias_s.iter_mut())
                .zip(bias_abs_s.iter_mut())
            {
                let a = v.abs();
                *bi += *v * shift - a * err;
                *ba += a * mass;
                *v *= scale;
            }
        }
        Backward {
            inputs: vec![out],
            bias,
            bias_abs,
        }
    }

    fn relaxed_forward(
        &self,
        h: &[&[f64]],
        lambda_out: &[f64],
        inputs: &[&Interval],
        _s: Option<&[f64]>,
    ) -> Vec<f64> {
        let b = inputs[0];
        (0..self.scale.len())
            .map(|j| {
                let err = self.rounding_error(j, b.lo[j].abs().max(b.hi[j].abs()));
                self.scale[j] * h[0][j] + self.shift[j] - lambda_out[j].signum() * err
            })
            .collect()
    }

    fn vjp(&self, _inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>> {
        vec![
            grad_out
                .iter()
                .zip(&self.scale)
                .map(|(g, s)| g * s)
                .collect(),
        ]
    }
}
