//! The `[llm]` table of a campaign config: the defaults (`presets/llm.toml`), the user's table
//! over them, `--llm` and `--model` over both, and the validation of the result.

use lineage_events::payload::{LlmConfig, LlmRole, RoleMode};

use super::{ConfigError, Overrides, fail, overlay};

const DEFAULTS: &str = include_str!("../../presets/llm.toml");

/// Keys the defaults leave out because they have no default.
const OPTIONAL: [&str; 4] = ["price_input_per_1k", "price_output_per_1k", "tokens_max", "cost_max"];

/// The LLM config, when the file has an `[llm]` table or the flags name a server.
pub(super) fn resolve(
    table: Option<toml::Value>,
    overrides: &Overrides,
    file: &str,
) -> Result<Option<LlmConfig>, ConfigError> {
    if table.is_none() && overrides.llm_url.is_none() && overrides.llm_model.is_none() {
        return Ok(None);
    }
    let mut merged: toml::Table = DEFAULTS.parse().expect("the LLM defaults are valid TOML");
    match table {
        None => {}
        Some(toml::Value::Table(mut user)) => {
            for key in OPTIONAL {
                if let Some(value) = user.remove(key) {
                    merged.insert(key.into(), value);
                }
            }
            overlay(&mut merged, user, "llm")
                .map_err(|key| ConfigError(format!("{file}: unknown key `{key}`")))?;
        }
        Some(other) => return fail(format!("{file}: `llm` must be a table, not {}", other.type_str())),
    }
    if let Some(url) = &overrides.llm_url {
        merged.insert("base_url".into(), toml::Value::String(url.clone()));
    }
    if let Some(model) = &overrides.llm_model {
        merged.insert("model".into(), toml::Value::String(model.clone()));
    }
    let config: LlmConfig = serde_path_to_error::deserialize(toml::Value::Table(merged))
        .map_err(|e| ConfigError(format!("config key `llm.{}`: {}", e.path(), e.inner().message())))?;
    validate(&config)?;
    Ok(Some(config))
}

/// Checks every value of an LLM config; the first problem in one line naming the key.
pub fn validate(config: &LlmConfig) -> Result<(), ConfigError> {
    if config.base_url.trim().is_empty() {
        return fail(
            "llm.base_url is not set: give the server with --llm URL (e.g. http://127.0.0.1:8080/v1)",
        );
    }
    base_url(&config.base_url)?;
    if config.model.trim().is_empty() {
        return fail("llm.model is not set: name the model with --model NAME");
    }
    // The name is recorded, printed and written into programs' doc comments: one line of text.
    if let Some(c) = config.model.chars().find(|c| lineage_events::visible::invisible(*c)) {
        return fail(format!(
            "llm.model {:?} holds the invisible character {:?}: a model's name is one line of visible text",
            config.model, c
        ));
    }
    let env_ok = config.api_key_env.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && config.api_key_env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !env_ok {
        return fail(format!("llm.api_key_env {:?} is not an environment variable name", config.api_key_env));
    }
    range("llm.temperature", config.temperature, 0.0, 2.0)?;
    range("llm.max_tokens", f64::from(config.max_tokens), 16.0, 65_536.0)?;
    range("llm.timeout_s", config.timeout_s as f64, 1.0, 3600.0)?;
    range("llm.retries", f64::from(config.retries), 0.0, 10.0)?;
    range("llm.attempts", f64::from(config.attempts), 1.0, 10.0)?;
    range("llm.mixed_share", config.mixed_share, 0.0, 1.0)?;
    for (key, price) in [
        ("llm.price_input_per_1k", config.price_input_per_1k),
        ("llm.price_output_per_1k", config.price_output_per_1k),
    ] {
        if let Some(price) = price {
            range(key, price, 0.0, 1e6)?;
        }
    }
    if config.tokens_max == Some(0) {
        return fail("llm.tokens_max = 0 leaves nothing to spend; leave it out for no cap");
    }
    if let Some(cost) = config.cost_max
        && !(cost > 0.0 && cost.is_finite())
    {
        return fail(format!("llm.cost_max = {cost} must be above 0; leave it out for no cap"));
    }
    for role in LlmRole::ALL {
        if role != LlmRole::Researcher && config.roles.of(role) == RoleMode::Mixed {
            return fail(format!("llm.roles.{role} = \"mixed\": only the researcher can be mixed"));
        }
    }
    Ok(())
}

fn range(key: &str, value: f64, min: f64, max: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        fail(format!("config key {key} = {value} is out of range: allowed {min}..={max}"))
    }
}

/// An `http://` or `https://` URL with a host.
fn base_url(url: &str) -> Result<(), ConfigError> {
    let parsed: ureq::http::Uri =
        url.parse().map_err(|e| ConfigError(format!("llm.base_url {url:?} is not a URL: {e}")))?;
    let scheme_ok = matches!(parsed.scheme_str(), Some("http" | "https"));
    if !scheme_ok || parsed.host().is_none_or(str::is_empty) {
        return fail(format!("llm.base_url {url:?} must be an http:// or https:// URL with a host"));
    }
    if parsed.authority().is_some_and(|a| a.as_str().contains('@')) {
        return fail(
            "llm.base_url must not carry a user or password (it is recorded); put the key in the variable named by llm.api_key_env",
        );
    }
    if parsed.query().is_some() || url.contains('#') {
        return fail(format!("llm.base_url {url:?} must not have a query or a fragment"));
    }
    let port = parsed.authority().and_then(|a| a.as_str().rsplit_once(':')).map(|(_, port)| port);
    let port = port.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if port.is_some_and(|p| p.parse::<u16>().is_err() || p.parse::<u16>() == Ok(0)) {
        return fail(format!("llm.base_url {url:?} names no valid port: a port is 1 to 65535"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(url: Option<&str>, model: Option<&str>) -> Overrides {
        Overrides { llm_url: url.map(Into::into), llm_model: model.map(Into::into), ..Overrides::default() }
    }

    fn error(table: Option<&str>, overrides: &Overrides) -> String {
        let table = table.map(|t| toml::Value::Table(t.parse().unwrap()));
        resolve(table, overrides, "c.toml").unwrap_err().to_string()
    }

    #[test]
    fn the_flags_alone_make_a_config_with_every_role_played_by_the_model() {
        assert_eq!(resolve(None, &Overrides::default(), "c.toml").unwrap(), None);
        let config =
            resolve(None, &flags(Some("http://127.0.0.1:8080/v1"), Some("m")), "c.toml").unwrap().unwrap();
        assert_eq!((config.base_url.as_str(), config.model.as_str()), ("http://127.0.0.1:8080/v1", "m"));
        assert!(LlmRole::ALL.iter().all(|r| config.roles.of(*r) == RoleMode::Llm));
        assert_eq!(config.api_key_env, "OPENAI_API_KEY");
    }

    #[test]
    fn a_table_overrides_the_defaults_and_bad_values_are_named() {
        let table = "base_url = \"https://api.example.org/v1\"\nmodel = \"m\"\ntokens_max = 5000\n\
                     price_input_per_1k = 0.01\n[roles]\nresearcher = \"mixed\"\njudge = \"builtin\"";
        let parsed = toml::Value::Table(table.parse().unwrap());
        let config = resolve(Some(parsed), &Overrides::default(), "c.toml").unwrap().unwrap();
        assert_eq!((config.tokens_max, config.price_input_per_1k), (Some(5000), Some(0.01)));
        assert_eq!((config.roles.researcher, config.roles.judge), (RoleMode::Mixed, RoleMode::Builtin));
        let cases = [
            (Some("model = \"m\""), flags(None, None), "llm.base_url is not set"),
            (None, flags(Some("ftp://host/v1"), Some("m")), "http:// or https://"),
            (None, flags(Some("not a url"), Some("m")), "is not a URL"),
            (None, flags(Some("http://h/v1"), None), "llm.model is not set"),
            (Some("temperature = 5.0"), flags(Some("http://h/v1"), Some("m")), "llm.temperature = 5"),
            (Some("colour = 1"), flags(Some("http://h/v1"), Some("m")), "unknown key `llm.colour`"),
            (
                Some("[roles]\njudge = \"mixed\""),
                flags(Some("http://h/v1"), Some("m")),
                "only the researcher",
            ),
            (
                Some("[roles]\njudge = \"sometimes\""),
                flags(Some("http://h/v1"), Some("m")),
                "llm.roles.judge",
            ),
            (Some("tokens_max = 0"), flags(Some("http://h/v1"), Some("m")), "tokens_max = 0"),
            (Some("api_key_env = \"MY KEY\""), flags(Some("http://h/v1"), Some("m")), "not an environment"),
            (None, flags(Some("https://user:sk-1@h/v1"), Some("m")), "must not carry a user or password"),
            (None, flags(Some("http://h/v1#frag"), Some("m")), "must not have a query or a fragment"),
            (None, flags(Some("http://h/v1?x=1"), Some("m")), "must not have a query or a fragment"),
            (None, flags(Some("http://h:99999/v1"), Some("m")), "names no valid port"),
            (None, flags(Some("http://h:0/v1"), Some("m")), "names no valid port"),
            (None, flags(Some("http://h/v1"), Some("fake\nmodel")), "holds the invisible character '\\n'"),
            (None, flags(Some("http://h/v1"), Some("m\u{202e}x")), "holds the invisible character"),
            (None, flags(Some("http://h/v1"), Some("m\u{200b}")), "holds the invisible character"),
        ];
        for (table, overrides, expected) in cases {
            let message = error(table, &overrides);
            assert!(message.contains(expected), "{table:?}: {message}");
        }
    }
}
