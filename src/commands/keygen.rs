//! `lineage keygen FILE`: a new Ed25519 signing key for `run --signing-key`. The secret goes to
//! a new file readable by its owner only (an existing file is never overwritten); the public
//! key is printed, for `verify --public-key`.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use lineage_events::SigningKey;

pub fn run(file: &Path) -> anyhow::Result<()> {
    let key = SigningKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out =
        options.open(file).with_context(|| format!("cannot create the key file {}", file.display()))?;
    writeln!(out, "{}", key.to_hex())
        .and_then(|()| out.sync_all())
        .with_context(|| format!("cannot write the key file {}", file.display()))?;
    crate::output::print(&format!(
        "signing key written to {} (keep it secret: it is never recorded)\npublic key {}",
        file.display(),
        key.public_key()
    ))
}

/// The signing key to run with: the file `--signing-key` names, else the variable
/// `LINEAGE_SIGNING_KEY` (64 hex digits), else none.
pub fn load(file: Option<&Path>) -> anyhow::Result<Option<SigningKey>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the signing key {}", file.display()))?;
        let key = SigningKey::from_hex(&text).with_context(|| format!("signing key {}", file.display()))?;
        return Ok(Some(key));
    }
    match std::env::var("LINEAGE_SIGNING_KEY") {
        Ok(text) => Ok(Some(SigningKey::from_hex(&text).context("LINEAGE_SIGNING_KEY")?)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("LINEAGE_SIGNING_KEY: not a signing key (not UTF-8)")
        }
    }
}
