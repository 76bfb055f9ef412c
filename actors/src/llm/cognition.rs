//! What the LLM researcher is told besides the campaign's own results: a compact reference of the
//! architecture language ([`LANGUAGE_REFERENCE`], `language.md`) and a *cognition base* of short
//! paper summaries (`cognition.toml`), as in ASI-Arch. The base is parsed once; [`relevant`]
//! picks the entries whose keywords occur in the program the researcher starts from and in the
//! analysis of its results, so a prompt carries a few pertinent mechanisms, not the whole base.
//!
//! Both texts are compiled into the binary; the tests below keep them honest: the base parses,
//! every baseline finds its own family, and the reference's worked example is the `deltanet`
//! baseline, parsed and checked like any program.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::Deserialize;

/// The compact reference of the architecture language, for a prompt: program structure, every
/// operation with its argument rules, widths, the checks a program must pass, and the `deltanet`
/// baseline explained line by line.
pub const LANGUAGE_REFERENCE: &str = include_str!("language.md");

/// One entry of the cognition base: a mechanism from the literature, what it does well, how it
/// fails, and where it was published.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Stable kebab-case name, e.g. `gated-deltanet`: what a proposal cites.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// Lowercase words and phrases that make the entry relevant when they occur as whole words
    /// in a program or an analysis (operation and argument names, words an analysis would use).
    pub keywords: Vec<String>,
    /// How it works, with the state update in plain text.
    pub mechanism: String,
    /// What it does well.
    pub strengths: String,
    /// How it fails, and what to watch for.
    pub failure_modes: String,
    /// Authors, title, venue and year, arXiv id.
    pub citation: String,
}

impl Entry {
    /// The entry as a short markdown section for a prompt: title and id, mechanism, strengths,
    /// failure modes and citation.
    pub fn render(&self) -> String {
        format!(
            "### {} (`{}`)\n\n**Mechanism.** {}\n\n**Strengths.** {}\n\n**Failure modes.** {}\n\n\
             **Source.** {}\n",
            self.title, self.id, self.mechanism, self.strengths, self.failure_modes, self.citation
        )
    }
}

/// The file's layout: `[[entry]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Base {
    entry: Vec<Entry>,
}

/// The base, parsed on first use (a test parses it, so this cannot fail in a tested build).
static BASE: LazyLock<Vec<Entry>> = LazyLock::new(|| {
    toml::from_str::<Base>(include_str!("cognition.toml"))
        .unwrap_or_else(|e| panic!("cognition.toml does not parse: {e}"))
        .entry
});

/// Every entry of the cognition base, in the file's order.
pub fn entries() -> &'static [Entry] {
    &BASE
}

/// The entries most relevant to `program` (a program's text) and `analysis` (what an analyst
/// wrote about its results), best first, at most `limit` of them.
///
/// An entry scores one point for each of its keywords that occurs in the program and one for
/// each that occurs in the analysis, so a keyword found in both counts twice. Matching ignores
/// case and is by whole words: a text is read as its words (runs of letters, digits and `_`), a
/// keyword with several words (`state tracking`, `2 * sigmoid`) must occur as consecutive
/// words, whatever separates them (`state-tracking` matches `state tracking`), and `parity` does
/// not match `disparity`. Entries that score 0 are left out; ties keep the base's order, so the
/// result depends only on the two texts.
pub fn relevant(program: &str, analysis: &str, limit: usize) -> Vec<&'static Entry> {
    let (program, analysis) = (Words::of(program), Words::of(analysis));
    let mut scored: Vec<(usize, &'static Entry)> = entries()
        .iter()
        .map(|entry| (score(entry, &program, &analysis), entry))
        .filter(|(score, _)| *score > 0)
        .collect();
    // A stable sort: equal scores keep the base's order.
    scored.sort_by_key(|&(score, _)| std::cmp::Reverse(score));
    scored.into_iter().take(limit).map(|(_, entry)| entry).collect()
}

/// How many of `entry`'s keywords occur in the program, plus how many occur in the analysis.
fn score(entry: &Entry, program: &Words, analysis: &Words) -> usize {
    entry
        .keywords
        .iter()
        .map(|keyword| {
            let phrase = words(keyword);
            usize::from(program.contains(&phrase)) + usize::from(analysis.contains(&phrase))
        })
        .sum()
}

/// The lowercase words of `text`: maximal runs of letters, digits and `_`.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A text as its words, with where each word occurs, so that finding a phrase costs a lookup
/// per occurrence of its first word.
struct Words {
    words: Vec<String>,
    at: HashMap<String, Vec<usize>>,
}

impl Words {
    fn of(text: &str) -> Self {
        let words = words(text);
        let mut at: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, word) in words.iter().enumerate() {
            at.entry(word.clone()).or_default().push(i);
        }
        Self { words, at }
    }

    /// Whether `phrase` (lowercase words) occurs as consecutive words.
    fn contains(&self, phrase: &[String]) -> bool {
        let Some((first, rest)) = phrase.split_first() else { return false };
        self.at.get(first).is_some_and(|starts| {
            starts.iter().any(|&start| {
                let tail = &self.words[start + 1..];
                tail.len() >= rest.len() && tail.iter().zip(rest).all(|(word, want)| word == want)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use lineage_arch::baselines;
    use lineage_arch::lang::{Dims, MlpKind, NormKind, check, parse, program_hash};

    use super::*;

    /// Each baseline and the entry that describes its family.
    const FAMILY: &[(&str, &str)] = &[
        ("linear_attention", "linear-attention"),
        ("retnet", "retnet"),
        ("gla", "gla"),
        ("mamba2", "mamba2"),
        ("deltanet", "deltanet"),
        ("deltanet_negative", "negative-eigenvalues"),
        ("gated_deltanet", "gated-deltanet"),
        ("rwkv7", "rwkv7"),
        ("short_conv", "short-conv"),
        ("softmax_attention", "softmax-attention"),
    ];

    fn ids(found: &[&Entry]) -> Vec<String> {
        found.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn the_base_parses_with_unique_ids_and_complete_entries() {
        let all = entries();
        assert!(all.len() >= 10, "the base has {} entries", all.len());
        let mut seen = HashSet::new();
        for entry in all {
            assert!(seen.insert(entry.id.as_str()), "duplicate id {}", entry.id);
            let kebab = !entry.id.is_empty()
                && !entry.id.starts_with('-')
                && !entry.id.ends_with('-')
                && !entry.id.contains("--")
                && entry.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            assert!(kebab, "id {:?} is not kebab-case", entry.id);
            for (field, text) in [
                ("title", &entry.title),
                ("mechanism", &entry.mechanism),
                ("strengths", &entry.strengths),
                ("failure_modes", &entry.failure_modes),
                ("citation", &entry.citation),
            ] {
                assert!(!text.trim().is_empty(), "{}: empty {field}", entry.id);
                assert_eq!(text.trim(), text, "{}: {field} has surrounding whitespace", entry.id);
            }
            assert!(entry.citation.contains("arXiv:"), "{}: citation without an arXiv id", entry.id);
            assert!(!entry.keywords.is_empty(), "{}: no keywords", entry.id);
            let mut keywords = HashSet::new();
            for keyword in &entry.keywords {
                assert!(!words(keyword).is_empty(), "{}: keyword {keyword:?} has no word", entry.id);
                assert_eq!(&keyword.to_lowercase(), keyword, "{}: keyword {keyword:?}", entry.id);
                assert!(keywords.insert(words(keyword)), "{}: keyword {keyword:?} twice", entry.id);
            }
        }
    }

    #[test]
    fn every_baseline_finds_its_family_among_the_first_three() {
        for baseline in baselines::ALL {
            let found = relevant(baseline.source, "", 3);
            assert!(!found.is_empty(), "no entry is relevant to baseline {}", baseline.name);
            if let Some((_, family)) = FAMILY.iter().find(|(name, _)| *name == baseline.name) {
                assert!(
                    found.iter().any(|e| e.id == *family),
                    "baseline {}: expected `{family}` among {:?}",
                    baseline.name,
                    ids(&found)
                );
            }
        }
        for (name, family) in FAMILY {
            assert!(baselines::get(name).is_some(), "no baseline {name}");
            assert!(entries().iter().any(|e| e.id == *family), "no entry {family}");
        }
    }

    #[test]
    fn relevant_is_deterministic_and_respects_the_limit() {
        let deltanet = baselines::get("deltanet").unwrap().source;
        let analysis = "Recall is perfect but the model fails parity: no state tracking, and the \
                        decay forgets too fast.";
        let all = relevant(deltanet, analysis, usize::MAX);
        assert!(all.len() > 3);
        for limit in 0..=all.len() + 1 {
            let first = relevant(deltanet, analysis, limit);
            assert_eq!(ids(&first), ids(&relevant(deltanet, analysis, limit)));
            assert_eq!(first.len(), limit.min(all.len()));
            assert_eq!(ids(&first), ids(&all[..first.len()]), "a smaller limit is a prefix");
        }
        assert!(relevant("", "", 5).is_empty());
        assert!(relevant("nothing relevant here", "zzz", 5).is_empty());
    }

    #[test]
    fn matching_is_by_whole_words_and_phrases_ignoring_case() {
        let of = |text: &str| Words::of(text);
        assert!(of("Fails PARITY.").contains(&words("parity")));
        assert!(!of("a disparity").contains(&words("parity")));
        assert!(of("no state-tracking at all").contains(&words("state tracking")));
        assert!(!of("state, then tracking").contains(&words("tracking state")));
        assert!(of("beta = 2 * sigmoid(proj(x, h))").contains(&words("2 * sigmoid")));
        assert!(of("u = head_index()").contains(&words("head_index")));
        assert!(!of("u = head_index()").contains(&words("head")));
        assert!(!of("state").contains(&words("state tracking")));
        assert!(!of("anything").contains(&[]));

        let negative = entries().iter().find(|e| e.id == "negative-eigenvalues").unwrap();
        let (empty, analysis) = (of(""), of("It cannot learn parity; parity needs state tracking."));
        assert_eq!(score(negative, &empty, &analysis), 2, "each keyword counts once per text");
        let program = of("beta = 2 * sigmoid(proj(x, h))");
        assert_eq!(score(negative, &program, &analysis), 3);
        assert_eq!(relevant("", "the model fails at parity", 1)[0].id, "negative-eigenvalues");
    }

    #[test]
    fn render_shows_every_field() {
        for entry in entries() {
            let text = entry.render();
            for part in [&entry.title, &entry.id, &entry.mechanism, &entry.strengths, &entry.failure_modes] {
                assert!(text.contains(part.as_str()), "{}: render lacks {part:?}", entry.id);
            }
            assert!(text.contains(&entry.citation));
            assert!(text.starts_with("### "));
        }
    }

    /// The first ```-fenced block of `markdown` that contains `needle`.
    fn fenced_block_with<'a>(markdown: &'a str, needle: &str) -> Option<&'a str> {
        // Odd pieces are inside fences; each starts with the fence's info string (maybe empty).
        markdown
            .split("```")
            .skip(1)
            .step_by(2)
            .filter_map(|block| block.split_once('\n').map(|(_, body)| body))
            .find(|body| body.contains(needle))
    }

    #[test]
    fn the_reference_example_is_the_deltanet_baseline_and_checks() {
        let block = fenced_block_with(LANGUAGE_REFERENCE, "mixer deltanet")
            .expect("language.md shows the deltanet program in a fenced block");
        let program = parse(block).unwrap_or_else(|d| panic!("the example does not parse: {d:?}"));
        for dims in [Dims::DEFAULT, Dims { d: 32, h: 4 }, Dims { d: 96, h: 3 }] {
            let checked = check(&program, dims);
            let errors: Vec<_> = checked.diagnostics.iter().filter(|d| d.is_error()).collect();
            assert!(errors.is_empty() && checked.graph.is_some(), "at {dims:?}: {errors:?}");
        }
        let baseline = baselines::get("deltanet").unwrap();
        assert_eq!(program_hash(&program), program_hash(&baseline.program()));
        assert_eq!(block.trim(), baseline.source.trim(), "the example is the baseline, in full");
    }

    #[test]
    fn the_reference_names_every_operation_and_block_option() {
        for op in lineage_arch::lang::check::OPS {
            assert!(LANGUAGE_REFERENCE.contains(&format!("`{op}(")), "language.md lacks `{op}(…)`");
        }
        for name in NormKind::ALL.iter().map(|(_, n)| n).chain(MlpKind::ALL.iter().map(|(_, n)| n)) {
            assert!(LANGUAGE_REFERENCE.contains(name), "language.md lacks block option {name}");
        }
        for word in ["decay", "erase", "along", "mask", "init", "causal", "range("] {
            assert!(LANGUAGE_REFERENCE.contains(word), "language.md lacks {word}");
        }
    }
}
