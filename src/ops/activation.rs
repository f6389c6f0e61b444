//! Element-wise activations: Relu, LeakyRelu, Sigmoid, Tanh. Each only supplies its function,
//! derivative and linear relaxation on an interval; the shared `Activation` operator does the
//! interval propagation and the sign-split backward algebra (auto_LiRPA's design).

use super::{Backward, BoundOp, Interval, Lambda, Slopes};
use crate::numerics::{
    F32_MIN_NORMAL, F32_TRANSCENDENTAL_ABS_ERROR, F32_UNIT_ROUNDOFF, F64_BOUND_REL_MARGIN,
};
use nalgebra::DVector;

/// A line `slope·x + intercept`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

impl Line {
    pub fn at(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }
}

/// Which element-wise function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActivationKind {
    Relu,
    LeakyRelu { alpha: f64 },
    Sigmoid,
    Tanh,
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl ActivationKind {
    pub fn apply(&self, x: f64) -> f64 {
        match *self {
            ActivationKind::Relu => x.max(0.0),
            ActivationKind::LeakyRelu { alpha } => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            ActivationKind::Sigmoid => sigmoid(x),
            ActivationKind::Tanh => x.tanh(),
        }
    }

    pub fn derivative(&self, x: f64) -> f64 {
        match *self {
            ActivationKind::Relu => f64::from(u8::from(x > 0.0)),
            ActivationKind::LeakyRelu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha
                }
            }
            ActivationKind::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
            ActivationKind::Tanh => 1.0 - x.tanh().powi(2),
        }
    }

    /// Bound on |float32 kernel − exact function| at input magnitude `m`.
    fn f32_error(&self, m: f64) -> f64 {
        match *self {
            ActivationKind::Relu => 0.0,
            ActivationKind::LeakyRelu { alpha } => 2.0 * F32_UNIT_ROUNDOFF * alpha.abs() * m,
            ActivationKind::Sigmoid | ActivationKind::Tanh => F32_TRANSCENDENTAL_ABS_ERROR,
        }
    }

    /// Whether the lower line's slope is free (piecewise-linear units on a straddling interval).
    fn free_slope_range(&self, l: f64, u: f64) -> Option<(f64, f64)> {
        match *self {
            ActivationKind::Relu if l < 0.0 && u > 0.0 => Some((0.0, 1.0)),
            ActivationKind::LeakyRelu { alpha } if l < 0.0 && u > 0.0 => {
                Some((alpha.min(1.0), alpha.max(1.0)))
            }
            _ => None,
        }
    }

    /// Points where `f(x) − k·x` may attain its extrema on [l, u] for S-shaped f: the ends and
    /// the points where f'(x) = k (symmetric about 0 for sigmoid and tanh).
    fn extremal_points(&self, k: f64, l: f64, u: f64) -> Vec<f64> {
        let mut pts = vec![l, u];
        let x = match *self {
            ActivationKind::Sigmoid if k > 0.0 && k < 0.25 => {
                let s = 0.5 * (1.0 + (1.0 - 4.0 * k).sqrt());
                Some((s / (1.0 - s)).ln())
            }
            ActivationKind::Tanh if k > 0.0 && k < 1.0 => Some((1.0 - k).sqrt().atanh()),
            _ => None,
        };
        if let Some(x) = x.filter(|x| x.is_finite()) {
            for c in [x, -x] {
                if c > l && c < u {
                    pts.push(c);
                }
            }
        }
        pts
    }

    /// Lower and upper lines valid on [l, u] for the exact function. `lower_slope` overrides the
    /// lower slope of piecewise-linear units on a straddling interval (alpha-CROWN).
    pub fn relax(&self, l: f64, u: f64, lower_slope: Option<f64>) -> (Line, Line) {
        let identity = Line {
            slope: 1.0,
            intercept: 0.0,
        };
        match *self {
            ActivationKind::Relu | ActivationKind::LeakyRelu { .. } => {
                let neg = match *self {
                    ActivationKind::LeakyRelu { alpha } => alpha,
                    _ => 0.0,
                };
                let negative_line = Line {
                    slope: neg,
                    intercept: 0.0,
                };
                if l >= 0.0 {
                    return (identity, identity);
                }
                if u <= 0.0 {
                    return (negative_line, negative_line);
                }
                // Chord from (l, neg·l) to (u, u) above; a line through the origin below.
                let slope = (u - neg * l) / (u - l);
                let upper = Line {
                    slope,
                    intercept: u - slope * u,
                };
                let default = if u >= -l { 1.0 } else { neg };
                let (a, b) = self.free_slope_range(l, u).unwrap_or((neg, 1.0));
                let lower = Line {
                    slope: lower_slope.unwrap_or(default).clamp(a, b),
                    intercept: 0.0,
                };
                (lower, upper)
            }
            ActivationKind::Sigmoid | ActivationKind::Tanh => {
                if u - l < 1e-12 {
                    let k = self.derivative(0.5 * (l + u));
                    return self.band(k, k, l, u);
                }
                let chord = (self.apply(u) - self.apply(l)) / (u - l);
                let mid = self.derivative(0.5 * (l + u));
                if u <= 0.0 {
                    self.band(mid, chord, l, u) // convex: tangent below, chord above
                } else if l >= 0.0 {
                    self.band(chord, mid, l, u) // concave: chord below, tangent above
                } else {
                    self.band(chord, chord, l, u)
                }
            }
        }
    }

    /// The tightest lower line of slope `kl` and upper line of slope `ku` on [l, u].
    fn band(&self, kl: f64, ku: f64, l: f64, u: f64) -> (Line, Line) {
        let lo = self
            .extremal_points(kl, l, u)
            .into_iter()
            .map(|x| self.apply(x) - kl * x)
            .fold(f64::INFINITY, f64::min);
        let hi = self
            .extremal_points(ku, l, u)
            .into_iter()
            .map(|x| self.apply(x) - ku * x)
            .fold(f64::NEG_INFINITY, f64::max);
        (
            Line {
                slope: kl,
                intercept: lo,
            },
            Line {
                slope: ku,
                intercept: hi,
            },
        )
    }

    /// `relax` widened so the lines also hold for ONNX Runtime's float32 kernel and survive
    /// robcert's float64 rounding of the line coefficients.
    pub fn sound_relax(&self, l: f64, u: f64, lower_slope: Option<f64>) -> (Line, Line) {
        let (mut lower, mut upper) = self.relax(l, u, lower_slope);
        let m = l.abs().max(u.abs());
        let widen = |line: &Line| {
            let scale = line.intercept.abs() + line.slope.abs() * m + m;
            // The absolute floor keeps the allowance far above float64's subnormal range (a
            // subnormal allowance would be absorbed by rounding, and slows arithmetic ~100×).
            self.f32_error(m) + F64_BOUND_REL_MARGIN * scale + F32_MIN_NORMAL
        };
        lower.intercept -= widen(&lower);
        upper.intercept += widen(&upper);
        (lower, upper)
    }
}

/// An element-wise activation over a value of `size` elements.
#[derive(Clone, Debug)]
pub struct Activation {
    pub kind: ActivationKind,
    pub size: usize,
}

impl BoundOp for Activation {
    fn kind(&self) -> &'static str {
        match self.kind {
            ActivationKind::Relu => "relu",
            ActivationKind::LeakyRelu { .. } => "leaky_relu",
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
        }
    }

    fn output_size(&self) -> usize {
        self.size
    }

    fn eval(&self, inputs: &[&[f64]]) -> Vec<f64> {
        inputs[0].iter().map(|&x| self.kind.apply(x)).collect()
    }

    fn interval(&self, inputs: &[&Interval]) -> Interval {
        // All four functions are non-decreasing: bound by the ends, widened for float32.
        let b = inputs[0];
        let widen = |x: f64, y: f64| {
            self.kind.f32_error(x.abs()) + F64_BOUND_REL_MARGIN * y.abs() + F32_MIN_NORMAL
        };
        Interval {
            lo: b
                .lo
                .iter()
                .map(|&l| {
                    let y = self.kind.apply(l);
                    y - widen(l, y)
                })
                .collect(),
            hi: b
                .hi
                .iter()
                .map(|&h| {
                    let y = self.kind.apply(h);
                    y + widen(h, y)
                })
                .collect(),
        }
    }

    fn backward_lower(
        &self,
        lambda: &Lambda,
        inputs: &[&Interval],
        slopes: Option<&[f64]>,
    ) -> Backward {
        let b = inputs[0];
        let rows = lambda.nrows();
        let mut out = lambda.clone();
        let mut bias = DVector::zeros(rows);
        let mut bias_abs = DVector::zeros(rows);
        let (bias_s, bias_abs_s) = (bias.as_mut_slice(), bias_abs.as_mut_slice());
        for (j, col) in out.as_mut_slice().chunks_exact_mut(rows.max(1)).enumerate() {
            let (lower, upper) = self
                .kind
                .sound_relax(b.lo[j], b.hi[j], slopes.map(|s| s[j]));
            let m = b.lo[j].abs().max(b.hi[j].abs());
            for ((v, bi), ba) in col
                .iter_mut()
                .zip(bias_s.iter_mut())
                .zip(bias_abs_s.iter_mut())
            {
                let line = if *v >= 0.0 { lower } else { upper };
                let t = *v * line.intercept;
                *bi += t;
                *v *= line.slope;
                *ba += t.abs() + v.abs() * m;
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
        slopes: Option<&[f64]>,
    ) -> Vec<f64> {
        let b = inputs[0];
        (0..self.size)
            .map(|j| {
                let (lower, upper) = self
                    .kind
                    .sound_relax(b.lo[j], b.hi[j], slopes.map(|s| s[j]));
                let line = if lambda_out[j] >= 0.0 { lower } else { upper };
                line.at(h[0][j])
            })
            .collect()
    }

    fn vjp(&self, inputs: &[&[f64]], grad_out: &[f64]) -> Vec<Vec<f64>> {
        vec![
            inputs[0]
                .iter()
                .zip(grad_out)
                .map(|(&x, g)| g * self.kind.derivative(x))
                .collect(),
        ]
    }

    fn relaxation_depends_on_bounds(&self, l: f64, u: f64) -> bool {
        match self.kind {
            ActivationKind::Relu | ActivationKind::LeakyRelu { .. } => l < 0.0 && u > 0.0,
            ActivationKind::Sigmoid | ActivationKind::Tanh => true,
        }
    }

    fn has_free_slopes(&self) -> bool {
        matches!(
            self.kind,
            ActivationKind::Relu | ActivationKind::LeakyRelu { .. }
        )
    }

    fn default_slopes(&self, input: &Interval) -> Option<Slopes> {
        if !self.has_free_slopes() {
            return None;
        }
        let mut slopes = Vec::with_capacity(self.size);
        let mut ranges = Vec::with_capacity(self.size);
        for j in 0..self.size {
            let (l, u) = (input.lo[j], input.hi[j]);
            let (lower, _) = self.kind.relax(l, u, None);
            slopes.push(lower.slope);
            ranges.push(
                self.kind
                    .free_slope_range(l, u)
                    .unwrap_or((lower.slope, lower.slope)),
            );
        }
        Some(Slopes {
            values: slopes,
            ranges,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every relaxation holds on a fine grid of its interval, for many intervals.
    #[test]
    fn relaxation_lines_enclose_the_function_on_the_interval() {
        let kinds = [
            ActivationKind::Relu,
            ActivationKind::LeakyRelu { alpha: 0.1 },
            ActivationKind::Sigmoid,
            ActivationKind::Tanh,
        ];
        let ends = [-8.0, -3.0, -1.0, -0.3, -1e-3, 0.0, 1e-3, 0.2, 1.0, 2.5, 9.0];
        for kind in kinds {
            for &l in &ends {
                for &u in &ends {
                    if u < l {
                        continue;
                    }
                    for slope in [None, Some(0.0), Some(0.5), Some(1.0)] {
                        let (lo, hi) = kind.sound_relax(l, u, slope);
                        for i in 0..=400 {
                            let x = l + (u - l) * i as f64 / 400.0;
                            let y = kind.apply(x);
                            assert!(
                                lo.at(x) <= y && y <= hi.at(x),
                                "{kind:?} on [{l}, {u}] at {x}: {} ≤ {y} ≤ {}",
                                lo.at(x),
                                hi.at(x)
                            );
                        }
                    }
                }
            }
        }
    }
}
