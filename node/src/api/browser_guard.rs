//! Refuses what a web page could make a visitor's browser send to a node on
//! their machine: the API has no login, so a page on any site could
//! otherwise post, mine or register peers through the browser.
//!
//! - **Host** (DNS rebinding: a hostile name that resolves to 127.0.0.1
//!   makes the page same-origin with the node): the `Host` header must be
//!   an IP address, `localhost`, or a name given with `--allowed-host`; else
//!   403. A request without `Host` (not a browser) passes.
//! - **Cross-site requests**: a browser marks them with `Sec-Fetch-Site:
//!   cross-site` / `same-site` and an `Origin` other than the node's own;
//!   both are refused with 403. Tools (curl, Python `requests`, other nodes)
//!   send neither.
//! - **Content-Type**: a `POST` must say `application/json` (415 otherwise):
//!   a form or `text/plain` body is what a page can send without asking the
//!   node first (a CORS "simple request"), JSON is not.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{Api, text};

/// Runs the checks above before any handler.
pub(super) async fn guard(State(api): State<Api>, request: Request, next: Next) -> Response {
    if let Err((status, reason)) = check(request.method(), request.headers(), &api.allowed_hosts) {
        return text(status, reason);
    }
    next.run(request).await
}

/// The checks, on a request's method and headers.
fn check(method: &Method, headers: &HeaderMap, allowed_hosts: &[String]) -> Result<(), (StatusCode, String)> {
    let forbidden = |reason: String| (StatusCode::FORBIDDEN, reason);
    let host = match headers.get(header::HOST) {
        Some(value) => Some(value.to_str().map_err(|_| forbidden("the Host header is not text".into()))?),
        None => None,
    };
    if let Some(host) = host
        && !host_allowed(host, allowed_hosts)
    {
        return Err(forbidden(format!(
            "Host {host:?} is not allowed: use an IP address or localhost, or start the node with --allowed-host NAME"
        )));
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: typed in the address bar; `same-origin`: the node's own page.
        if !matches!(site.as_bytes(), b"none" | b"same-origin") {
            return Err(forbidden("cross-site requests are refused".into()));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = host.map(|host| format!("http://{host}"));
        if origin.to_str().ok() != own.as_deref() {
            return Err(forbidden("cross-site requests are refused".into()));
        }
    }
    if method == Method::POST && !is_json(headers) {
        return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json".into()));
    }
    Ok(())
}

/// `Host` without its port is an IP address, `localhost`, or one of
/// `allowed` (names compare case-insensitively).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8001`
        Some(rest) => return rest.split_once(']').is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The body is declared JSON: `application/json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn status(method: Method, pairs: &[(&'static str, &'static str)]) -> Option<u16> {
        check(&method, &headers(pairs), &["node.example".to_owned()]).err().map(|(s, _)| s.as_u16())
    }

    #[test]
    fn tools_and_the_nodes_own_origin_pass() {
        assert_eq!(status(Method::GET, &[("host", "127.0.0.1:8001")]), None);
        assert_eq!(status(Method::GET, &[]), None);
        assert_eq!(status(Method::GET, &[("host", "localhost:8001"), ("sec-fetch-site", "none")]), None);
        assert_eq!(status(Method::GET, &[("host", "[::1]:8001"), ("origin", "http://[::1]:8001")]), None);
        assert_eq!(status(Method::GET, &[("host", "NODE.example")]), None);
        let json = [("host", "127.0.0.1:8001"), ("content-type", "application/json; charset=utf-8")];
        assert_eq!(status(Method::POST, &json), None);
        let own =
            [("host", "127.0.0.1:8001"), ("origin", "http://127.0.0.1:8001"), ("content-type", "application/json")];
        assert_eq!(status(Method::POST, &own), None);
    }

    #[test]
    fn other_hosts_cross_site_requests_and_non_json_bodies_are_refused() {
        assert_eq!(status(Method::GET, &[("host", "evil.example:8001")]), Some(403));
        assert_eq!(status(Method::GET, &[("host", "[evil]:8001")]), Some(403));
        assert_eq!(status(Method::GET, &[("host", "127.0.0.1:8001"), ("sec-fetch-site", "cross-site")]), Some(403));
        assert_eq!(status(Method::GET, &[("host", "127.0.0.1:8001"), ("sec-fetch-site", "same-site")]), Some(403));
        assert_eq!(status(Method::GET, &[("host", "127.0.0.1:8001"), ("origin", "http://evil.example")]), Some(403));
        assert_eq!(status(Method::GET, &[("host", "127.0.0.1:8001"), ("origin", "null")]), Some(403));
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let pairs = [("host", "127.0.0.1:8001"), ("content-type", content_type)];
            assert_eq!(status(Method::POST, &pairs), Some(415), "{content_type}");
        }
        assert_eq!(status(Method::POST, &[("host", "127.0.0.1:8001")]), Some(415));
    }
}
