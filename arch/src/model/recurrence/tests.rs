//! The chunked form against the stepwise one, values and gradients, over every shape of
//! operand: no decay, a number, per head, per channel (including near-zero gates), with and
//! without the rank-one erase, lengths below, at and across chunk boundaries.

use burn::tensor::{Device, Tensor, TensorData};

use super::{CHUNK, Decay, RecurInputs, chunked, factorisable, recur, stepwise};
use crate::backend::Numerics;
use crate::rng::Rng;

const H: usize = 2;
const DK: usize = 4;
const DV: usize = 3;
const B: usize = 2;

fn random(rng: &mut Rng, shape: [usize; 3], map: impl Fn(f64) -> f64, device: &Device) -> Tensor<3> {
    let data: Vec<f32> = (0..shape.iter().product()).map(|_| map(rng.normal()) as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[derive(Clone, Copy, Debug)]
enum DecayKind {
    None,
    Number,
    PerHead,
    PerChannel,
    /// Gates down to ~1e-9: the cumulative product underflows inside a chunk.
    Strong,
    /// One decay for all positions and sequences (`[1, 1, h]`).
    Constant,
    /// Per channel, about e^−2.3 a step: a chunk's log decays sum to near the factorised form's
    /// span, where its two exponential factors are furthest apart.
    Steep,
}

fn inputs(seed: u64, steps: usize, decay: DecayKind, erase: bool, device: &Device) -> RecurInputs {
    let mut rng = Rng::stream(seed, "recurrence-test");
    let id = |x: f64| x;
    let q = random(&mut rng, [B, steps, H * DK], id, device);
    let k = random(&mut rng, [B, steps, H * DK], |x| x / 2.0, device);
    let v = random(&mut rng, [B, steps, H * DV], id, device);
    let decay = match decay {
        DecayKind::None => None,
        DecayKind::Number => Some(Decay::Number(0.93)),
        DecayKind::PerHead => {
            Some(Decay::Tensor(random(&mut rng, [B, steps, H], |x| sigmoid(x + 2.0), device)))
        }
        DecayKind::PerChannel => {
            Some(Decay::Tensor(random(&mut rng, [B, steps, H * DK], |x| sigmoid(x + 1.5), device)))
        }
        DecayKind::Strong => {
            Some(Decay::Tensor(random(&mut rng, [B, steps, H * DK], |x| sigmoid(6.0 * x), device)))
        }
        DecayKind::Constant => Some(Decay::Tensor(random(&mut rng, [1, 1, H], |x| sigmoid(x + 2.0), device))),
        DecayKind::Steep => {
            Some(Decay::Tensor(random(&mut rng, [B, steps, H * DK], |x| (0.05 * x - 2.3).exp(), device)))
        }
    };
    // Delta-rule-like: erase = beta * along with a unit-ish direction, beta in (0, 2).
    let erase = erase.then(|| {
        let along = random(&mut rng, [B, steps, H * DK], |x| x / 2.0, device);
        let beta = random(&mut rng, [B, steps, H * DK], |x| 2.0 * sigmoid(x), device);
        (beta * along.clone(), along)
    });
    RecurInputs { q, k, v, decay, erase, h: H, steps }
}

fn relative_error(a: Tensor<3>, b: Tensor<3>) -> f64 {
    let a: Vec<f32> = a.into_data().try_to_vec::<f32>().unwrap();
    let b: Vec<f32> = b.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    assert!(a.iter().all(|x| x.is_finite()), "chunked output has a non-finite value");
    let diff: f64 = a.iter().zip(&b).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (diff / norm.max(1e-30)).sqrt()
}

const KINDS: [DecayKind; 7] = [
    DecayKind::None,
    DecayKind::Number,
    DecayKind::PerHead,
    DecayKind::PerChannel,
    DecayKind::Strong,
    DecayKind::Constant,
    DecayKind::Steep,
];

#[test]
fn chunked_equals_stepwise_for_every_operand_shape() {
    let device = Device::flex();
    for (i, steps) in [1, 5, CHUNK, CHUNK + 1, 3 * CHUNK + 5].into_iter().enumerate() {
        for (j, kind) in KINDS.into_iter().enumerate() {
            for erase in [false, true] {
                let seed = (i * 100 + j * 10 + erase as usize) as u64;
                let x = inputs(seed, steps, kind, erase, &device);
                if let Some(Decay::Tensor(d)) = &x.decay
                    && d.dims()[2] != H
                    && !factorisable(d, steps)
                {
                    assert!(matches!(kind, DecayKind::Strong), "T={steps} {kind:?} is beyond the span");
                    continue; // gates this strong keep the steps (the test below)
                }
                let error = relative_error(chunked(x.clone()), stepwise(x));
                assert!(error < 1e-4, "T={steps} decay={kind:?} erase={erase}: relative error {error:e}");
            }
        }
    }
}

#[test]
fn gradients_agree_between_the_forms() {
    let device = Device::flex().autodiff();
    for kind in [DecayKind::PerHead, DecayKind::PerChannel, DecayKind::Steep, DecayKind::Number] {
        let x = inputs(7, 2 * CHUNK + 3, kind, true, &device);
        let leaves = |x: &RecurInputs| {
            let mut all =
                vec![x.q.clone().require_grad(), x.k.clone().require_grad(), x.v.clone().require_grad()];
            let (e, a) = x.erase.clone().unwrap();
            all.extend([e.require_grad(), a.require_grad()]);
            if let Some(Decay::Tensor(d)) = &x.decay {
                all.push(d.clone().require_grad());
            }
            all
        };
        let rebuild = |l: &[Tensor<3>]| RecurInputs {
            q: l[0].clone(),
            k: l[1].clone(),
            v: l[2].clone(),
            erase: Some((l[3].clone(), l[4].clone())),
            decay: match &x.decay {
                Some(Decay::Tensor(_)) => Some(Decay::Tensor(l[5].clone())),
                other => other.clone(),
            },
            h: H,
            steps: x.steps,
        };
        let weights = random(&mut Rng::new(3), [B, x.steps, H * DV], |v| v, &device);
        let grads_of = |form: fn(RecurInputs) -> Tensor<3>| {
            let l = leaves(&x);
            let loss = (form(rebuild(&l)) * weights.clone()).sum();
            let grads = loss.backward();
            l.iter().map(|t| t.grad(&grads).unwrap()).collect::<Vec<_>>()
        };
        for (n, (a, b)) in grads_of(chunked).into_iter().zip(grads_of(stepwise)).enumerate() {
            let (a, b) = (Tensor::<3>::from_inner(a), Tensor::<3>::from_inner(b));
            let error = relative_error(a, b);
            assert!(error < 1e-3, "decay={kind:?}: gradient of operand {n} differs by {error:e}");
        }
    }
}

#[test]
fn negative_and_strong_per_channel_decays_take_the_stepwise_form() {
    let device = Device::flex();
    // −0.5 as a decay: its log is undefined, so `recur` must not chunk.
    let mut negative = inputs(11, 20, DecayKind::None, true, &device);
    negative.decay = Some(Decay::Number(-0.5));
    // Per channel with gates near zero: beyond the span the factorised form allows, and the
    // pairwise tensor is slower than the steps, so `recur` keeps the steps.
    let strong = inputs(12, 20, DecayKind::Strong, true, &device);
    for x in [negative, strong] {
        let expected = stepwise(x.clone());
        assert_eq!(relative_error(recur(x, Numerics::CURRENT), expected), 0.0);
    }
}

#[test]
fn per_channel_decays_within_the_span_take_the_chunked_form() {
    let device = Device::flex();
    let x = inputs(13, 2 * CHUNK + 3, DecayKind::PerChannel, true, &device);
    let expected = chunked(x.clone());
    assert_eq!(relative_error(recur(x.clone(), Numerics::CURRENT), expected), 0.0);
    assert!(
        relative_error(recur(x.clone(), Numerics::CURRENT), stepwise(x.clone())) > 0.0,
        "the forms round differently"
    );
    // Revision 1 of the numerics, which runs recorded before revision 2 were trained with.
    assert_eq!(relative_error(recur(x.clone(), Numerics::PerChannelSteps), stepwise(x)), 0.0);
}
