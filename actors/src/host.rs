//! This machine, as events record it: where a campaign started or resumed and where a run
//! trained. Its own module so that the campaign loop and the trainers both use it without
//! depending on each other.

use lineage_events::payload::HostInfo;

/// This machine, for the record.
pub fn host() -> HostInfo {
    let hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    HostInfo {
        hostname: if hostname.is_empty() { "unknown".into() } else { hostname.into() },
        platform: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH).into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}
