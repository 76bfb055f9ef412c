//! The training backend: burn's `flex` on CPU by default. Cargo features add others, chosen at
//! run time with `LINEAGE_BACKEND`: `tch` (LibTorch; CUDA device 0, or `tch-cpu`) and `ndarray`
//! (kept to compare CPU backends; flex was measured faster, see docs/performance.md).

use burn::tensor::Device;

/// The backend `LINEAGE_BACKEND` names (default `flex`: a GPU is used only when asked for).
/// Unknown or not-compiled names fall back to `flex`, with a warning.
pub fn name() -> &'static str {
    let wanted = std::env::var("LINEAGE_BACKEND").unwrap_or_default();
    match wanted.as_str() {
        #[cfg(feature = "tch")]
        "tch" => "tch",
        #[cfg(feature = "tch")]
        "tch-cpu" => "tch-cpu",
        #[cfg(feature = "ndarray")]
        "ndarray" => "ndarray",
        "" | "flex" => "flex",
        other => {
            tracing::warn!(backend = other, "backend not available in this build; using flex");
            "flex"
        }
    }
}

/// The device to train on.
pub fn device() -> Device {
    match name() {
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // kept only for the backend comparison
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Compute threads available to the backend: flex computes on rayon's global pool, whose size
/// `RAYON_NUM_THREADS` sets (a worker started with `RAYON_NUM_THREADS=1` trains on one thread).
pub fn threads() -> u32 {
    rayon::current_num_threads() as u32
}
