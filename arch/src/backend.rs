//! The training backend this build uses: burn's `flex` on CPU by default; LibTorch (`tch`,
//! CUDA when available) with the `tch` feature.

use burn::tensor::Device;

/// Backend name recorded with every result.
#[cfg(not(feature = "tch"))]
pub const NAME: &str = "flex";
/// Backend name recorded with every result.
#[cfg(feature = "tch")]
pub const NAME: &str = "tch";

/// The device to train on.
pub fn device() -> Device {
    #[cfg(feature = "tch")]
    #[allow(deprecated)] // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
    {
        if std::env::var("LINEAGE_TCH_CPU").is_ok() { Device::libtorch() } else { Device::libtorch_cuda(0) }
    }
    #[cfg(not(feature = "tch"))]
    Device::flex()
}

/// Compute threads available to the backend.
pub fn threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}
