//! `/docs`: a reference page for every document fleetd serves, whose every asset is served by
//! fleetd itself (vendored, compiled in) and whose policy lets it load nothing from elsewhere.

use fleet_tests::TestApp;

/// The `src` and `href` values of a page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for part in html.split(attribute).skip(1) {
            if let Some(end) = part.find('"') {
                found.push(part[..end].to_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn every_document_has_a_reference_page_that_needs_nothing_from_outside() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let index = http.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(index.status(), 200);
    let index = index.text().await.unwrap();
    let pages: Vec<String> = references(&index)
        .into_iter()
        .filter(|r| r.starts_with("/docs/") && !r.starts_with("/docs/assets/"))
        .collect();
    assert_eq!(
        pages,
        [
            "/docs/native",
            "/docs/waldur",
            "/docs/omnistrate",
            "/docs/ormuco",
            "/docs/astra",
            "/docs/cloudcockpit"
        ]
    );

    for page in &pages {
        let response = http
            .get(format!("{}{page}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{page}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.starts_with("default-src 'self'"), "{policy}");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{page}: {html}"
        );
        let assets = references(&html);
        assert!(
            assets
                .iter()
                .any(|a| a == "/docs/assets/swagger-ui-bundle.js"),
            "{page}: {assets:?}"
        );
        for asset in assets.iter().filter(|a| a.starts_with("/docs/assets/")) {
            let response = http
                .get(format!("{}{asset}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{asset}");
            let kind = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let expected = if asset.ends_with(".js") {
                "text/javascript"
            } else {
                "text/css"
            };
            assert!(kind.starts_with(expected), "{asset}: {kind}");
            assert!(
                response.bytes().await.unwrap().len() > 100,
                "{asset} is empty"
            );
        }
        // The page names its document, which fleetd serves.
        let document = html
            .split("data-document=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a document path");
        let body: serde_json::Value = http
            .get(format!("{}{document}", app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            body["openapi"].as_str().unwrap().starts_with("3."),
            "{document}"
        );
        assert!(
            body["paths"].as_object().is_some_and(|p| !p.is_empty()),
            "{document}"
        );
    }

    // Swagger UI is kept from sending documents to its online validator.
    let starter = http
        .get(format!("{}/docs/assets/reference.js", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(starter.contains("validatorUrl: null"), "{starter}");

    let unknown = http
        .get(format!("{}/docs/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );
    let missing = http
        .get(format!("{}/docs/assets/../Cargo.toml", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
