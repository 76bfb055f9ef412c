//! The LibTorch backend (feature `tch`, the GPU option) trains the same model as the default
//! CPU backend: the same seed gives the same weights and batches, and the metrics agree within
//! float rounding. Runs on LibTorch's CPU device, so no GPU is needed; `scripts/gpu-check.sh`
//! does the same on CUDA.
#![cfg(feature = "tch")]

use burn::tensor::Device;
use lineage_arch::baselines;
use lineage_arch::lang::{Dims, check};
use lineage_arch::tasks::Task;
use lineage_arch::tasks::lm::LanguageModel;
use lineage_arch::tasks::mqar::Mqar;
use lineage_arch::train::{TrainConfig, train};

/// Largest relative difference of the losses between backends: their kernels sum in different
/// orders, and 20 steps of AdamW amplify the last bits a little.
const TOLERANCE: f64 = 1e-3;

#[test]
fn libtorch_on_the_cpu_trains_to_the_same_losses_as_flex() {
    #[allow(deprecated)] // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
    let libtorch = Device::libtorch();
    let flex = Device::flex();
    let tasks: Vec<Box<dyn Task>> = vec![
        Box::new(Mqar { vocab: 32, len: 32, pairs: 4, ..Mqar::default() }),
        Box::new(LanguageModel::generated(1)),
    ];
    let config = TrainConfig {
        layers: 1,
        steps: 20,
        batch: 4,
        warmup_steps: 2,
        eval_batches: 2,
        ..TrainConfig::exploration(3)
    };
    for name in ["deltanet", "gla", "linear_attention"] {
        let graph = check(&baselines::get(name).unwrap().program(), Dims { d: 32, h: 4 }).graph.unwrap();
        let a = train(&graph, &tasks, &config, &flex, |_| {});
        let b = train(&graph, &tasks, &config, &libtorch, |_| {});
        assert_eq!((a.params, a.steps), (b.params, b.steps), "{name}");
        let relative = |x: f64, y: f64| (x - y).abs() / x.abs().max(y.abs());
        for (x, y) in a.tasks.iter().zip(&b.tasks) {
            let difference = relative(x.loss, y.loss);
            assert!(
                difference < TOLERANCE,
                "{name} {}: flex {} libtorch {} ({difference:.1e})",
                x.task,
                x.loss,
                y.loss
            );
        }
        let difference = relative(a.loss_train_final, b.loss_train_final);
        assert!(
            difference < TOLERANCE,
            "{name}: training loss flex {} libtorch {}",
            a.loss_train_final,
            b.loss_train_final
        );
    }
}

#[test]
fn libtorch_without_a_gpu_is_one_error_before_any_run() {
    assert_eq!(lineage_arch::backend::check_named("tch-cpu"), Ok(()));
    match lineage_arch::backend::check_named("tch") {
        // The NVIDIA driver makes a device node per GPU (/dev/nvidia0, …).
        Ok(()) => assert!(
            std::fs::read_dir("/dev").unwrap().flatten().any(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.strip_prefix("nvidia")
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            }),
            "LibTorch's CUDA device computed on a machine without an NVIDIA GPU"
        ),
        // No GPU, or one hidden from this process, or a LibTorch built without CUDA.
        Err(error) => {
            assert!(error.starts_with("backend tch does not run on this machine: "), "{error}");
            assert!(
                !error.contains('\n') && !error.contains("\\n") && error.len() < 300,
                "one short line: {error}"
            );
        }
    }
}
