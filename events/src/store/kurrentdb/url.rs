//! The store URL: parsing and checking it, the stream prefix it may set, the store's location
//! without the password, and the names of the store's streams.

use ::kurrentdb::ClientSettings;

use super::StoreError;
use crate::ids::CampaignId;

/// The URL schemes this store answers to.
pub(crate) const SCHEMES: [&str; 4] = ["kurrentdb", "kurrentdb+discover", "esdb", "esdb+discover"];

/// Stream names start with this unless the URL says otherwise.
const DEFAULT_PREFIX: &str = "lineage";

/// The URL parameter (lineage's own, removed before the URL reaches the client) that sets the
/// prefix of every stream name, so that several lineage stores can share one server.
const PREFIX_PARAM: &str = "streamPrefix";

/// Longest stream prefix: stream names also carry a campaign id of up to 64 bytes.
const PREFIX_LEN_MAX: usize = 32;

/// The names of a store's streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Streams {
    prefix: String,
}

impl Streams {
    /// The stream that holds `campaign`'s log.
    pub(super) fn campaign(&self, campaign: &CampaignId) -> String {
        format!("{}-{campaign}", self.prefix)
    }

    /// The campaign index: a name without `-`, outside every prefix's campaign namespace.
    pub(super) fn index(&self) -> String {
        format!("{}_campaigns", self.prefix)
    }

    /// What every campaign stream's name starts with (the subscription's filter).
    pub(super) fn campaign_prefix(&self) -> String {
        format!("{}-", self.prefix)
    }
}

/// A parsed store URL: the client's settings, the stream names and the location for messages.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) settings: ClientSettings,
    pub(super) streams: Streams,
    pub(super) location: String,
}

/// The URL with its password, if any, replaced by `***`, for error messages. Works on any text,
/// parseable or not.
pub(super) fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (&url[..scheme.len() + 3], rest),
        None => ("", url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}{user}:***@{hosts}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The password in a URL's user information, if any.
pub(super) fn password(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, password)| password).filter(|password| !password.is_empty())
}

/// The store's location: scheme, user and hosts, without password or client parameters (but
/// with a non-default stream prefix, which names a different store).
pub(super) fn describe(url: &str, prefix: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("kurrentdb", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}@{hosts}")
        }
        None => authority.to_owned(),
    };
    if prefix == DEFAULT_PREFIX {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}?{PREFIX_PARAM}={prefix}")
    }
}

fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= PREFIX_LEN_MAX
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
}

/// Parses and validates a store URL. Every error is one [`StoreError::InvalidUrl`] naming the
/// URL without its password.
pub(super) fn parse_target(url: &str) -> Result<Target, StoreError> {
    let shown = redact(url);
    let password = password(url);
    let invalid = |reason: String| {
        // The client's messages do not quote the URL (a URL it cannot parse is handled below);
        // in case one ever does, its password is hidden (unless too short to tell from text).
        let reason = match password {
            Some(password) if password.len() >= 4 => reason.replace(password, "***"),
            _ => reason,
        };
        StoreError::InvalidUrl { url: shown.clone(), reason }
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("expected kurrentdb://HOST:PORT (or esdb://…)".into()));
    };
    if !SCHEMES.contains(&scheme) {
        return Err(invalid(format!("unknown scheme {scheme:?}; use one of {}", SCHEMES.join(", "))));
    }
    if rest.contains('#') {
        return Err(invalid("a KurrentDB URL has no fragment ('#')".into()));
    }
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut prefix = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key.eq_ignore_ascii_case(PREFIX_PARAM) {
            if prefix.is_some() {
                return Err(invalid(format!("{PREFIX_PARAM} is given twice")));
            }
            if !valid_prefix(value) {
                return Err(invalid(format!(
                    "{PREFIX_PARAM}={value:?}: use 1-{PREFIX_LEN_MAX} characters from A-Z a-z 0-9 '_' '.'"
                )));
            }
            prefix = Some(value.to_owned());
        } else {
            kept.push(pair);
        }
    }
    let client_url = if kept.is_empty() {
        format!("{scheme}://{base}")
    } else {
        format!("{scheme}://{base}?{}", kept.join("&"))
    };
    let settings: ClientSettings =
        client_url.parse().map_err(|e: ::kurrentdb::ClientSettingsParseError| {
            // A URL the `url` crate cannot parse comes back with the whole URL as its message:
            // name the parse error instead.
            invalid(match e.error() {
                Some(cause) => format!("not a valid URL: {cause}"),
                None => e.message().to_owned(),
            })
        })?;
    let prefix = prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    Ok(Target { settings, location: describe(url, &prefix), streams: Streams { prefix } })
}
