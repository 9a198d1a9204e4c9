//! What one run trains with: the loss and its weights, initialisation, optimiser, batching and
//! regulariser (SPEC sections 3, 4 and 6).

use super::error::InputError;
use super::loss::LossKind;
use super::options::{kind_of, INITS, OPTIMIZERS, REGULARIZERS};

/// How the logits start (SPEC section 6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `theta = log pi0`, the usual practice.
    Reference,
    /// `theta = log pi0_alpha`.
    ReferenceAlpha,
    /// `theta = 0`.
    Uniform,
    /// `theta ~ Normal(0, scale^2)`, seeded by the run's seed.
    Random {
        /// Standard deviation of the draws.
        scale: f32,
    },
}

impl Init {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        kind_of(INITS, &self).name
    }
}

/// The optimiser and its hyperparameters, with PyTorch's semantics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// `v = momentum * v + g; theta -= lr * v` (PyTorch SGD without dampening or Nesterov).
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum in `[0, 1)`; 0 is plain gradient descent.
        momentum: f32,
    },
    /// Adam (Kingma and Ba, 2015) with bias correction, as `torch.optim.Adam`.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the square root of the second moment.
        eps: f32,
    },
}

impl Optimizer {
    /// SGD with the given learning rate and no momentum.
    pub const fn sgd(lr: f32) -> Optimizer {
        Optimizer::Sgd { lr, momentum: 0.0 }
    }

    /// Adam with the given learning rate and PyTorch's defaults.
    pub const fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        kind_of(OPTIMIZERS, &self).name
    }
}

/// An explicit pull toward the reference logits `theta0 = log pi0` (SPEC section 6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Regularizer {
    /// No regulariser.
    None,
    /// `lambda / 2 * ||theta - theta0||^2`.
    L2 {
        /// Strength.
        lambda: f32,
    },
    /// `lambda * sum over prompts of KL(pi(.|x) || pi0(.|x))`.
    Kl {
        /// Strength.
        lambda: f32,
    },
    /// Mixout (Lee et al., 2020): the loss is evaluated at
    /// `(M theta + (1 - M) theta0 - p theta0) / (1 - p)` with a fresh mask `M ~ Bernoulli(1 - p)`.
    Mixout {
        /// Probability of swapping a logit for its reference value, in `[0, 1)`.
        p: f32,
    },
}

impl Regularizer {
    /// The name used in scenario files.
    pub fn name(self) -> &'static str {
        kind_of(REGULARIZERS, &self).name
    }
}

/// Everything that defines one run besides the shared data.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// Shown in legends and tables.
    pub name: String,
    /// The per-pair loss.
    pub loss: LossKind,
    /// Weight `beta > 0` of the policy log-ratio.
    pub beta: f32,
    /// Weight `gamma >= 0` of the reference log-ratio (DPO: `gamma = beta`).
    pub gamma: f32,
    /// Constant offset `m` of the margin (SimPO's `gamma`, SLiC's 1).
    pub margin: f32,
    /// Reference sharpening: the run's reference is `pi0^alpha`, normalised.
    pub alpha: f32,
    /// Divide each log-probability by the output's length.
    pub length_normalize: bool,
    /// Initial logits.
    pub init: Init,
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Pairs per step; `None` is the full batch.
    pub batch_size: Option<usize>,
    /// Seed of the random init, the minibatch order and the mixout masks.
    pub seed: u64,
    /// Explicit regulariser toward the reference.
    pub regularizer: Regularizer,
}

impl Default for RunConfig {
    /// DPO as in SPEC section 8's defaults: logistic, `beta = gamma = 1`, init at the reference,
    /// full batch, with Adam at learning rate 0.05.
    fn default() -> Self {
        RunConfig {
            name: "DPO".to_string(),
            loss: LossKind::Logistic,
            beta: 1.0,
            gamma: 1.0,
            margin: 0.0,
            alpha: 1.0,
            length_normalize: false,
            init: Init::Reference,
            optimizer: Optimizer::adam(0.05),
            batch_size: None,
            seed: 0,
            regularizer: Regularizer::None,
        }
    }
}

/// `Err` at `path` unless `value` is finite and satisfies `ok`.
fn require(path: &str, value: f32, ok: bool, what: &str) -> Result<(), InputError> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(InputError::new(
            path,
            format!("must be {what}, got {value}"),
        ))
    }
}

impl RunConfig {
    /// Checks every number; errors carry paths relative to the run (`beta`, `optimizer.lr`).
    pub fn validate(&self) -> Result<(), InputError> {
        require("beta", self.beta, self.beta > 0.0, "positive and finite")?;
        require("gamma", self.gamma, self.gamma >= 0.0, ">= 0 and finite")?;
        require("margin", self.margin, true, "finite")?;
        require("alpha", self.alpha, self.alpha >= 0.0, ">= 0 and finite")?;
        if let Init::Random { scale } = self.init {
            require("init.scale", scale, scale >= 0.0, ">= 0 and finite")?;
        }
        match self.optimizer {
            Optimizer::Sgd { lr, momentum } => {
                require("optimizer.lr", lr, lr > 0.0, "positive and finite")?;
                require(
                    "optimizer.momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    "in [0, 1)",
                )?;
            }
            Optimizer::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => {
                require("optimizer.lr", lr, lr > 0.0, "positive and finite")?;
                require(
                    "optimizer.beta1",
                    beta1,
                    (0.0..1.0).contains(&beta1),
                    "in [0, 1)",
                )?;
                require(
                    "optimizer.beta2",
                    beta2,
                    (0.0..1.0).contains(&beta2),
                    "in [0, 1)",
                )?;
                require("optimizer.eps", eps, eps > 0.0, "positive and finite")?;
            }
        }
        if self.batch_size == Some(0) {
            return Err(InputError::new(
                "batch_size",
                "must be at least 1 (or null for the full batch)",
            ));
        }
        match self.regularizer {
            Regularizer::None => {}
            Regularizer::L2 { lambda } | Regularizer::Kl { lambda } => {
                require(
                    "regularizer.lambda",
                    lambda,
                    lambda >= 0.0,
                    ">= 0 and finite",
                )?;
            }
            Regularizer::Mixout { p } => {
                require("regularizer.p", p, (0.0..1.0).contains(&p), "in [0, 1)")?;
            }
        }
        Ok(())
    }
}
