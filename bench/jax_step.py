"""The `dpo bench` step written in JAX, for a side-by-side comparison on the same machine.

One training step = DPO logistic loss with gamma = beta over all pairs (full batch), its gradient
by `jax.grad`, and an Adam update (optax-free, PyTorch semantics), jit-compiled, batched over runs
with `vmap`. Same three workloads as `dpo bench`, with random pairs and a random reference.

    pip install "jax[cpu]"
    python3 bench/jax_step.py            # prints the same JSON shape as `dpo bench --json`
"""

import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

WORKLOADS = [
    ("classroom", 3, 1, 8, 16),
    ("sweep", 256, 4, 64, 256),
    ("vocabulary", 1, 64, 32768, 4096),
]


def make_step(prompt, chosen, rejected, weight, log_reference, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    total = weight.sum()

    def loss(logits, beta):
        # h_pi = theta[x, y+] - theta[x, y-]; h_0 the same on log pi0; u = beta * (h_pi - h_0).
        h_pi = logits[prompt, chosen] - logits[prompt, rejected]
        h_0 = log_reference[prompt, chosen] - log_reference[prompt, rejected]
        u = beta * h_pi - beta * h_0
        return jnp.sum(weight * jax.nn.softplus(-u)) / total

    def one_run(logits, m, v, t, beta):
        g = jax.grad(loss)(logits, beta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        step_size = lr / (1 - b1 ** t)
        root_correction = jnp.sqrt(1 - b2 ** t)
        logits = logits - step_size * m / (jnp.sqrt(v) / root_correction + eps)
        return logits, m, v

    return jax.jit(jax.vmap(one_run, in_axes=(0, 0, 0, None, 0)))


def bench(name, runs, prompts, outputs, pairs, samples=15):
    rng = np.random.default_rng(42)
    reference = 0.05 + rng.random((prompts, outputs))
    log_reference = jnp.asarray(np.log(reference / reference.sum(axis=1, keepdims=True)), jnp.float32)
    prompt = rng.integers(0, prompts, pairs)
    chosen = rng.integers(0, outputs, pairs)
    rejected = (chosen + 1 + rng.integers(0, outputs - 1, pairs)) % outputs
    weight = jnp.ones(pairs, jnp.float32)
    step = make_step(jnp.asarray(prompt), jnp.asarray(chosen), jnp.asarray(rejected), weight, log_reference)
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
    print(json.dumps({"workloads": [bench(*w) for w in WORKLOADS]}))
