//! App licenses: `GET/PUT/DELETE {key}-key/license` (upm-rest-api.md §5.10). Every non-blank text
//! is accepted as a valid commercial license; the text itself is never logged.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::http;
use super::state::{now_ms, LicenseRecord, Shared};
use super::upm::{self, Call, ERROR, GENERIC};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

pub(crate) async fn handle(
    shared: &Shared,
    call: &Call,
    method: &Method,
    segment: &str,
    body: Body,
) -> Response {
    let consumes: &[&str] = if *method == Method::PUT {
        &[GENERIC]
    } else {
        &[]
    };
    if let Err(response) = call.negotiate(consumes, Some(GENERIC)) {
        return response;
    }
    if let Err(response) = call.require_user() {
        return response;
    }
    let key = match upm::plugin_key(segment) {
        Ok(key) => key,
        Err(response) => return response,
    };
    match *method {
        Method::PUT => put(shared, &key, body).await,
        Method::DELETE => delete(shared, &key),
        _ => {
            let state = shared.lock();
            let uses_licensing = state
                .plugins
                .get(&key)
                .is_some_and(|plugin| plugin.uses_licensing);
            // Always 200, also for unknown plugins and plugins without a license (§5.10).
            let body = representation(shared, &key, uses_licensing, state.visible_license(&key));
            http::json(StatusCode::OK, GENERIC, &body)
        }
    }
}

/// `GET /installed-marketplace` (upm-rest-api.md §5.11): the user-installed Marketplace apps, each
/// with its `licenseDetails` (the license representation of §5.10, `rawLicense` included) when it
/// has a license, plus the user's upm-token header (§5.2). `?updates=true` is ignored (no
/// `update` field: that would ask the Marketplace).
///
/// guess: "Marketplace apps" are the user-installed plugins the Marketplace lists (the
/// simulator's catalog); in-house apps are left out. guess: an app without a license has no
/// `licenseDetails` (UPM leaves nulls out, §8).
pub(crate) fn installed_marketplace(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(GENERIC)) {
        return response;
    }
    let user = match call.require_user() {
        Ok((user, _)) => user.to_string(),
        Err(response) => return response,
    };
    let mut state = shared.lock();
    let token = state.upm_token(call.node(), &user);
    let plugins: Vec<Value> = state
        .plugins
        .values()
        .filter(|plugin| plugin.user_installed)
        .filter(|plugin| shared.catalog.iter().any(|app| app.key == plugin.key))
        .map(|plugin| {
            let link = upm::plugin_link(shared, &plugin.key);
            let mut entry = Map::new();
            entry.insert(
                "links".into(),
                json!({"self": link.clone(), "alternate": link}),
            );
            entry.insert("key".into(), json!(plugin.key));
            entry.insert("name".into(), json!(plugin.name));
            entry.insert("licenseReadOnly".into(), json!(false));
            entry.insert("dataCenterCompatible".into(), json!(true));
            if let Some(license) = state.visible_license(&plugin.key) {
                entry.insert(
                    "licenseDetails".into(),
                    representation(shared, &plugin.key, plugin.uses_licensing, Some(license)),
                );
            }
            Value::Object(entry)
        })
        .collect();
    drop(state);
    let base = shared.upm_rest_path();
    let mut response = http::json(
        StatusCode::OK,
        GENERIC,
        &json!({
            "plugins": plugins,
            "links": {"self": format!("{base}/installed-marketplace")},
            "hostStatus": {},
        }),
    );
    http::set_named_header(&mut response, "upm-token", &token.to_string());
    response
}

/// PUT `{"rawLicense": "…"}`: 404 unknown plugin, 412 no licensing, 400 blank or identical,
/// else set or replace (§5.10).
async fn put(shared: &Shared, key: &str, body: Body) -> Response {
    let request = match upm::read_json(body).await {
        Ok(value) => value,
        Err(response) => return response,
    };
    let raw = request
        .get("rawLicense")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut state = shared.lock();
    let Some(plugin) = state.plugins.get(key) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    if !plugin.uses_licensing {
        return http::json(
            StatusCode::PRECONDITION_FAILED,
            ERROR,
            &json!({"subCode": "upm.plugin.error.plugin.not.using.licensing"}),
        );
    }
    let current = state
        .visible_license(key)
        .map(|license| license.raw.as_str());
    if raw.trim().is_empty() || current == Some(raw.as_str()) {
        return http::json(
            StatusCode::BAD_REQUEST,
            ERROR,
            &json!({"subCode": "upm.plugin.license.error.invalid.update"}),
        );
    }
    let record = LicenseRecord {
        raw,
        set_at_ms: now_ms(),
    };
    let body = representation(shared, key, true, Some(&record));
    state.licenses.insert(key.to_string(), record);
    tracing::debug!(plugin = key, "license set");
    http::json(StatusCode::OK, GENERIC, &body)
}

/// DELETE: 200 with the previous license's representation (§5.10).
fn delete(shared: &Shared, key: &str) -> Response {
    let mut state = shared.lock();
    let Some(plugin) = state.plugins.get(key) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    let uses_licensing = plugin.uses_licensing;
    let previous = state.licenses.remove(key);
    let body = representation(shared, key, uses_licensing, previous.as_ref());
    http::json(StatusCode::OK, GENERIC, &body)
}

/// `PluginLicenseRepresentation`: only links, key, `valid:false`, `active:false` without a license.
fn representation(
    shared: &Shared,
    key: &str,
    uses_licensing: bool,
    license: Option<&LicenseRecord>,
) -> Value {
    let plugin_link = upm::plugin_link(shared, key);
    let license_link = format!("{plugin_link}/license");
    let mut links = BTreeMap::new();
    links.insert("self", license_link.clone());
    links.insert("alternate", plugin_link);
    links.insert("license", license_link.clone());
    if uses_licensing {
        links.insert("update-license", license_link.clone());
        links.insert(
            "validate-downgrade",
            format!("{license_link}/validate-downgrade"),
        );
    }
    let mut body = Map::new();
    body.insert("links".into(), json!(links));
    body.insert("pluginKey".into(), json!(key));
    let Some(license) = license else {
        body.insert("valid".into(), json!(false));
        body.insert("active".into(), json!(false));
        return Value::Object(body);
    };
    // guess: a perpetual-looking commercial license with a year of maintenance from when it was set.
    let created = license.set_at_ms;
    let expiry = created + 365 * DAY_MS;
    let digest = hex::encode(Sha256::digest(license.raw.as_bytes()));
    let sen = u64::from_str_radix(&digest[..8], 16).unwrap_or(0) % 100_000_000;
    let fields = json!({
        "valid": true,
        "active": true,
        "evaluation": false,
        "nearlyExpired": false,
        "maintenanceExpiryDate": expiry,
        "maintenanceExpiryDateString": date_string(expiry),
        "maintenanceExpired": false,
        "licenseType": "COMMERCIAL",
        "licenseTypeDescriptionKey": "upm.plugin.license.type.commercial",
        "creationDateString": date_string(created),
        "expiryDate": expiry,
        "expiryDateString": date_string(expiry),
        "rawLicense": license.raw,
        "renewable": true,
        "supportEntitlementNumber": format!("SEN-{sen:08}"),
        "organizationName": "Simulated Organization",
        "contactEmail": "admin@example.com",
        "enterprise": false,
        "dataCenter": true,
        "subscription": false,
        "autoRenewal": false,
        "upgradable": false,
        "crossgradeable": false,
        "forged": false,
        "purchasePastServerCutoffDate": false,
        "typeI18nSingular": "user",
        "typeI18nPlural": "users",
    });
    if let Value::Object(fields) = fields {
        body.extend(fields);
    }
    Value::Object(body)
}

/// `dd/Mon/yy`, the format of UPM's `*DateString` fields (e.g. `07/Dec/15`).
fn date_string(epoch_ms: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = civil_from_days((epoch_ms / DAY_MS) as i64);
    let month_name = MONTHS
        .get((month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    format!("{day:02}/{month_name}/{:02}", year.rem_euclid(100))
}

/// Days since 1970-01-01 to (year, month 1–12, day), Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_like_upm() {
        assert_eq!(date_string(0), "01/Jan/70");
        // 2015-12-07 (the KB example's creationDateString).
        assert_eq!(date_string(1_449_446_400_000), "07/Dec/15");
        assert_eq!(date_string(1_709_164_800_000), "29/Feb/24");
    }
}
