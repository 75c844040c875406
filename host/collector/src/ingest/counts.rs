//! Counts-only mode's uploads (`agent-telemetry/counts`), taken at the native path beside
//! batches: one document of counters per installation, product version and day. Checked as
//! strictly as a batch (unknown fields refused, names within [`MAX_TEXT`](super::MAX_TEXT), a known kind for
//! every counter, at most [`MAX_COUNTERS`] of them, a date for the period) before it is stored.

use agent_telemetry_contract::counts::{self, MAX_COUNTERS, Upload};

use super::{Refused, day_ms, known_kind};

/// The upload in `body`.
pub fn parse(body: &[u8]) -> Result<Upload, Refused> {
    let upload: Upload =
        serde_json::from_slice(body).map_err(|_| Refused::new("not a valid counts upload"))?;
    if upload.schema_version != counts::SCHEMA_VERSION {
        return Err(Refused::new(format!(
            "counts schema_version {} is not supported",
            upload.schema_version
        )));
    }
    if counts::Period::parse(&upload.period).map(counts::Period::as_str)
        != Some(upload.period.as_str())
    {
        return Err(Refused::new("a counts upload's period is a day or a week"));
    }
    if counts::day_of(&upload.period_start) != Some(upload.period_start.as_str()) {
        return Err(Refused::new("a counts upload's period_start is a date"));
    }
    day_ms(&upload.period_start)?;
    if upload.counters.len() > MAX_COUNTERS {
        return Err(Refused::too_large(format!(
            "more than {MAX_COUNTERS} counters"
        )));
    }
    let names = [
        &upload.upload_id,
        &upload.installation_id,
        &upload.product,
        &upload.product_version,
        &upload.os,
    ];
    let counters = upload.counters.iter().flat_map(|c| {
        [&c.subject, &c.outcome]
            .into_iter()
            .flatten()
            .chain([&c.kind])
    });
    for name in names.into_iter().chain(counters) {
        super::text(name)?;
    }
    if upload.upload_id.is_empty() || upload.installation_id.is_empty() {
        return Err(Refused::new(
            "a counts upload names its upload and installation",
        ));
    }
    let counted = upload
        .counters
        .iter()
        .try_fold(upload.overflow, |sum, c| sum.checked_add(c.count));
    if i64::try_from(upload.events).is_err()
        || i64::try_from(upload.overflow).is_err()
        || counted != Some(upload.events)
    {
        return Err(Refused::new(
            "a counts upload's events are not its counters' counts",
        ));
    }
    for c in &upload.counters {
        if known_kind(&c.kind).is_none() {
            return Err(Refused::new("a counter of an unknown kind"));
        }
        // At most MAX_COST_USD an event, as for the events themselves.
        if !(c.cost_usd.is_finite()
            && c.cost_usd >= 0.0
            && c.cost_usd <= super::MAX_COST_USD * c.count as f64)
        {
            return Err(Refused::new(
                "a cost is negative, not finite, or over $1,000,000 an event",
            ));
        }
        let too_many = |n: u64| i64::try_from(n).is_err();
        if [
            c.count,
            c.duration_ms,
            c.input_tokens,
            c.output_tokens,
            c.costed,
        ]
        .into_iter()
        .chain(c.duration_buckets.iter().copied())
        .chain(c.token_buckets.iter().copied())
        .any(too_many)
            || c.duration_buckets.len() > counts::DURATION_BUCKETS_MS.len() + 1
            || c.token_buckets.len() > counts::TOKEN_BUCKETS.len() + 1
        {
            return Err(Refused::new("a counter is out of range"));
        }
    }
    Ok(upload)
}
