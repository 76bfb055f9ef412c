//! The CPU backend's vectorised `exp` and `sigmoid` (lineage's patch of burn-flex,
//! vendor/burn-flex/PATCHES.md) return the same bits as the scalar kernels they replaced, on
//! every `f32`, and its operations split across threads return the same bits on any number of
//! them: training on this build reproduces runs recorded before it bit for bit.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};

/// The scalar sigmoid burn-flex 0.22.1 computed, element by element.
fn scalar_sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn exp_and_sigmoid_match_the_scalar_kernels_on_every_f32() {
    let supported = cfg!(all(target_arch = "x86_64", target_env = "gnu"))
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma");
    if !supported {
        // The kernel is glibc's x86-64 FMA `expf`; elsewhere the C library's differs anyway.
        eprintln!("skipped: needs x86-64 with AVX2 and FMA and glibc");
        return;
    }
    let device = Device::flex();
    const BLOCK: u32 = 1 << 22;
    let mut mismatches = Vec::new();
    for block in 0..(1u64 << 32) / BLOCK as u64 {
        let first = block as u32 * BLOCK;
        // An odd length, so the last lanes go through the scalar remainder too.
        let len = BLOCK as usize - (block % 3) as usize;
        let values: Vec<f32> = (0..len as u32).map(|i| f32::from_bits(first + i)).collect();
        let input = Tensor::<1>::from_data(TensorData::new(values.clone(), [len]), &device);
        let exps = input.clone().exp().into_data().try_into_vec::<f32>().unwrap();
        let sigmoids = sigmoid(input).into_data().try_into_vec::<f32>().unwrap();
        for ((x, e), s) in values.iter().zip(&exps).zip(&sigmoids) {
            let expected = x.exp();
            // The scalar sigmoid's `e^x` below zero is `expected`: one C call fewer.
            let expected_sigmoid = if *x >= 0.0 { scalar_sigmoid(*x) } else { expected / (1.0 + expected) };
            if (!same(*e, expected) || !same(*s, expected_sigmoid)) && mismatches.len() < 10 {
                mismatches.push((x.to_bits(), *e, expected, *s, expected_sigmoid));
            }
        }
    }
    assert!(mismatches.is_empty(), "(x bits, exp, scalar exp, sigmoid, scalar sigmoid): {mismatches:?}");
}

#[test]
fn strided_and_shared_tensors_take_the_same_values() {
    let device = Device::flex();
    let values: Vec<f32> = (0..96).map(|i| (i as f32 - 48.0) / 7.0).collect();
    let matrix = Tensor::<2>::from_data(TensorData::new(values, [8, 12]), &device);
    // A transposed view (not contiguous), a narrowed one (an offset), and a shared one.
    for view in [matrix.clone().transpose(), matrix.clone().narrow(0, 2, 3), matrix.clone()] {
        let expected: Vec<f32> = view.clone().into_data().try_into_vec::<f32>().unwrap();
        let exps = view.clone().exp().into_data().try_into_vec::<f32>().unwrap();
        let sigmoids = sigmoid(view).into_data().try_into_vec::<f32>().unwrap();
        for ((x, e), s) in expected.iter().zip(&exps).zip(&sigmoids) {
            assert!(same(*e, x.exp()) && same(*s, scalar_sigmoid(*x)), "{x}: {e} {s}");
        }
    }
    // The shared input is unchanged by the in-place kernels.
    assert_eq!(matrix.into_data().try_into_vec::<f32>().unwrap()[0], -48.0 / 7.0);
}

/// Runs `f` on a rayon pool of `threads` threads, where flex computes.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

fn bits(tensor: Tensor<2>) -> Vec<u32> {
    tensor.into_data().try_into_vec::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn operations_split_across_threads_give_the_values_of_one_thread() {
    let device = Device::flex();
    // A training step's shapes at the exploration size: 16 sequences of 96 tokens, width 64,
    // MLP 256; the chunked recurrence's blocks of 16 positions for 4 heads.
    let filled = |rows: usize, cols: usize, seed: u32| {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 16_777_216.0 - 0.5
            })
            .collect();
        Tensor::<2>::from_data(TensorData::new(values, [rows, cols]), &device)
    };
    let (x, w, up) = (filled(1536, 64, 1), filled(64, 64, 2), filled(64, 256, 3));
    let g = filled(256, 1536, 4);
    let results = |x: Tensor<2>, w: Tensor<2>, up: Tensor<2>| {
        let g = g.clone();
        let blocks = x.clone().reshape([96, 16, 64]).matmul(x.clone().reshape([96, 64, 16]));
        let h = x.clone().matmul(up.clone());
        vec![
            bits(x.clone().matmul(w.clone())),
            bits(x.clone().transpose().matmul(x.clone())),
            bits(h.clone()),
            bits(blocks.reshape([1536, 16])),
            // Elementwise, in place (a unique operand) and into a new buffer (shared ones).
            bits(h.clone() * h.clone() + h.clone()),
            bits(h.clone().exp() / (h.clone() + 2.0)),
            bits(sigmoid(h.clone()) * h.clone()),
            bits((h.clone() - 0.25).sqrt().log() * 3.0),
            bits(h.clone().transpose().tanh()),
            bits(h.clone().narrow(0, 8, 1024).exp()),
            // Broadcast loop nests: into a new buffer, in place, and over strided halves.
            bits(h.clone() * up.clone().narrow(0, 0, 1)),
            bits((h.clone() + 1.0) / up.clone().narrow(0, 1, 1)),
            bits(h.clone().narrow(1, 0, 128) * h.clone().narrow(1, 128, 128)),
            bits(h.clone() * h.clone().narrow(1, 0, 1)),
            bits(h.clone() * g.clone().transpose()),
            bits((h.clone() + 1.0) * g.clone().transpose()),
            // In place into a view that starts past its buffer's first element.
            bits((h.clone() + 1.0).narrow(0, 8, 1024).mask_fill(
                g.clone().narrow(0, 0, 1).narrow(1, 0, 256).greater_elem(0.0).expand([1024, 256]),
                0.0,
            )),
            // Copies of permuted views: batched transposes, and whole runs.
            bits(h.clone().reshape([16, 96, 256]).swap_dims(0, 1).reshape([1536, 256])),
            bits(h.clone().reshape([16, 96, 256]).swap_dims(1, 2).reshape([4096, 96])),
            bits(
                h.clone().narrow(0, 0, 256).reshape([256, 1, 256]).expand([256, 4, 256]).reshape([1024, 256]),
            ),
            // Reductions along the first, a middle and the last dimension.
            bits(h.clone().sum_dim(0)),
            bits(h.clone().reshape([16, 96, 256]).sum_dim(1).reshape([16, 256])),
            bits(h.sum_dim(1)),
        ]
    };
    let one = on_threads(1, || results(x.clone(), w.clone(), up.clone()));
    // As training runs them: the pool's other threads kept awake (on two cores or more).
    let two = on_threads(2, || lineage_arch::hot_pool::run(|| results(x.clone(), w.clone(), up.clone())));
    let three = on_threads(3, || results(x, w, up));
    for (i, ((a, b), c)) in one.iter().zip(&two).zip(&three).enumerate() {
        assert!(a == b && a == c, "result {i} differs between one, two and three threads");
    }
}
