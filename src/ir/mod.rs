//! robcert's network IR: a topologically ordered list of bound-capable operators over flat
//! per-row values. Value 0 is the network input; node `k` produces value `k + 1`. The IR knows
//! nothing of ONNX (the importer in `onnx::import` builds it).

use crate::ops::BoundOp;

/// Index of a value: 0 is the input, `k + 1` the output of node `k`.
pub type ValueId = usize;

/// One operator application.
#[derive(Debug)]
pub struct Node {
    /// The ONNX node name(s) this node came from, for messages.
    pub name: String,
    /// The ONNX op type(s), e.g. `Gemm` or `Sub`.
    pub source_op: String,
    pub op: Box<dyn BoundOp>,
    pub inputs: Vec<ValueId>,
}

/// A feed-forward network on one row.
#[derive(Debug)]
pub struct Graph {
    pub input_name: String,
    /// Elements of one row of the input.
    pub input_size: usize,
    pub nodes: Vec<Node>,
    /// The value whose elements are the class scores robcert bounds.
    pub output: ValueId,
    /// What ONNX Runtime applies to those scores before robcert reads the class (argmax).
    pub output_transform: OutputTransform,
}

/// An order-preserving map between the bounded scores and the model's output.
#[derive(Clone, Debug, PartialEq)]
pub enum OutputTransform {
    /// The bounded value is the model's output.
    Identity,
    /// A final Softmax over the class axis (node name), feeding nothing but the output. It keeps
    /// the order of the scores, but in float32 it can round close scores to equal probabilities,
    /// so a margin must exceed [`crate::numerics::SOFTMAX_ORDER_MARGIN`] to prove the class.
    Softmax { node: String },
}

impl OutputTransform {
    /// The margin `score[label] − score[k]` must exceed this to prove that ONNX Runtime's output
    /// ranks `label` strictly above `k` (so no tie, whatever the tie-breaking).
    pub fn margin_threshold(&self) -> f64 {
        match self {
            OutputTransform::Identity => 0.0,
            OutputTransform::Softmax { .. } => crate::numerics::SOFTMAX_ORDER_MARGIN,
        }
    }
}

impl Graph {
    pub fn value_size(&self, v: ValueId) -> usize {
        if v == 0 {
            self.input_size
        } else {
            self.nodes[v - 1].op.output_size()
        }
    }

    pub fn output_size(&self) -> usize {
        self.value_size(self.output)
    }

    /// See [`OutputTransform::margin_threshold`].
    pub fn margin_threshold(&self) -> f64 {
        self.output_transform.margin_threshold()
    }

    /// All values for input `x`, in float64.
    pub fn eval_all(&self, x: &[f64]) -> Vec<Vec<f64>> {
        assert_eq!(x.len(), self.input_size, "input width");
        let mut values = Vec::with_capacity(self.nodes.len() + 1);
        values.push(x.to_vec());
        for node in &self.nodes {
            let inputs: Vec<&[f64]> = node.inputs.iter().map(|&i| values[i].as_slice()).collect();
            let out = node.op.eval(&inputs);
            values.push(out);
        }
        values
    }

    /// Class scores for input `x`.
    pub fn eval(&self, x: &[f64]) -> Vec<f64> {
        self.eval_all(x).swap_remove(self.output)
    }

    /// Scores and the gradient of `weights · scores` with respect to the input.
    pub fn gradient(&self, x: &[f64], weights: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let values = self.eval_all(x);
        let mut grads: Vec<Option<Vec<f64>>> = vec![None; values.len()];
        grads[self.output] = Some(weights.to_vec());
        for (k, node) in self.nodes.iter().enumerate().rev() {
            let Some(g) = grads[k + 1].take() else {
                continue;
            };
            let inputs: Vec<&[f64]> = node.inputs.iter().map(|&i| values[i].as_slice()).collect();
            for (&i, gi) in node.inputs.iter().zip(node.op.vjp(&inputs, &g)) {
                match &mut grads[i] {
                    Some(acc) => acc.iter_mut().zip(&gi).for_each(|(a, b)| *a += b),
                    slot => *slot = Some(gi),
                }
            }
        }
        let scores = values[self.output].clone();
        (
            scores,
            grads[0]
                .take()
                .unwrap_or_else(|| vec![0.0; self.input_size]),
        )
    }
}
