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
    /// The value whose elements are the class scores.
    pub output: ValueId,
    /// Trailing ops dropped because they do not change the argmax (e.g. Softmax), by node name.
    pub dropped_tail: Vec<String>,
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
