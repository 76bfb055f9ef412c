//! The two forms of `recur` timed against each other (forward + backward at the exploration
//! size), so `lineage bench train` shows what the chunked form buys for each kind of update.

use std::time::Instant;

use burn::tensor::{Device, Tensor, TensorData};
use lineage_arch::model::recurrence::{self, Decay, RecurInputs};
use lineage_arch::rng::Rng;
use serde::Serialize;

/// One kind of update at one length.
#[derive(Serialize)]
pub struct RecurRow {
    /// Which update, named after the baseline that uses it.
    pub update: &'static str,
    /// Sequence length.
    pub steps: usize,
    /// Milliseconds per forward + backward, step by step.
    pub stepwise_ms: f64,
    /// Milliseconds per forward + backward, chunked.
    pub chunked_ms: f64,
}

const BATCH: usize = 16;
const D: usize = 64;
const H: usize = 4;
const REPEATS: u32 = 5;

fn random(rng: &mut Rng, shape: [usize; 3], map: impl Fn(f64) -> f64, device: &Device) -> Tensor<3> {
    let data: Vec<f32> = (0..shape.iter().product()).map(|_| map(rng.normal()) as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device).require_grad()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn inputs(update: &str, steps: usize, device: &Device) -> RecurInputs {
    let mut rng = Rng::stream(1, update);
    let shape = [BATCH, steps, D];
    let q = random(&mut rng, shape, |x| x / 4.0, device);
    let k = random(&mut rng, shape, |x| x / 4.0, device);
    let v = random(&mut rng, shape, |x| x, device);
    let per_head =
        |rng: &mut Rng| Decay::Tensor(random(rng, [BATCH, steps, H], |x| sigmoid(x + 3.0), device));
    let per_channel = |rng: &mut Rng| Decay::Tensor(random(rng, shape, |x| sigmoid(x + 3.0), device));
    let (decay, erase) = match update {
        "linear_attention" => (None, false),
        "gla" => (Some(per_channel(&mut rng)), false),
        "deltanet" => (None, true),
        "gated_deltanet" => (Some(per_head(&mut rng)), true),
        _ => (Some(per_channel(&mut rng)), true),
    };
    let erase = erase.then(|| (random(&mut rng, shape, |x| sigmoid(x) / 4.0, device), k.clone()));
    RecurInputs { q, k, v, decay, erase, h: H, steps }
}

fn time(form: fn(RecurInputs) -> Tensor<3>, x: &RecurInputs) -> f64 {
    let run = || {
        let _ = form(x.clone()).sum().backward();
    };
    run(); // warm-up
    let start = Instant::now();
    for _ in 0..REPEATS {
        run();
    }
    start.elapsed().as_secs_f64() * 1000.0 / REPEATS as f64
}

/// Times both forms for each kind of update at 64 and 256 positions.
pub fn compare(device: &Device) -> Vec<RecurRow> {
    let device = device.clone().autodiff();
    let mut rows = Vec::new();
    for update in ["linear_attention", "gla", "deltanet", "gated_deltanet", "rwkv7"] {
        for steps in [64, 256] {
            let x = inputs(update, steps, &device);
            rows.push(RecurRow {
                update,
                steps,
                stepwise_ms: time(recurrence::stepwise, &x),
                chunked_ms: time(recurrence::chunked, &x),
            });
        }
    }
    rows
}
