//! The metrics' whole-row reductions (`numerics::row_statistics`: f32 `exp`, f64 sums) against a
//! straightforward f64 computation, on random rows of every scale, within the bound stated in
//! `row_statistics`'s documentation; and `Run::metrics` built on them against an independent f64
//! computation of KL, entropy and the rewards; and the KL regulariser's gradient built on them
//! (`numerics::add_kl_gradient_row`) against the same gradient in f64.

use dpo_playground::engine::numerics::{
    add_kl_gradient_row, add_kl_gradient_row_portable, row_statistics, row_statistics_portable,
};
use dpo_playground::engine::rng::SplitMix64;
use dpo_playground::engine::{Init, Optimizer, Output, Pair, Problem, Regularizer, Run, RunConfig};

/// The three reductions in f64 with the C library's `exp`, from the f32 values.
fn exact(logits: &[f32], log_reference: &[f32]) -> (f64, f64, f64) {
    let max = logits
        .iter()
        .map(|&l| l as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let normalizer = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let (mut kl, mut entropy) = (0.0, 0.0);
    for (&l, &r) in logits.iter().zip(log_reference) {
        let log_policy = l as f64 - normalizer;
        let p = log_policy.exp();
        kl += p * (log_policy - r as f64);
        entropy -= p * log_policy;
    }
    (normalizer, kl, entropy)
}

/// A normalised f32 log-reference row of `k` random positive weights.
fn reference_row(generator: &mut SplitMix64, k: usize) -> Vec<f32> {
    let weights: Vec<f64> = (0..k).map(|_| 0.05 + generator.next_f64()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total).ln() as f32).collect()
}

/// The bound of `row_statistics`'s documentation: with `H` the entropy, `x = theta - m`,
/// `d = x - (log pi0 - log pi0(y*))`, `D = sum pi |d|`, `X2 = sum pi x^2` and `XD = sum pi |x d|`,
/// the normaliser within `7.2e-7 + 6e-8 H`, the entropy within
/// `7.2e-7 + 1.32e-6 H + 6e-8 (H^2 + X2)`, the KL within
/// `7.2e-7 + 1.8e-7 H + 1.62e-6 D + 6e-8 (H D + XD)` (first order, so 10% more is allowed).
fn check_row(case: &str, logits: &[f32], log_reference: &[f32]) {
    let fast = row_statistics(logits, log_reference);
    // Whichever compilation ran (AVX2 or the baseline), the same bits.
    assert_eq!(
        fast,
        row_statistics_portable(logits, log_reference),
        "{case}"
    );
    let (normalizer, kl, entropy) = exact(logits, log_reference);
    assert!(fast.finite, "{case}");
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let star = logits.iter().position(|&l| l == max).unwrap();
    let (mut d_mean, mut x2, mut xd) = (0.0, 0.0, 0.0);
    for (&l, &r) in logits.iter().zip(log_reference) {
        let p = (l as f64 - normalizer).exp();
        let x = l as f64 - max as f64;
        let d = x - (r as f64 - log_reference[star] as f64);
        d_mean += p * d.abs();
        x2 += p * x * x;
        xd += p * (x * d).abs();
    }
    let h = entropy;
    let slack = 1.1;
    for (name, got, want, bound) in [
        (
            "normaliser",
            fast.log_normalizer,
            normalizer,
            7.2e-7 + 6e-8 * h,
        ),
        (
            "entropy",
            fast.entropy,
            entropy,
            7.2e-7 + 1.32e-6 * h + 6e-8 * (h * h + x2),
        ),
        (
            "kl",
            fast.kl,
            kl,
            7.2e-7 + 1.8e-7 * h + 1.62e-6 * d_mean + 6e-8 * (h * d_mean + xd),
        ),
    ] {
        assert!(
            (got - want).abs() <= slack * bound,
            "{case}: {name} {got} vs {want} in f64: error {:e} over the bound {bound:e}",
            (got - want).abs()
        );
    }
}

#[test]
fn row_reductions_agree_with_f64_on_random_rows() {
    let mut generator = SplitMix64::new(7, 11);
    for &k in &[1usize, 2, 7, 8, 63, 64, 65, 100, 1000, 4097, 32768, 100_000] {
        let reference = reference_row(&mut generator, k);
        // At the reference, near it, shifted by a constant, far from it, sharply peaked, and flat.
        let near: Vec<f32> = reference
            .iter()
            .map(|&r| r + 0.01 * generator.next_normal() as f32)
            .collect();
        for (case, scale, shift) in [
            ("reference", 0.0, 0.0),
            ("shifted reference", 0.0, 37.5),
            ("near", 0.01, 0.0),
            ("far", 3.0, -5.0),
            ("peaked", 30.0, 100.0),
        ] {
            let logits: Vec<f32> = reference
                .iter()
                .map(|&r| r + shift + (scale * generator.next_normal()) as f32)
                .collect();
            check_row(&format!("{case}, K = {k}"), &logits, &reference);
        }
        check_row(&format!("near, K = {k}"), &near, &reference);
        check_row(&format!("uniform, K = {k}"), &vec![0.0; k], &reference);
        let random: Vec<f32> = (0..k).map(|_| generator.next_normal() as f32).collect();
        check_row(&format!("random, K = {k}"), &random, &reference);
    }
}

/// `add_kl_gradient_row` against `lambda pi (log pi - log pi0 - KL)` in f64 from exact
/// statistics, within its documented bound: with `e_N`, `e_KL` the fast statistics' errors
/// (measured here against `exact`) and `u = 2^-24`, `pi` within `3e-7 + e_N + 2u |log pi|`
/// relative, the bracket within `e_N + e_KL + 4u (|log pi| + |log pi0| + KL)`, `2u` relative for
/// the products, first order (10% more allowed), plus the rounding of the f32 sum it is added to.
#[test]
fn kl_gradient_rows_agree_with_f64_on_random_rows() {
    const U: f64 = 1.0 / 16_777_216.0;
    let mut generator = SplitMix64::new(13, 17);
    let lambda = 0.3f32;
    for &k in &[1usize, 2, 7, 8, 65, 1000, 4097, 32768] {
        let reference = reference_row(&mut generator, k);
        for (case, scale, shift) in [
            ("reference", 0.0, 0.0),
            ("shifted", 0.0, 37.5),
            ("near", 0.01, 0.0),
            ("far", 3.0, -5.0),
            ("peaked", 30.0, 100.0),
        ] {
            let case = format!("{case}, K = {k}");
            let logits: Vec<f32> = reference
                .iter()
                .map(|&r| r + shift + (scale * generator.next_normal()) as f32)
                .collect();
            // Added onto a gradient that already holds the pairs' terms.
            let start: Vec<f32> = (0..k)
                .map(|_| 0.01 * generator.next_normal() as f32)
                .collect();
            let statistics = row_statistics(&logits, &reference);
            let mut fast = start.clone();
            add_kl_gradient_row(&mut fast, &logits, &reference, &statistics, lambda);
            let mut portable = start.clone();
            add_kl_gradient_row_portable(&mut portable, &logits, &reference, &statistics, lambda);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&fast),
                bits(&portable),
                "{case}: AVX2 against baseline"
            );
            let (normalizer, kl, _) = exact(&logits, &reference);
            let e_n = (statistics.log_normalizer - normalizer).abs();
            let e_kl = (statistics.kl - kl).abs();
            for i in 0..k {
                let log_policy = logits[i] as f64 - normalizer;
                let r = reference[i] as f64;
                let pi = log_policy.exp();
                let bracket = log_policy - r - kl;
                let want = start[i] as f64 + lambda as f64 * pi * bracket;
                let pi_error = 3e-7 + e_n + 2.0 * U * log_policy.abs() + 2.0 * U;
                let bracket_error = e_n + e_kl + 4.0 * U * (log_policy.abs() + r.abs() + kl.abs());
                let bound = 1.1 * lambda as f64 * pi * (pi_error * bracket.abs() + bracket_error)
                    + U * want.abs()
                    // `exp` clamps at -87: a term of at most e^-87 where pi is smaller.
                    + lambda as f64 * 1.7e-38 * (bracket.abs() + 1.0);
                let got = fast[i] as f64;
                assert!(
                    (got - want).abs() <= bound,
                    "{case}: logit {i}: {got} vs {want}: error {:e} over the bound {bound:e}",
                    (got - want).abs()
                );
            }
        }
    }
}

#[test]
fn row_reductions_give_a_zero_kl_at_the_reference_and_nan_past_a_non_finite_logit() {
    let mut generator = SplitMix64::new(3, 4);
    let reference = reference_row(&mut generator, 5000);
    // theta = log pi0: every term of the KL's sum is 0, so only the normaliser's rounding shows.
    let at = row_statistics(&reference, &reference);
    assert!(at.kl.abs() < 1e-6, "{}", at.kl);
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut logits = reference.clone();
        logits[1234] = bad;
        let statistics = row_statistics(&logits, &reference);
        assert!(!statistics.finite);
        assert!(statistics.kl.is_nan() && statistics.entropy.is_nan());
        assert!(statistics.log_normalizer.is_nan());
    }
}

/// `Run::metrics` (KL, entropy, rewards) against the same metrics in f64 from the run's logits,
/// with and without length normalisation, after some training away from the reference.
#[test]
fn metrics_agree_with_an_independent_f64_computation() {
    let (prompts, k) = (3, 700);
    let mut generator = SplitMix64::new(5, 9);
    let outputs = (0..k)
        .map(|y| Output {
            label: format!("y{y}"),
            length: 1.0 + (y % 4) as f32,
        })
        .collect();
    let reference: Vec<Vec<f64>> = (0..prompts)
        .map(|_| (0..k).map(|_| 0.05 + generator.next_f64()).collect())
        .collect();
    let pairs = (0..200)
        .map(|_| {
            let chosen = generator.below(k);
            Pair {
                prompt: generator.below(prompts),
                chosen,
                rejected: (chosen + 1 + generator.below(k - 1)) % k,
                weight: 0.5 + generator.next_f64() as f32,
            }
        })
        .collect();
    let problem = Problem::new(
        (0..prompts).map(|x| format!("x{x}")).collect(),
        outputs,
        &reference,
        pairs,
        None,
    )
    .unwrap();
    for (length_normalize, regularizer, init) in [
        (false, Regularizer::None, Init::Reference),
        (true, Regularizer::None, Init::Uniform),
        (
            false,
            Regularizer::Kl { lambda: 0.1 },
            Init::Random { scale: 2.0 },
        ),
    ] {
        let config = RunConfig {
            beta: 0.5,
            gamma: 0.5,
            optimizer: Optimizer::adam(0.05),
            length_normalize,
            regularizer,
            init,
            ..RunConfig::default()
        };
        let mut run = Run::new(config, &problem).unwrap();
        for _ in 0..30 {
            run.step(&problem);
        }
        let metrics = run.metrics(&problem);
        let log_reference = problem.log_reference();
        let (mut kl, mut entropy) = (0.0, 0.0);
        let mut normalizers = Vec::new();
        for (row, reference_row) in run.logits().chunks(k).zip(log_reference.chunks(k)) {
            let (normalizer, row_kl, row_entropy) = exact(row, reference_row);
            normalizers.push(normalizer);
            kl += row_kl / prompts as f64;
            entropy += row_entropy / prompts as f64;
        }
        let (mut chosen, mut total) = (0.0, 0.0);
        for pair in problem.pairs() {
            let i = pair.prompt * k + pair.chosen;
            let log_policy = run.logits()[i] as f64 - normalizers[pair.prompt];
            chosen += pair.weight as f64 * 0.5 * (log_policy - log_reference[i] as f64);
            total += pair.weight as f64;
        }
        chosen /= total;
        let case = format!("length_normalize {length_normalize}, {regularizer:?}, {init:?}");
        let close = |a: f64, b: f64| (a - b).abs() <= 4e-6 * (1.0 + b.abs());
        assert!(close(metrics.kl, kl), "{case}: kl {} vs {kl}", metrics.kl);
        assert!(
            close(metrics.entropy, entropy),
            "{case}: entropy {} vs {entropy}",
            metrics.entropy
        );
        assert!(
            close(metrics.chosen_reward, chosen),
            "{case}: chosen reward {} vs {chosen}",
            metrics.chosen_reward
        );
    }
}
