use std::collections::BTreeMap;

use burn::module::Module;

use super::*;
use crate::baselines;
use crate::lang::{Dims, check, parse};
use crate::model::{ModelSize, init_weights};

fn baseline_model(name: &str) -> (crate::lang::Program, Graph, ModelWeights) {
    let program = parse(baselines::get(name).unwrap().source).unwrap();
    let graph = check(&program, Dims::DEFAULT).graph.unwrap();
    let weights = init_weights(&graph, ModelSize { layers: 2, vocab: 32 }, 7, &crate::backend::device());
    (program, graph, weights)
}

#[test]
fn every_weight_is_written_once_under_a_name_the_module_declares() {
    for baseline in baselines::ALL {
        let (program, graph, weights) = baseline_model(baseline.name);
        let tensors = weight_tensors(&program, &graph, &weights);
        let total: usize = tensors.iter().map(|t| t.shape.iter().product::<usize>()).sum();
        assert_eq!(total, weights.num_params(), "{}: every parameter, once", baseline.name);
        let module = pytorch::Module {
            program: &program,
            source: baseline.source,
            graph: &graph,
            layers: 2,
            vocab: 32,
        };
        let provenance = pytorch::Provenance { lines: vec![], motivation: None };
        let text = pytorch::model_py(&module, &provenance);
        for tensor in &tensors {
            let Some(rest) = tensor.name.strip_prefix("blocks.0.mixer.") else { continue };
            assert!(
                text.contains(&format!("self.{rest} = nn.Parameter(torch.empty(")),
                "{}: {rest}",
                baseline.name
            );
        }
    }
}

#[test]
fn safetensors_round_trip_names_shapes_values_and_metadata() {
    let (program, graph, weights) = baseline_model("gated_deltanet");
    let mut tensors = weight_tensors(&program, &graph, &weights);
    tensors.push(NamedTensor {
        name: "tokens".into(),
        shape: vec![2, 3],
        values: Values::I64(vec![1, 2, 3, 4, 5, 6]),
    });
    let bytes = safetensors(&tensors, BTreeMap::from([("arch".to_owned(), "e0001".to_owned())]));
    let (_, header) = ::safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["arch"], "e0001");
    let read = ::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(read.len(), tensors.len());
    for tensor in &tensors {
        let view = read.tensor(&tensor.name).unwrap();
        assert_eq!(view.shape(), tensor.shape.as_slice(), "{}", tensor.name);
        let expected: Vec<u8> = match &tensor.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        assert_eq!(view.data(), expected.as_slice(), "{}", tensor.name);
    }
}

#[test]
fn numbers_fold_into_literals_and_the_source_lines_comment_the_code() {
    let source = "mixer m {\n  s = 2 * 3 - 1\n  v = proj(x, d) * 0.5 + s / 4\n  return v\n}\n";
    let program = parse(source).unwrap();
    let graph = check(&program, Dims::DEFAULT).graph.unwrap();
    let module = pytorch::Module { program: &program, source, graph: &graph, layers: 1, vocab: 8 };
    let text = pytorch::model_py(
        &module,
        &pytorch::Provenance { lines: vec!["Campaign: c".into()], motivation: Some("why".into()) },
    );
    assert!(text.contains("# v = proj(x, d) * 0.5 + s / 4"), "{text}");
    assert!(text.contains(" * 0.5\n") && text.contains("v = t8 + 1.25\n"), "(2·3−1)/4 folded: {text}");
    assert!(
        text.contains("Campaign: c") && text.contains("    why"),
        "provenance and motivation in the docstring"
    );
}

#[test]
fn the_check_script_states_the_tolerance_the_library_does() {
    assert!(CHECK_PY.contains(&format!("TOLERANCE = {TOLERANCE:e}")), "{TOLERANCE:e}");
}
