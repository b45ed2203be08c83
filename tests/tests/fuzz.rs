//! Bad input, generated from the documents: schemathesis (PyPI) runs against every OpenAPI
//! document fleetd serves, the native one and each dialect's, with its examples, fuzzing and
//! stateful phases (links it infers between operations). Its checks: no 5xx, every response
//! conforms to its documented schema, status code and content type.
//!
//! `make test` runs a short pass with a fixed seed; `make fuzz` (`FLEET_FUZZ=long`) a long one,
//! with the coverage phase too. `FLEET_FUZZ_SEED` picks another seed.

use std::path::PathBuf;

use fleet_tests::billing::{generate, price_book, record, record_usage};
use fleet_tests::{json, TestApp};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

const SECRET: &str = "fuzz-test-secret-of-32-bytes-at-least-ok";

fn schemathesis() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../target/venv-fuzz/bin/schemathesis"
    ));
    assert!(
        path.exists(),
        "{} is missing: `make test` (or `make fuzz-venv`) creates it",
        path.display()
    );
    path
}

fn cockpit_token() -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let now = jsonwebtoken::get_current_timestamp();
    encode(
        &header,
        &json!({"sub": "fuzzer", "tenant": "acme", "role": "csp", "exp": now + 7200}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn every_document_holds_up_to_generated_requests() {
    let app = TestApp::spawn_with(&[
        ("FLEET_JWT_HS256_SECRETS", &format!("k1={SECRET}")),
        ("FLEET_CLOUDCOCKPIT_TENANTS", "portal.acme.example=acme"),
    ])
    .await;
    // Something to find: a price book, a running instance, usage and an invoice.
    price_book(&app).await;
    app.running_instance().await;
    record_usage(
        &app,
        vec![record(
            &app.subscription_id,
            "f-1",
            "unit",
            "2",
            "2026-09-10",
        )],
    )
    .await;
    generate(&app, &app.customer_id, "2026-09")
        .await
        .expect(201);

    let long = std::env::var("FLEET_FUZZ").is_ok_and(|v| v == "long");
    let (examples, phases) = if long {
        ("100", "examples,coverage,fuzzing,stateful")
    } else {
        ("5", "examples,fuzzing,stateful")
    };
    let seed = std::env::var("FLEET_FUZZ_SEED").unwrap_or_else(|_| "1".into());
    let key = app.key.clone();
    let token = cockpit_token();
    let documents: [(&str, &str, Vec<String>); 6] = [
        (
            "native",
            "/v1/openapi.json",
            vec![format!("Authorization: Bearer {key}")],
        ),
        (
            "waldur",
            "/api/openapi.json",
            vec![format!("Authorization: Token {key}")],
        ),
        (
            "omnistrate",
            "/2022-09-01-00/fleet/openapi.json",
            vec![format!("Authorization: Bearer {key}")],
        ),
        (
            "ormuco",
            "/reseller/billing/v1/openapi.json",
            vec![format!("X-Reseller-Api-Key: {key}")],
        ),
        (
            "astra",
            "/accounts/openapi.json",
            vec![format!("Authorization: Bearer {key}")],
        ),
        (
            "cloudcockpit",
            "/v1/Customers/openapi.json",
            vec![
                format!("Authorization: Bearer {token}"),
                "X-Tenant: portal.acme.example".into(),
            ],
        ),
    ];
    let mut failed = Vec::new();
    for (name, document, headers) in &documents {
        let mut command = tokio::process::Command::new(schemathesis());
        command
            .arg("run")
            .arg(format!("{}{document}", app.base))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance",
                "--seed",
                &seed,
                "--max-examples",
                examples,
                "--phases",
                phases,
                "--workers",
                "1",
                "--no-color",
            ])
            // Its own files (a cache of found examples) stay out of the tree.
            .current_dir(std::env::temp_dir());
        for header in headers {
            command.args(["--header", header]);
        }
        let output = command.output().await.expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary: String = stdout
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!("== {name}\n{summary}");
        if !output.status.success() {
            failed.push(format!(
                "== {name} ({document}) with seed {seed}:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
