//! The training backend: burn's `flex` on CPU by default. Cargo features add others, chosen at
//! run time with `LINEAGE_BACKEND`: `tch` (LibTorch; CUDA device 0, or `tch-cpu`), `cuda`
//! (burn's CubeCL CUDA backend, device 0) and `ndarray` (kept to compare CPU backends; flex was
//! measured faster, see docs/performance.md).

use std::cell::Cell;
use std::sync::{Arc, Mutex};

use burn::tensor::{Device, Tensor};

/// The backend `LINEAGE_BACKEND` names (default `flex`: a GPU is used only when asked for).
/// A name this build lacks falls back to `flex` with a warning; the commands that train refuse
/// it first ([`check`]).
pub fn name() -> &'static str {
    requested().unwrap_or_else(|error| {
        tracing::warn!("{error}; using flex");
        "flex"
    })
}

/// The backends this build has, as `LINEAGE_BACKEND` names them.
pub fn available() -> Vec<&'static str> {
    let mut names = vec!["flex"];
    if cfg!(feature = "tch") {
        names.extend(["tch", "tch-cpu"]);
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    names
}

/// The backend `LINEAGE_BACKEND` asks for, if this build has it.
fn requested() -> Result<&'static str, String> {
    let wanted = std::env::var("LINEAGE_BACKEND").unwrap_or_default();
    if wanted.is_empty() {
        return Ok("flex");
    }
    available().into_iter().find(|name| *name == wanted).ok_or_else(|| {
        let feature = match wanted.as_str() {
            "tch" | "tch-cpu" => " (build with --features tch)",
            "cuda" => " (build with --features cuda)",
            "ndarray" => " (build with --features ndarray)",
            _ => "",
        };
        format!(
            "LINEAGE_BACKEND={wanted:?} is not a backend of this build{feature}; it has {}",
            available().join(", ")
        )
    })
}

/// The device to train on: [`name`]'s.
pub fn device() -> Device {
    device_named(name())
}

/// The device of a backend this build has, by [`name`] (`flex`'s for any other name).
pub fn device_named(name: &str) -> Device {
    match name {
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        // burn marks tch deprecated in favour of CubeCL; it is the GPU option asked for
        "tch" => Device::libtorch_cuda(0),
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        "tch-cpu" => Device::libtorch(),
        #[cfg(feature = "cuda")]
        "cuda" => Device::cuda(0),
        #[cfg(feature = "ndarray")]
        #[allow(deprecated)] // kept only for the backend comparison
        "ndarray" => Device::ndarray(),
        _ => Device::flex(),
    }
}

/// Sees that the backend `LINEAGE_BACKEND` asks for is in this build and computes on this
/// machine ([`check_named`]); warns when there are more compute threads than cores.
pub fn check() -> Result<(), String> {
    check_named(requested()?)?;
    let (threads, cores) = (threads(), std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads as usize > cores {
        tracing::warn!(
            "{threads} compute threads on {cores} cores (RAYON_NUM_THREADS): they take turns, and training is slower than on {cores}"
        );
    }
    Ok(())
}

/// Sees that a backend computes on this machine (its GPU is there, its driver and libraries
/// load) by adding up a small tensor on its device. The GPU backends report a missing GPU by
/// panicking in the middle of a run; this makes it one error, before a run starts.
pub fn check_named(name: &str) -> Result<(), String> {
    if name == "flex" {
        return Ok(());
    }
    let outcome = quietly(|| Tensor::<1>::ones([8], &device_named(name)).sum().into_scalar::<f32>());
    match outcome {
        Ok(8.0) => Ok(()),
        Ok(sum) => Err(format!("backend {name} does not compute here: eight ones added up to {sum}")),
        Err(panic) => {
            let what = match panic_message(panic.as_ref()) {
                // CubeCL starts a device on a thread of its own, and the caller sees it hang up.
                "RecvError" => "its device did not start (is there an NVIDIA GPU and driver?)",
                "" => "it panicked",
                what => what,
            };
            Err(format!("backend {name} does not run on this machine: {what}"))
        }
    }
}

/// Runs `f`, catching a panic without printing it: the backends' own panic messages say what is
/// missing, and the caller makes them one error. Only this thread is quiet; a panic on another
/// goes to the hook as before.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    thread_local! {
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }
    // One swap of the process's hook at a time, so that each restores what it found.
    static SWAP: Mutex<()> = Mutex::new(());
    let _swapping = SWAP.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous: Arc<PanicHook> = Arc::new(std::panic::take_hook());
    let forward = Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if !QUIET.with(Cell::get) {
            forward(info)
        }
    }));
    QUIET.with(|quiet| quiet.set(true));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(false));
    drop(std::panic::take_hook()); // the forwarding hook, and with it `forward`
    match Arc::try_unwrap(previous) {
        Ok(previous) => std::panic::set_hook(previous),
        Err(previous) => std::panic::set_hook(Box::new(move |info| previous(info))),
    }
    outcome
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

/// Most characters of a panic's message that [`panic_message`] gives: it goes into one error
/// line, or into an event.
const PANIC_MESSAGE_CHARS: usize = 300;

/// What a caught panic says, for one line: the first line of its message without the wrapping
/// that says nothing (`what_failed`), at most `PANIC_MESSAGE_CHARS` (300) characters; empty when
/// the panic carries no text.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("");
    let what = what_failed(message);
    match what.char_indices().nth(PANIC_MESSAGE_CHARS) {
        Some((end, _)) => &what[..end],
        None => what,
    }
}

/// The first line of a backend's panic message, without the wrapping that says nothing: LibTorch
/// errors arrive as `called \`Result::unwrap()\` on an \`Err\` value: Torch("…")`, their message
/// followed by a C++ stack trace, its line breaks escaped.
fn what_failed(message: &str) -> &str {
    let first = message.lines().find(|line| !line.trim().is_empty()).unwrap_or(message);
    let first = first.split("\\n").next().unwrap_or(first);
    let first = first.strip_prefix("called `Result::unwrap()` on an `Err` value: ").unwrap_or(first);
    let first = first.strip_prefix("Torch(\"").unwrap_or(first);
    first.trim().trim_end_matches("\")").trim()
}

/// Compute threads available to the backend: flex computes on rayon's global pool, whose size
/// `RAYON_NUM_THREADS` sets (a worker started with `RAYON_NUM_THREADS=1` trains on one thread).
pub fn threads() -> u32 {
    rayon::current_num_threads() as u32
}

/// How training arranges its arithmetic, where two arrangements compute the same function with
/// different rounding. A recorded run names its revision (in its backend label, see [`label`]) so
/// that it can be trained again bit for bit by a later build: each revision stays selectable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Numerics {
    /// Revision 1: a per-channel decay's recurrence steps one position at a time.
    PerChannelSteps,
    /// Revision 2: a per-channel decay within reach of `f32` is chunked, its pairwise decays
    /// factorised into one matmul (arch/src/model/recurrence.rs).
    PerChannelChunked,
}

impl Numerics {
    /// What new runs train with.
    pub const CURRENT: Numerics = Numerics::PerChannelChunked;

    /// The revision's number, as labels write it.
    pub fn revision(self) -> u32 {
        match self {
            Numerics::PerChannelSteps => 1,
            Numerics::PerChannelChunked => 2,
        }
    }

    /// A backend's name with this revision: `flex` for revision 1 (what every run recorded
    /// before revisions existed says), `flex+n2` for revision 2.
    pub fn label(self, backend: &str) -> String {
        match self.revision() {
            1 => backend.to_owned(),
            n => format!("{backend}+n{n}"),
        }
    }

    /// The backend and revision a recorded label names; `None` for a revision this build does
    /// not know (recorded by a later one).
    pub fn of_label(label: &str) -> (&str, Option<Numerics>) {
        let Some((backend, revision)) = label.rsplit_once("+n") else {
            return (label, Some(Numerics::PerChannelSteps));
        };
        let numerics = match revision {
            "2" => Some(Numerics::PerChannelChunked),
            _ => None,
        };
        (backend, numerics)
    }
}

/// What a run records as its backend: the backend's [`name`] and the current [`Numerics`].
pub fn label() -> String {
    Numerics::CURRENT.label(name())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Numerics, PANIC_MESSAGE_CHARS, check_named, panic_message, quietly, what_failed};

    #[test]
    fn a_backend_that_does_not_run_says_what_failed_in_one_line() {
        let libtorch = "called `Result::unwrap()` on an `Err` value: Torch(\"Found no NVIDIA driver on your \
            system.\\nException raised from device_count_impl at c10/cuda/CUDAFunctions.cpp:40\\nframe #0: …\")";
        assert_eq!(what_failed(libtorch), "Found no NVIDIA driver on your system.");
        assert_eq!(what_failed("\nno CUDA device\nmore"), "no CUDA device");
        assert_eq!(what_failed("it panicked"), "it panicked");
        assert_eq!(check_named("flex"), Ok(()));
    }

    #[test]
    fn a_panic_message_is_one_line_of_bounded_length_whatever_it_carries() {
        let message = |panic: Box<dyn std::any::Any + Send>| panic_message(panic.as_ref()).to_owned();
        assert_eq!(message(Box::new("shape mismatch\nat forward.rs")), "shape mismatch");
        assert_eq!(message(Box::new(format!("index {} out of range", 9))), "index 9 out of range");
        assert_eq!(message(Box::new(42_u32)), "", "no text");
        let long = "é".repeat(5000);
        assert_eq!(message(Box::new(long)).chars().count(), PANIC_MESSAGE_CHARS);
    }

    #[test]
    fn quietly_catches_a_panic_unprinted_and_puts_back_the_hook_it_found() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static PRINTED: AtomicUsize = AtomicUsize::new(0);
        let on_this_thread = || std::thread::current().name() == Some("quietly");
        let test = move || {
            // Counts this thread's panics; other tests' go where they went.
            let others = Arc::new(std::panic::take_hook());
            let forward = Arc::clone(&others);
            std::panic::set_hook(Box::new(move |info| match on_this_thread() {
                true => _ = PRINTED.fetch_add(1, Ordering::SeqCst),
                false => forward(info),
            }));
            let caught = quietly(|| -> u32 { panic!("no GPU") });
            assert_eq!(caught.unwrap_err().downcast_ref::<&str>(), Some(&"no GPU"));
            assert_eq!(PRINTED.load(Ordering::SeqCst), 0, "quiet");
            assert_eq!(quietly(|| 7).unwrap(), 7);
            let _ = std::panic::catch_unwind(|| panic!("loud"));
            assert_eq!(PRINTED.load(Ordering::SeqCst), 1, "the hook is back");
            drop(std::panic::take_hook());
            std::panic::set_hook(Box::new(move |info| others(info)));
        };
        std::thread::Builder::new().name("quietly".into()).spawn(test).unwrap().join().unwrap();
    }

    #[test]
    fn a_label_names_its_backend_and_numerics() {
        assert_eq!(
            Numerics::of_label("flex"),
            ("flex", Some(Numerics::PerChannelSteps)),
            "recorded before revisions"
        );
        assert_eq!(Numerics::of_label("tch-cpu"), ("tch-cpu", Some(Numerics::PerChannelSteps)));
        assert_eq!(Numerics::of_label("flex+n9"), ("flex", None), "a later build's revision");
        for numerics in [Numerics::PerChannelSteps, Numerics::PerChannelChunked] {
            assert_eq!(Numerics::of_label(&numerics.label("tch")), ("tch", Some(numerics)));
        }
        assert_eq!(Numerics::CURRENT.label("flex"), "flex+n2");
    }
}
