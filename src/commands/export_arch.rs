//! `lineage export-arch`: an architecture as a PyTorch module, its weights as safetensors, a
//! check script and a README (lineage-arch's `export` writes the files' contents).
//!
//! A campaign's architecture gets the weights of its exploration run. The log records the
//! run's program, seed, stage and thread count but not its weights, so they are trained again
//! here — training is bit-reproducible on the same backend and thread count — and the metrics
//! of the new run are compared with the recorded ones before anything is written: an export
//! whose weights are not the recorded run's is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use burn::tensor::{Int, Tensor, TensorData};
use lineage_actors::training::{TrainingError, reproduce_model, train_shape};
use lineage_arch::export::{self, NamedTensor, Values, pytorch};
use lineage_arch::lang::{self, Dims, Graph, Program};
use lineage_arch::model::{ModelSize, ModelWeights, init_weights, logits};
use lineage_arch::rng::Rng;
use lineage_events::EventStore;
use lineage_replay::{Folded, fold_log_to_head};

use crate::cli::ExportArchArgs;

/// Sequences and positions of the recorded check input: a length that is not a multiple of the
/// chunk (16), so the chunked form's padding is exercised.
const CHECK_BATCH: usize = 2;
const CHECK_LEN: usize = 50;

/// Everything written out.
struct Export {
    program: Program,
    source: String,
    graph: Graph,
    weights: ModelWeights,
    /// Where the module came from, for the docstring and the README.
    provenance: pytorch::Provenance,
    /// The same as key–value pairs, for the weights file's header.
    metadata: BTreeMap<String, String>,
    /// How the weights were obtained, for the README.
    weights_note: String,
}

/// Largest vocabulary an export builds (a training run's is `limits::VOCAB_MAX`; an export
/// is also for training at scale, where 50k-token vocabularies are usual).
const VOCAB: lineage_arch::limits::Range<u32> = lineage_arch::limits::Range::new(1, 1 << 20);
/// Most parameters an export builds: lineage initialises them in memory and writes them once
/// more as safetensors (4 GiB each at this bound).
const PARAMETERS_MAX: u64 = 1 << 30;

/// The files an export writes, in the order it writes them.
const FILES: [&str; 5] =
    ["model.py", "weights.safetensors", "check_input.safetensors", "check.py", "README.md"];

pub async fn run(store_url: &str, args: &ExportArchArgs) -> anyhow::Result<()> {
    // Before any work: sizes within their limits, and an export never overwrites a file,
    // whoever wrote it.
    use lineage_arch::limits::{D_MODEL, HEADS, LAYERS};
    args.d_model.map(|d| D_MODEL.check("--d-model", d)).transpose()?;
    args.heads.map(|h| HEADS.check("--heads", h)).transpose()?;
    args.layers.map(|l| LAYERS.check("--layers", l)).transpose()?;
    args.vocab.map(|v| VOCAB.check("--vocab", v)).transpose()?;
    let taken: Vec<&str> =
        FILES.iter().copied().filter(|f| args.pytorch.join(f).symlink_metadata().is_ok()).collect();
    if !taken.is_empty() {
        bail!(
            "{} already has {}: export to another directory, or delete {} first",
            args.pytorch.display(),
            taken.join(", "),
            if taken.len() == 1 { "it" } else { "them" }
        );
    }
    // A campaign's architecture (`CAMPAIGN ARCH` or `CAMPAIGN/ARCH`), or else a program.
    let named = match args.what.as_slice() {
        [one] => super::arch::campaign_arch(one).ok_or(one),
        [campaign, arch] => Ok((campaign.as_str(), arch.as_str())),
        _ => {
            bail!("give CAMPAIGN ARCH (or CAMPAIGN/ARCH), or one program (a baseline name or an .arch file)")
        }
    };
    let export = match named {
        Ok((campaign, arch)) => {
            from_campaign(super::open_existing(store_url).await?, campaign, arch, args).await?
        }
        Err(program) => from_program(program, args)?,
    };
    write(&args.pytorch, &export)?;
    crate::output::print(&format!(
        "wrote {} ({}); check it with: python {}",
        args.pytorch.display(),
        FILES.join(", "),
        shell_quoted(&args.pytorch.join("check.py").display().to_string())
    ))
}

/// `text` as one word for a POSIX shell: as it is when it needs no quoting, else in single
/// quotes.
fn shell_quoted(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Refuses a model over [`PARAMETERS_MAX`] before its weights are built.
fn within_parameters(graph: &Graph, size: ModelSize) -> anyhow::Result<()> {
    let d = graph.dims.d as u64;
    let parameters = u64::from(size.layers) * graph.block_params() + 2 * u64::from(size.vocab) * d + d;
    if parameters > PARAMETERS_MAX {
        bail!(
            "a model of {parameters} parameters (d = {d}, {} blocks, vocabulary {}) is over the export's limit of {PARAMETERS_MAX}",
            size.layers,
            size.vocab
        );
    }
    Ok(())
}

fn checked(program: &Program, name: &str, dims: Dims) -> anyhow::Result<Graph> {
    let checked = lang::check(program, dims);
    checked.graph.ok_or_else(|| {
        let first = checked.diagnostics.first().map(|d| d.message.clone()).unwrap_or_default();
        anyhow::anyhow!("{name} does not type-check at d = {}, h = {}: {first}", dims.d, dims.h)
    })
}

fn from_program(argument: &str, args: &ExportArchArgs) -> anyhow::Result<Export> {
    let (source, name) = super::arch::load(argument)?;
    let program = super::arch::parsed(&source, &name)?;
    let dims = Dims { d: args.d_model.unwrap_or(Dims::DEFAULT.d), h: args.heads.unwrap_or(Dims::DEFAULT.h) };
    let graph = checked(&program, &name, dims)?;
    let size = ModelSize { layers: args.layers.unwrap_or(2), vocab: args.vocab.unwrap_or(256) };
    within_parameters(&graph, size)?;
    let seed = args.seed.unwrap_or(0);
    let weights = init_weights(&graph, size, seed, &lineage_arch::backend::device());
    let facts = vec![
        format!("Program: {name} (program hash {})", lang::program_hash(&program)),
        format!("Weights: fresh, lineage's initialisation with seed {seed}."),
    ];
    let metadata = BTreeMap::from([
        ("program".to_owned(), name.clone()),
        ("program_hash".to_owned(), lang::program_hash(&program).to_string()),
        ("seed".to_owned(), seed.to_string()),
    ]);
    Ok(Export {
        weights_note: format!("fresh weights: lineage's initialisation of this program with seed {seed}."),
        provenance: pytorch::Provenance { lines: facts, motivation: None },
        program,
        source,
        graph,
        weights,
        metadata,
    })
}

async fn from_campaign(
    store: Arc<dyn EventStore>,
    campaign: &str,
    arch: &str,
    args: &ExportArchArgs,
) -> anyhow::Result<Export> {
    let campaign = super::campaign_named(store.as_ref(), campaign).await?;
    // The state and the head it was folded to, together (a running campaign moves on).
    let Folded { state, head } = fold_log_to_head(store.as_ref(), &campaign, |_| true).await?;
    let id = state.resolve_arch(arch)?.clone();
    let record = &state.archs[&id];
    let source = record.program().to_owned();
    let program = super::arch::parsed(&source, id.as_str())?;
    let stage = &state.config().exploration;
    let head_text = format!("{}:{}", head.next.0.saturating_sub(1), head.hash);
    let mut facts = vec![
        format!("Campaign: {campaign}, head {head_text}, state hash {}", state.state_hash()),
        format!("Architecture: {id} (program hash {})", record.program_hash()),
    ];
    let mut metadata = BTreeMap::from([
        ("campaign".to_owned(), campaign.to_string()),
        ("head".to_owned(), head_text),
        ("arch".to_owned(), id.to_string()),
        ("program_hash".to_owned(), record.program_hash().to_string()),
    ]);
    let resized =
        args.d_model.is_some() || args.heads.is_some() || args.layers.is_some() || args.vocab.is_some();
    if !resized && let Some(seed) = args.seed {
        bail!(
            "--seed {seed} seeds fresh weights, but {id}'s are its trained run's: give a size option (--d-model, --heads, --layers, --vocab) for fresh ones"
        );
    }
    let (graph, weights, weights_note) = if resized {
        let dims = Dims { d: args.d_model.unwrap_or(stage.d_model), h: args.heads.unwrap_or(stage.heads) };
        let graph = checked(&program, id.as_str(), dims)?;
        let vocab = match args.vocab {
            Some(vocab) => vocab,
            None => train_shape(stage)
                .map(|s| s.vocab)
                .context("the campaign's exploration tasks cannot be built")?,
        };
        let size = ModelSize { layers: args.layers.unwrap_or(stage.layers), vocab };
        within_parameters(&graph, size)?;
        let seed = args.seed.unwrap_or(0);
        let weights = init_weights(&graph, size, seed, &lineage_arch::backend::device());
        metadata.insert("seed".to_owned(), seed.to_string());
        let note = format!(
            "fresh weights at d = {}, h = {}, {} blocks, vocabulary {}: lineage's initialisation with seed {seed} (not the trained run's, which is at the exploration size).",
            dims.d, dims.h, size.layers, size.vocab
        );
        (graph, weights, note)
    } else {
        let Some((recorded, _)) =
            record.exploration_run.as_ref().and_then(|r| state.runs[r].finished.as_ref())
        else {
            bail!(
                "{id} has no finished exploration run to export the weights of (export it with --d-model/--heads for fresh weights)"
            );
        };
        let threads = super::verify::recorded_threads(recorded);
        let device = lineage_arch::backend::device();
        let (again, graph, weights) = reproduce_model(
            &source,
            stage,
            recorded.seed,
            threads,
            super::verify::recorded_numerics(recorded),
            &device,
        )
        .map_err(|e| match e {
            TrainingError::Task { task, message } => anyhow::anyhow!("{task}: {message}"),
            other => anyhow::anyhow!("{id}: {other}"),
        })?;
        let agreement = super::verify::Agreement::of(recorded, &again, threads);
        let worst = agreement.worst;
        let agreement = if agreement.same_setup {
            if !agreement.holds() {
                bail!(
                    "{id}: training again from the record did not give the recorded run (largest relative difference {worst:.1e}); nothing written"
                );
            }
            "bit for bit".to_owned()
        } else {
            if !agreement.holds() {
                bail!(
                    "{id}: training again on {} with {threads} threads (recorded on {} with {}) differs from the record by {worst:.1e}, over {:.0e}; nothing written",
                    super::verify::retrained_on(recorded),
                    recorded.backend,
                    recorded.threads,
                    super::verify::TOLERANCE
                );
            }
            format!(
                "within {worst:.1e} relative (recorded on {} with {})",
                recorded.backend,
                threads_text(recorded.threads)
            )
        };
        metadata.insert("seed".to_owned(), recorded.seed.to_string());
        metadata.insert("run".to_owned(), recorded.run.to_string());
        let note = format!(
            "the weights of exploration run {} (seed {}, {} steps on {} with {}). The log does not hold weights: they were trained again from the recorded program, stage and seed, and the new run's metrics matched the recorded ones {agreement}.",
            recorded.run,
            recorded.seed,
            recorded.metrics.steps,
            super::verify::retrained_on(recorded),
            threads_text(threads)
        );
        (graph, weights, note)
    };
    facts.push(format!("Weights: {weights_note}"));
    let motivation = Some(record.proposal.motivation.clone()).filter(|m| !m.trim().is_empty());
    Ok(Export {
        provenance: pytorch::Provenance { lines: facts, motivation },
        program,
        source,
        graph,
        weights,
        metadata,
        weights_note,
    })
}

fn threads_text(threads: u32) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

/// Lineage's logits for a fixed input, to compare PyTorch's with.
fn check_input(export: &Export) -> Vec<NamedTensor> {
    let vocab = export.weights.embedding.val().dims()[0] as u64;
    let mut rng = Rng::stream(0, "export-check");
    let tokens: Vec<i64> = (0..CHECK_BATCH * CHECK_LEN).map(|_| rng.below(vocab) as i64).collect();
    let device = export.weights.embedding.val().device();
    let input =
        Tensor::<2, Int>::from_data(TensorData::new(tokens.clone(), [CHECK_BATCH, CHECK_LEN]), &device);
    let out = logits(&export.graph, &export.weights, input);
    vec![
        NamedTensor {
            name: "tokens".into(),
            shape: vec![CHECK_BATCH, CHECK_LEN],
            values: Values::I64(tokens),
        },
        NamedTensor::of("logits", out),
    ]
}

fn write(dir: &Path, export: &Export) -> anyhow::Result<()> {
    let layers = export.weights.blocks.len() as u32;
    let vocab = export.weights.embedding.val().dims()[0] as u32;
    let module = pytorch::Module {
        program: &export.program,
        source: &export.source,
        graph: &export.graph,
        layers,
        vocab,
    };
    let tensors = export::weight_tensors(&export.program, &export.graph, &export.weights);
    let mut metadata = export.metadata.clone();
    let nodes = export::weight_nodes(&export.program, &export.graph);
    metadata.insert("mixer_nodes".to_owned(), serde_json::to_string(&nodes)?);
    let params: usize = tensors.iter().map(|t| t.shape.iter().product::<usize>()).sum();
    let weights = export::safetensors(&tensors, metadata);
    // check.py checks the weights file is the one written here before it compares logits.
    let digest = lineage_events::Hash::of(&weights).to_hex();
    let check = BTreeMap::from([("weights_sha256".to_owned(), digest.clone())]);
    let contents: [Vec<u8>; FILES.len()] = [
        pytorch::model_py(&module, &export.provenance).into_bytes(),
        weights,
        export::safetensors(&check_input(export), check),
        export::CHECK_PY.as_bytes().to_vec(),
        readme(export, params, &digest).into_bytes(),
    ];
    // Everything is built before the directory is touched; what a failed write left behind is
    // removed, the directory too when this export created it.
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, bytes) in FILES.into_iter().zip(contents) {
        let path = dir.join(name);
        // `create_new`: a file (or a link) that appeared since the check is not written through.
        let wrote =
            std::fs::OpenOptions::new().write(true).create_new(true).open(&path).and_then(|mut file| {
                written.push(path.clone());
                std::io::Write::write_all(&mut file, &bytes)
            });
        if let Err(e) = wrote {
            written.iter().for_each(|p| _ = std::fs::remove_file(p));
            if created {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(
                anyhow::Error::new(e).context(format!("cannot write {}; nothing was left", path.display()))
            );
        }
    }
    Ok(())
}

fn readme(export: &Export, params: usize, digest: &str) -> String {
    let dims = export.graph.dims;
    let mut text = format!("# {} (exported from lineage)\n\n", export.program.name);
    for line in &export.provenance.lines {
        text.push_str(&format!("- {line}\n"));
    }
    text.push_str(&format!(
        "- Size: d = {}, h = {}, {} blocks, vocabulary {}, {params} parameters\n\n",
        dims.d,
        dims.h,
        export.weights.blocks.len(),
        export.weights.embedding.val().dims()[0]
    ));
    text.push_str(&format!(
        "## Files\n\n\
         - `model.py`: the model as a PyTorch `nn.Module` (needs only torch). `model.load(\"weights.safetensors\")` \
         builds it with these weights; `model.Model(layers=…, vocab=…)` builds it fresh.\n\
         - `weights.safetensors` (SHA-256 `{digest}`): {}\n\
         - `check.py`: `python check.py` compares PyTorch's logits with lineage's on the input in \
         `check_input.safetensors`, in the naive (stepwise) and the chunked form of `recur`, once the \
         weights file's SHA-256 is the one above; it prints the largest relative difference and exits \
         non-zero when the digest differs or a difference is above {:.0e}.\n\n",
        export.weights_note,
        export::TOLERANCE
    ));
    text.push_str(
        "## Training it at scale\n\n\
         Export the program again at the size you want (`lineage export-arch … --d-model 512 --heads 8 \
         --layers 8 --vocab 50304`) and train `model.Model` with any PyTorch loop; lineage's \
         `examples/train_exported.py` is a plain one, and lineage's docs/export.md says which \
         operations map to which PyTorch calls.\n\n\
         ## Licence\n\n\
         Generated by lineage; the generated code and these files may be used under the MIT or the \
         Apache-2.0 licence, as lineage itself.\n\n\
         ## The program\n\n```\n",
    );
    text.push_str(export.source.trim_end());
    text.push_str("\n```\n");
    text
}
