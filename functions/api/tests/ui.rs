//! `GET /ui`: the triage page and its two assets, public, embedded in the binary, under a strict
//! Content-Security-Policy. (The page itself is driven in Chromium by
//! `tests/tests/ui_browser.rs`.)

mod support;

use support::*;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const ASSETS: [(&str, &str); 3] = [
    ("/ui", "text/html; charset=utf-8"),
    ("/ui/app.js", "text/javascript; charset=utf-8"),
    ("/ui/app.css", "text/css; charset=utf-8"),
];

#[tokio::test]
async fn the_page_and_its_assets_are_public_with_security_headers() {
    let app = app();
    for (path, content_type) in ASSETS {
        // No token needed, and a wrong one does not matter: the page holds no data.
        for req in [Req::get(path), Req::get(path).token("wrong")] {
            let r = send(&app, req).await;
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("content-type"), Some(content_type), "{path}");
            assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{path}"
            );
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{path}");
            assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
            assert!(!r.body.is_empty(), "{path}");
        }
    }
    let html = String::from_utf8(send(&app, Req::get("/ui")).await.body).unwrap();
    assert!(html.contains(r#"<script src="/ui/app.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/ui/app.css">"#));
}

#[tokio::test]
async fn other_methods_and_paths_under_ui_are_405_and_404() {
    let app = app();
    for method in ["POST", "PUT", "DELETE"] {
        let r = send(&app, Req::new(method, "/ui")).await;
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("GET"));
    }
    for path in ["/ui/", "/ui/index.html", "/ui/app.js/x", "/ui/app.js.map"] {
        assert_eq!(send(&app, Req::get(path)).await.status, 404, "{path}");
    }
}

fn asset(name: &str) -> String {
    let path = format!("{}/ui/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_page_has_no_inline_code_no_external_urls_and_no_markup_from_data() {
    let html = asset("index.html");
    let lower = html.to_ascii_lowercase();
    // Inline event handlers (`onclick=` ...) and inline styles would need 'unsafe-inline'.
    for (i, _) in lower.match_indices(" on") {
        let attr: String = lower[i + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        assert!(
            !lower[i + 3 + attr.len()..].starts_with('='),
            "inline event handler on{attr}= in index.html"
        );
    }
    assert!(!lower.contains("style="), "inline style attribute");
    assert!(!lower.contains("<style"), "inline style element");
    assert_eq!(
        lower.matches("<script").count(),
        1,
        "one script element, the external one"
    );
    assert!(!lower.contains("javascript:"));
    // Nothing is loaded from elsewhere: no absolute URLs in the page or the stylesheet.
    for (name, text) in [("index.html", &lower), ("app.css", &asset("app.css"))] {
        for scheme in ["http:", "https:", "//", "url(", "@import"] {
            let found = text
                .match_indices(scheme)
                .filter_map(|(i, _)| text.get(i.saturating_sub(20)..(i + 40).min(text.len())))
                .next();
            assert!(found.is_none(), "{name}: {scheme} in {found:?}");
        }
    }
    // The script builds the DOM from text nodes only, and its one absolute URL is the crt.sh
    // link (a navigation the operator chooses, not a load).
    let js = asset("app.js");
    for sink in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setTimeout(\"",
        "localStorage",
    ] {
        assert!(!js.contains(sink), "app.js uses {sink}");
    }
    let urls: Vec<&str> = js
        .match_indices("https://")
        .chain(js.match_indices("http://"))
        .filter_map(|(i, _)| js.get(i..(i + 24).min(js.len())))
        .collect();
    assert_eq!(urls, ["https://crt.sh/?sha256=\""], "{urls:?}");
}

#[test]
fn the_documented_policy_is_the_one_served() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let spec: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let documented = &spec["components"]["headers"]["ContentSecurityPolicy"]["schema"]["const"];
    assert_eq!(documented.as_str(), Some(CSP));
    assert_eq!(api::handlers::ui::CONTENT_SECURITY_POLICY, CSP);
}
