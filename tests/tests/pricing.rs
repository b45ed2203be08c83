//! The price book: currencies and exchange rates, products with flat and tiered prices that
//! change from a stated instant, cost rates, and exact decimal quotes.

use fleet_tests::{json, TestApp};
use reqwest::Method;

#[tokio::test]
async fn currencies_have_one_main_and_rates_that_change_forward() {
    let app = TestApp::spawn().await;
    let put = |path: String, body| {
        let app = &app;
        async move {
            app.request(Some(&app.key), Method::PUT, &path, Some(body), &[])
                .await
        }
    };
    let refused = app
        .post("/v1/currencies", json!({"code": "USD", "rate": "0.92"}))
        .await
        .expect(422);
    assert_eq!(refused.body["errors"][0]["field"], "main");
    app.post("/v1/currencies", json!({"code": "eur", "main": true}))
        .await
        .expect(200);
    app.post("/v1/currencies", json!({"code": "USD", "rate": "0.92"}))
        .await
        .expect(200);
    app.post("/v1/currencies", json!({"code": "USD", "rate": "0.93"}))
        .await
        .expect(409);
    let float = app
        .post("/v1/currencies", json!({"code": "GBP", "rate": 1.17}))
        .await
        .expect(422);
    assert_eq!(
        float.body["errors"][0]["field"], "rate",
        "money never passes through a float"
    );
    app.post("/v1/currencies", json!({"code": "GBP", "main": true}))
        .await
        .expect(422);

    put(
        "/v1/currencies/USD/rate".into(),
        json!({"rate": "0.95", "effective_from": "2020-01-01T00:00:00Z"}),
    )
    .await
    .expect(422);
    let scheduled = put(
        "/v1/currencies/USD/rate".into(),
        json!({"rate": "0.95", "effective_from": "2099-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    let listed = app
        .get_at("/v1/currencies", scheduled.position())
        .await
        .expect(200)
        .body;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items[0]["code"], "EUR");
    assert_eq!(items[0]["main"], true);
    assert_eq!(items[1]["rate"], "0.92", "still in force");
    assert_eq!(items[1]["next_rate"], "0.95");
    put("/v1/currencies/EUR/rate".into(), json!({"rate": "2"}))
        .await
        .expect(422);
    put("/v1/currencies/JPY/rate".into(), json!({"rate": "0.006"}))
        .await
        .expect(404);
}

#[tokio::test]
async fn products_are_rated_flat_or_tiered_with_the_price_of_the_time() {
    let app = TestApp::spawn().await;
    app.post("/v1/currencies", json!({"code": "EUR", "main": true}))
        .await
        .expect(200);
    app.post(
        "/v1/products",
        json!({"code": "vcpu-hour", "name": "vCPU hour", "category": "compute", "unit": "hour",
               "currency": "EUR", "rate_system": "flat", "unit_price": "0.0415",
               "effective_from": "2026-01-01T00:00:00Z"}),
    )
    .await
    .expect(200);
    let created = app
        .post(
            "/v1/products",
            json!({"code": "egress-gb", "name": "Egress", "category": "network", "unit": "GB",
                   "currency": "EUR", "rate_system": "tiered", "tiers": [
                       {"up_to": "100", "unit_price": "0.09"},
                       {"up_to": "1000", "unit_price": "0.07"},
                       {"unit_price": "0.05"}]}),
        )
        .await
        .expect(200);
    for (body, field) in [
        (
            json!({"code": "x", "name": "X", "category": "c", "unit": "u", "currency": "USD", "rate_system": "flat", "unit_price": "1"}),
            "currency",
        ),
        (
            json!({"code": "x", "name": "X", "category": "c", "unit": "u", "currency": "EUR", "rate_system": "tiered", "tiers": [{"up_to": "5", "unit_price": "1"}]}),
            "tiers",
        ),
        (
            json!({"code": "x", "name": "X", "category": "c", "unit": "u", "currency": "EUR", "rate_system": "flat", "unit_price": "-1"}),
            "unit_price",
        ),
    ] {
        let reply = app.post("/v1/products", body).await.expect(422);
        assert_eq!(reply.body["errors"][0]["field"], field);
    }

    let quote = app
        .get_at(
            "/v1/products/vcpu-hour/quote?quantity=720",
            created.position(),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(quote["exact_amount"], "29.8800");
    assert_eq!(quote["amount"], "29.88");
    let quote = app
        .get("/v1/products/egress-gb/quote?quantity=1008.5")
        .await
        .expect(200)
        .body;
    // 100 x 0.09 + 900 x 0.07 + 8.5 x 0.05 = 9 + 63 + 0.425 = 72.425 -> 72.43 (half away from zero)
    assert_eq!(quote["exact_amount"], "72.425");
    assert_eq!(quote["amount"], "72.43");
    assert_eq!(quote["tiers"].as_array().unwrap().len(), 3);

    // A price change takes effect from its instant; before it, the old price still rates.
    let changed = app
        .post(
            "/v1/products/vcpu-hour/prices",
            json!({"rate_system": "flat", "unit_price": "0.05", "effective_from": "2099-01-01T00:00:00Z"}),
        )
        .await
        .expect(200);
    app.post(
        "/v1/products/vcpu-hour/prices",
        json!({"rate_system": "flat", "unit_price": "0.01", "effective_from": "2025-01-01T00:00:00Z"}),
    )
    .await
    .expect(422);
    let now = app
        .get_at(
            "/v1/products/vcpu-hour/quote?quantity=10",
            changed.position(),
        )
        .await
        .body;
    assert_eq!(now["amount"], "0.42");
    let later = app
        .get("/v1/products/vcpu-hour/quote?quantity=10&at=2099-06-01T00:00:00Z")
        .await
        .body;
    assert_eq!(later["amount"], "0.50");
    app.get("/v1/products/vcpu-hour/quote?quantity=10&at=2025-06-01T00:00:00Z")
        .await
        .expect(404);
    let product = app.get("/v1/products/vcpu-hour").await.expect(200).body;
    assert_eq!(
        product["pricing"]["unit_price"], "0.0415",
        "the price in force now"
    );
    assert_eq!(product["prices"].as_array().unwrap().len(), 2);

    let billing = app.api_key("acme", "billing").await;
    let operator = app.api_key("acme", "operator").await;
    let rate = json!({"cloud_provider": "aws", "region": "us-east-1", "instance_type": "m5.large",
                      "hourly": "0.096", "currency": "EUR"});
    let reply = app
        .request(
            Some(&operator),
            Method::PUT,
            "/v1/cost-rates",
            Some(rate.clone()),
            &[],
        )
        .await;
    assert_eq!(reply.status.as_u16(), 403);
    let reply = app
        .request(
            Some(&billing),
            Method::PUT,
            "/v1/cost-rates",
            Some(rate),
            &[],
        )
        .await
        .expect(200);
    let rates = app.get_at("/v1/cost-rates", reply.position()).await.body;
    assert_eq!(rates["items"][0]["hourly"], "0.096");
    let history = app.get("/v1/price-book/events").await.expect(200).body;
    assert_eq!(history["items"].as_array().unwrap().len(), 5);
}
