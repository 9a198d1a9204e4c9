"""The `dpo bench` step written in JAX, for a side-by-side comparison on the same machine.

One training step = DPO logistic loss with gamma = beta over all pairs (full batch), its gradient
by `jax.grad`, and an Adam update (optax-free, PyTorch semantics), jit-compiled, batched over runs
with `vmap`. The same workloads as `dpo bench` (`sweep-1024`: the sweeps issue's 1024 runs), with random pairs and a random reference; the two
dense ones use the engine's definitions (SPEC sections 3 and 6):

- `vocabulary-dense` adds the KL regulariser `lambda * sum over prompts of KL(pi(.|x) || pi0(.|x))`
  with `lambda = 0.1` and `pi0` the normalised reference (not sharpened);
- `sweep-lennorm` turns length normalisation on, output `y` of length `L(y) = 1 + (y mod 7)`:
  `h_pi = log pi(y+|x) / L(y+) - log pi(y-|x) / L(y-)`, with `log pi = theta - logsumexp(theta[x])`
  (the engine takes `(theta+ - theta-) / L` when the lengths are equal, where the normaliser
  cancels; the same value, computed the same way here).

    pip install "jax[cpu]"
    python3 bench/jax_step.py                       # the same JSON shape as `dpo bench --json`
    python3 bench/jax_step.py --workload sweep-lennorm
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

# name, runs, prompts, outputs, pairs, length normalisation, KL lambda (None: no regulariser)
WORKLOADS = [
    ("classroom", 3, 1, 8, 16, False, None),
    ("sweep", 256, 4, 64, 256, False, None),
    ("sweep-1024", 1024, 4, 64, 256, False, None),
    ("vocabulary", 1, 64, 32768, 4096, False, None),
    ("vocabulary-dense", 1, 64, 32768, 4096, False, 0.1),
    ("sweep-lennorm", 256, 4, 64, 256, True, None),
]


def make_step(prompt, chosen, rejected, weight, log_reference, lengths=None, kl_lambda=None,
              lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    total = weight.sum()

    def loss(logits, beta):
        if lengths is None:
            # h_pi = theta[x, y+] - theta[x, y-]: the normaliser cancels.
            h_pi = logits[prompt, chosen] - logits[prompt, rejected]
        else:
            # h_pi = log pi(y+)/L(y+) - log pi(y-)/L(y-), as the engine computes it.
            normalizer = jax.nn.logsumexp(logits, axis=-1)[prompt]
            length_chosen, length_rejected = lengths[chosen], lengths[rejected]
            h_pi = jnp.where(
                length_chosen == length_rejected,
                (logits[prompt, chosen] - logits[prompt, rejected]) / length_chosen,
                (logits[prompt, chosen] - normalizer) / length_chosen
                - (logits[prompt, rejected] - normalizer) / length_rejected,
            )
        # h_0 on the normalised log pi0; u = beta * h_pi - gamma * h_0 with gamma = beta.
        h_0 = log_reference[prompt, chosen] - log_reference[prompt, rejected]
        u = beta * h_pi - beta * h_0
        value = jnp.sum(weight * jax.nn.softplus(-u)) / total
        if kl_lambda is not None:
            # lambda * sum over prompts of KL(pi(.|x) || pi0(.|x)).
            log_policy = jax.nn.log_softmax(logits, axis=-1)
            value += kl_lambda * jnp.sum(jnp.exp(log_policy) * (log_policy - log_reference))
        return value

    def one_run(logits, m, v, t, beta):
        g = jax.grad(loss)(logits, beta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step_size = lr / (1 - b1 ** t)
        root_correction = jnp.sqrt(1 - b2 ** t)
        logits = logits - step_size * m / (jnp.sqrt(v) / root_correction + eps)
        return logits, m, v

    return jax.jit(jax.vmap(one_run, in_axes=(0, 0, 0, None, 0)))


def bench(name, runs, prompts, outputs, pairs, length_normalize, kl_lambda, samples=15):
    rng = np.random.default_rng(42)
    reference = 0.05 + rng.random((prompts, outputs))
    log_reference = jnp.asarray(np.log(reference / reference.sum(axis=1, keepdims=True)), jnp.float32)
    prompt = rng.integers(0, prompts, pairs)
    chosen = rng.integers(0, outputs, pairs)
    rejected = (chosen + 1 + rng.integers(0, outputs - 1, pairs)) % outputs
    weight = jnp.ones(pairs, jnp.float32)
    lengths = jnp.asarray(1 + np.arange(outputs) % 7, jnp.float32) if length_normalize else None
    step = make_step(jnp.asarray(prompt), jnp.asarray(chosen), jnp.asarray(rejected), weight,
                     log_reference, lengths, kl_lambda)
    logits = jnp.broadcast_to(log_reference, (runs, prompts, outputs)).copy()
    m = jnp.zeros_like(logits)
    v = jnp.zeros_like(logits)
    beta = jnp.asarray(0.1 + 0.01 * np.arange(runs), jnp.float32)
    t = 1.0
    logits, m, v = step(logits, m, v, t, beta)
    logits.block_until_ready()
    start = time.perf_counter()
    logits, m, v = step(logits, m, v, t, beta)
    logits.block_until_ready()
    one = max(time.perf_counter() - start, 1e-7)
    repeat = int(min(max(0.02 / one, 1), 100000))
    timings = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(repeat):
            t += 1.0
            logits, m, v = step(logits, m, v, t, beta)
        logits.block_until_ready()
        timings.append((time.perf_counter() - start) / repeat)
    return {
        "name": name, "runs": runs, "prompts": prompts, "outputs": outputs, "pairs": pairs,
        "backend": "jax-" + jax.default_backend(), "device": str(jax.devices()[0]),
        "seconds_per_step": statistics.median(timings),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=[w[0] for w in WORKLOADS], help="only this workload")
    only = parser.parse_args().workload
    print(json.dumps({"workloads": [bench(*w) for w in WORKLOADS if only in (None, w[0])]}))
