//! The memory estimate (`scenario::budget`) is an upper bound of what the engine allocates: a
//! counting allocator measures the peak while generated scenarios of many shapes are built,
//! trained, recorded (with margins) and reported, and the peak never passes the estimate.
//!
//! This file holds one test, so that no other test allocates while it measures.

use dpo_playground::engine::History;
use dpo_playground::scenario::budget::{Estimate, Usage};
use dpo_playground::scenario::Scenario;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the bytes live now and the most live since the last reset.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are only statistics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::SeqCst) + new_size
                    - layout.size();
                // A moving realloc holds both blocks for a moment.
                PEAK.fetch_max(live + layout.size(), Ordering::SeqCst);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::SeqCst);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A scenario of a random shape: up to 4 prompts x 3,000 outputs, explicit and generated pairs,
/// up to four runs with every option that changes what a run holds.
fn shaped() -> impl Strategy<Value = String> {
    (
        1usize..5,
        prop_oneof![2usize..8, 2usize..3000],
        0usize..40,
        prop::option::of(0usize..2000),
        prop::collection::vec(
            (
                any::<bool>(),
                prop::sample::select(vec!["none", "l2", "kl", "mixout"]),
                prop::sample::select(vec!["adam", "sgd"]),
                prop::option::of(1usize..50),
            ),
            1..5,
        ),
    )
        .prop_map(|(prompts, outputs, explicit, generated, runs)| {
            let pairs: Vec<_> = (0..explicit)
                .map(|i| {
                    json!({"prompt": i % prompts, "chosen": i % outputs,
                        "rejected": (i + 1) % outputs})
                })
                .collect();
            let runs: Vec<_> = runs
                .into_iter()
                .map(|(normalize, regularizer, optimizer, batch)| {
                    json!({"length_normalize": normalize, "regularizer": regularizer,
                        "optimizer": optimizer, "batch_size": batch})
                })
                .collect();
            let mut scenario = json!({
                "prompts": (0..prompts).map(|x| format!("p{x}")).collect::<Vec<_>>(),
                "outputs": (0..outputs).map(|y| json!({"label": format!("o{y}"), "length": 1 + y % 3})).collect::<Vec<_>>(),
                "pairs": pairs,
                "runs": runs,
            });
            if let Some(count) = generated {
                let reward: Vec<Vec<f64>> =
                    vec![(0..outputs).map(|y| y as f64 / outputs as f64).collect(); prompts];
                scenario["reward"] = json!(reward);
                scenario["generate"] = json!({"count": count, "sampling": "reference"});
            }
            scenario.to_string()
        })
}

fn config() -> Config {
    let mut config = Config::default();
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(20_261_127);
    }
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 48;
    }
    config.failure_persistence = None;
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_estimate_bounds_the_memory_used(text in shaped()) {
        let Ok(scenario) = Scenario::from_json(&text) else {
            // Some shapes have no pairs at all; the reader says so, nothing to measure.
            return Ok(());
        };
        const RECORDS: u64 = 6;
        let usage = Usage {
            steps: 3,
            records: RECORDS,
            margins: true,
            metric_records: RECORDS,
            ..Usage::default()
        };
        let estimate = Estimate::new(&scenario, &usage);
        // Measured from here: the parsed scenario is counted in the estimate's data, so the
        // baseline is what lives without it (its size is added back below, as measured).
        let before = LIVE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        {
            let mut set = scenario.run_set().unwrap();
            let mut history = History::new(set.runs().len(), RECORDS as usize);
            for _ in 0..3 {
                history.record(&set);
                set.step(1);
            }
            history.record(&set);
            std::hint::black_box(set.metrics());
        }
        let used = PEAK.load(Ordering::SeqCst) - before;
        prop_assert!(
            (used as u64) <= estimate.memory(),
            "used {used} bytes, estimated {} ({estimate:?})",
            estimate.memory()
        );
    }
}
