//! The Cert Spotter client against the fake Cert Spotter server: paging, resume cursors, query
//! parameters, rate limits, retries, timeouts, bad bodies, budgets and deadlines.

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use ctguard::certspotter::{
    Budget, CertSpotterClient, ClientConfig, FetchError, Issuance, IssuanceQuery, Pager,
    RateLimiter,
};
use ctguard_tests::fake_certspotter::{FakeCertSpotter, Fault, RetryAfter};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

const ALL_EXPANSIONS: [&str; 5] = [
    "dns_names",
    "issuer",
    "revocation",
    "problem_reporting",
    "cert_der",
];

fn cert_der(names: &[&str]) -> Vec<u8> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    rcgen::generate_simple_self_signed(names)
        .expect("rcgen certificate")
        .cert
        .der()
        .to_vec()
}

fn config(fake: &FakeCertSpotter) -> ClientConfig {
    ClientConfig {
        base_url: fake.url(),
        token: None,
        request_timeout: Duration::from_secs(2),
        max_body_bytes: 1024 * 1024,
        max_retries: 3,
        retry_base_delay: Duration::from_millis(20),
        retry_max_delay: Duration::from_millis(100),
    }
}

fn client(config: ClientConfig) -> CertSpotterClient {
    CertSpotterClient::new(config).expect("client")
}

fn query(domain: &str) -> IssuanceQuery {
    IssuanceQuery {
        domain: domain.into(),
        include_subdomains: true,
        match_wildcards: true,
    }
}

fn budget(queries: u32) -> Budget {
    Budget {
        deadline: Instant::now() + Duration::from_secs(30),
        queries_left: queries,
    }
}

/// Adds `n` certificates under `domain`; returns (id, DER) in insertion order.
fn add_certs(fake: &FakeCertSpotter, domain: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|k| {
            let der = cert_der(&[&format!("host{k}.{domain}")]);
            (fake.add_cert_der(&der), der)
        })
        .collect()
}

/// Pages until caught up or stopped: the issuances received, and the error if stopped.
async fn drain(pager: &mut Pager, budget: &mut Budget) -> (Vec<Issuance>, Option<FetchError>) {
    let mut all = Vec::new();
    loop {
        match pager.next_page(budget).await {
            Ok(Some(page)) => {
                assert!(!page.issuances.is_empty(), "a page returned is never empty");
                assert_eq!(page.issuances.last().map(|i| &i.id), Some(&page.cursor));
                all.extend(page.issuances);
            }
            Ok(None) => return (all, None),
            Err(e) => return (all, Some(e)),
        }
    }
}

fn ids(issuances: &[Issuance]) -> Vec<String> {
    issuances.iter().map(|i| i.id.clone()).collect()
}

fn ids_of(added: &[(String, Vec<u8>)]) -> Vec<String> {
    added.iter().map(|(id, _)| id.clone()).collect()
}

#[tokio::test]
async fn pages_across_variable_page_sizes_until_an_empty_page() {
    let fake = FakeCertSpotter::start().await;
    let mut added = Vec::new();
    for k in 0..7 {
        added.extend(add_certs(&fake, "example.com", 1));
        // Interleave names the query must not return.
        fake.add_cert_der(&cert_der(&[&format!("host{k}.example.org")]));
    }
    fake.set_page_sizes(&[3, 1, 2]);
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(100);

    let mut pages = Vec::new();
    while let Some(page) = pager.next_page(&mut budget).await.expect("page") {
        assert_eq!(
            pager.resume_cursor(),
            page.issuances.last().map(|i| i.id.as_str())
        );
        assert_eq!(pager.resume_cursor(), Some(page.cursor.as_str()));
        // Each page starts where the one before ended.
        assert_eq!(
            page.after.as_deref(),
            pages
                .last()
                .map(|p: &ctguard::certspotter::IssuancePage| p.cursor.as_str())
        );
        pages.push(page);
    }
    let sizes: Vec<usize> = pages.iter().map(|p| p.issuances.len()).collect();
    assert_eq!(
        sizes,
        [3, 1, 2, 1],
        "page sizes are whatever the server sends"
    );
    let got: Vec<Issuance> = pages.into_iter().flat_map(|p| p.issuances).collect();
    assert_eq!(ids(&got), ids_of(&added), "every issuance, in order, once");
    assert_eq!(
        pager.resume_cursor(),
        added.last().map(|(id, _)| id.as_str())
    );

    // Values come through intact: hashes computed here from the DER, names from the SAN.
    for (issuance, (_, der)) in got.iter().zip(&added) {
        assert_eq!(issuance.cert_der.as_deref(), Some(der.as_slice()));
        assert_eq!(
            issuance.cert_sha256.0,
            <[u8; 32]>::from(Sha256::digest(der))
        );
        assert_eq!(issuance.dns_names.len(), 1);
        assert!(issuance.dns_names[0].ends_with(".example.com"));
        assert!(issuance.issuer.is_some() && issuance.revocation.is_some());
    }

    // One request per page plus the final empty one, each continuing after the previous page.
    let queries = fake.queries();
    let afters: Vec<Option<&str>> = queries.iter().map(|q| q.param("after")).collect();
    assert_eq!(
        afters,
        [
            None,
            Some(added[2].0.as_str()),
            Some(added[3].0.as_str()),
            Some(added[5].0.as_str()),
            Some(added[6].0.as_str()),
        ]
    );
    assert_eq!(budget.queries_left, 100 - 5, "every request is a query");

    // Caught up: no further request.
    assert!(pager.next_page(&mut budget).await.expect("ok").is_none());
    assert_eq!(fake.queries().len(), 5);
}

#[tokio::test]
async fn resumes_after_a_stored_cursor_and_sees_issuances_added_later() {
    let fake = FakeCertSpotter::start().await;
    let first = add_certs(&fake, "example.com", 4);
    let client = client(config(&fake));

    let mut pager = client.pages(query("example.com"), Some(first[1].0.clone()));
    let (got, err) = drain(&mut pager, &mut budget(10)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&got), ids_of(&first[2..]));
    assert_eq!(fake.queries()[0].param("after"), Some(first[1].0.as_str()));

    // Certificates logged after the run are found from the stored cursor, and only they.
    let cursor = pager.resume_cursor().map(str::to_owned);
    let later = add_certs(&fake, "example.com", 2);
    let mut pager = client.pages(query("example.com"), cursor);
    let (got, err) = drain(&mut pager, &mut budget(10)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&got), ids_of(&later));

    // Nothing new: the cursor stays where it was.
    let cursor = pager.resume_cursor().map(str::to_owned);
    let mut pager = client.pages(query("example.com"), cursor.clone());
    assert!(pager.next_page(&mut budget(1)).await.expect("ok").is_none());
    assert_eq!(pager.resume_cursor().map(str::to_owned), cursor);
}

#[tokio::test]
async fn sends_query_parameters_expansions_user_agent_and_bearer_token() {
    let fake = FakeCertSpotter::start().await;
    fake.require_token("s3cret");
    add_certs(&fake, "example.com", 1);
    let client = client(ClientConfig {
        token: Some("s3cret".into()),
        ..config(&fake)
    });
    let q = IssuanceQuery {
        domain: "example.com".into(),
        include_subdomains: true,
        match_wildcards: false,
    };
    let mut pager = client.pages(q, Some("42".into()));
    pager.next_page(&mut budget(1)).await.expect("authorised");

    let recorded = &fake.queries()[0];
    assert_eq!(recorded.path, "/v1/issuances");
    assert_eq!(recorded.param("domain"), Some("example.com"));
    assert_eq!(recorded.param("include_subdomains"), Some("true"));
    assert_eq!(recorded.param("match_wildcards"), Some("false"));
    assert_eq!(recorded.param("after"), Some("42"));
    let mut expand = recorded.params_named("expand");
    expand.sort_unstable();
    let mut wanted = ALL_EXPANSIONS.to_vec();
    wanted.sort_unstable();
    assert_eq!(expand, wanted);
    assert_eq!(recorded.authorization.as_deref(), Some("Bearer s3cret"));
    assert!(
        recorded
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("ctguard/")),
        "{:?}",
        recorded.user_agent
    );
}

#[tokio::test]
async fn without_a_token_no_authorization_is_sent_and_a_401_is_an_api_error() {
    let fake = FakeCertSpotter::start().await;
    fake.require_token("s3cret");
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let err = pager.next_page(&mut budget(5)).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Api { status: 401, code: Some(c), .. } if c == "unauthorized"),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let queries = fake.queries();
    assert_eq!(queries.len(), 1, "a 401 is not retried");
    assert_eq!(queries[0].authorization, None);
}

#[tokio::test]
async fn domain_filter_covers_subdomains_and_wildcards_as_asked() {
    let fake = FakeCertSpotter::start().await;
    let www = fake.add_cert_der(&cert_der(&["www.example.com"]));
    let wildcard = fake.add_cert_der(&cert_der(&["*.example.com"]));
    let apex = fake.add_cert_der(&cert_der(&["example.com"]));
    let deep = fake.add_cert_der(&cert_der(&["a.b.example.com"]));
    fake.add_cert_der(&cert_der(&["www.example.org", "notexample.com"]));
    let client = client(config(&fake));

    let cases = [
        (
            ("example.com", true, true),
            vec![&www, &wildcard, &apex, &deep],
        ),
        (("example.com", false, true), vec![&apex]),
        (("www.example.com", false, true), vec![&www, &wildcard]),
        (("www.example.com", false, false), vec![&www]),
    ];
    for ((domain, include_subdomains, match_wildcards), expected) in cases {
        let q = IssuanceQuery {
            domain: domain.into(),
            include_subdomains,
            match_wildcards,
        };
        let (got, err) = drain(&mut client.pages(q.clone(), None), &mut budget(5)).await;
        assert!(err.is_none(), "{err:?}");
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&got), expected, "{q:?}");
    }
}

#[tokio::test]
async fn waits_out_a_429_whose_retry_after_fits_the_deadline() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Seconds(1)),
    });
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(10);

    let started = Instant::now();
    let page = pager
        .next_page(&mut budget)
        .await
        .expect("retried after the wait");
    assert_eq!(ids(&page.expect("a page").issuances), ids_of(&added));
    assert!(started.elapsed() >= Duration::from_secs(1));

    let queries = fake.queries();
    assert_eq!(queries.len(), 2);
    assert!(queries[1].at - queries[0].at >= Duration::from_secs(1));
    assert_eq!(budget.queries_left, 8, "the 429 counted as a query");
}

#[tokio::test]
async fn a_429_beyond_the_deadline_stops_with_the_cursor_at_the_last_full_page() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 4);
    fake.set_page_sizes(&[2]);
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(10);

    let first = pager
        .next_page(&mut budget)
        .await
        .expect("page")
        .expect("some");
    assert_eq!(ids(&first.issuances), ids_of(&added[..2]));
    fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Seconds(60)),
    });
    let started = Instant::now();
    let err = pager.next_page(&mut budget).await.unwrap_err();
    assert!(
        matches!(err, FetchError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(60)),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "did not wait");
    assert_eq!(pager.resume_cursor(), Some(added[1].0.as_str()));
    assert_eq!(fake.queries().len(), 2, "no retry was attempted");

    // The next run resumes from the stored cursor and loses nothing.
    let cursor = pager.resume_cursor().map(str::to_owned);
    let (rest, err) = drain(&mut client.pages(query("example.com"), cursor), &mut budget).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&rest), ids_of(&added[2..]));
}

#[tokio::test]
async fn an_http_date_retry_after_is_understood() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Date(
            SystemTime::now() + Duration::from_secs(3600),
        )),
    });
    let client = client(config(&fake));
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .unwrap_err();
    let FetchError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("expected RateLimited with a wait, got {err:?}");
    };
    // HTTP dates have one-second resolution.
    assert!(
        (Duration::from_secs(3590)..=Duration::from_secs(3600)).contains(&wait),
        "{wait:?}"
    );
    assert_eq!(fake.queries().len(), 1);
}

#[tokio::test]
async fn a_429_without_retry_after_stops_at_once() {
    let fake = FakeCertSpotter::start().await;
    fake.push_fault(Fault::RateLimited { retry_after: None });
    let client = client(config(&fake));
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RateLimited { retry_after: None }),
        "{err:?}"
    );
    assert_eq!(fake.queries().len(), 1);
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 2);
    fake.push_fault(Fault::Status(500));
    fake.push_fault(Fault::Status(503));
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let page = pager.next_page(&mut budget(10)).await.expect("retried");
    assert_eq!(ids(&page.expect("a page").issuances), ids_of(&added));
    let queries = fake.queries();
    assert_eq!(queries.len(), 3);
    assert!(queries.iter().all(|q| q.param("after").is_none()));
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_bounded_retries_keeping_the_cursor() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 2);
    fake.set_page_sizes(&[1]);
    let client = client(config(&fake)); // max_retries = 3
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(20);
    pager.next_page(&mut budget).await.expect("first page");

    for _ in 0..6 {
        fake.push_fault(Fault::Status(500));
    }
    let err = pager.next_page(&mut budget).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::ServerError {
                status: 500,
                attempts: 4
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.queries().len(), 1 + 4);
    assert_eq!(pager.resume_cursor(), Some(added[0].0.as_str()));

    // Calling again retries the same page (from the same cursor).
    fake.clear_queries();
    let _ = pager.next_page(&mut budget).await;
    assert_eq!(fake.queries()[0].param("after"), Some(added[0].0.as_str()));
}

#[tokio::test]
async fn a_response_slower_than_the_request_timeout_is_retried() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::Delay(Duration::from_secs(3)));
    let client = client(ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config(&fake)
    });
    let started = Instant::now();
    let page = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .expect("second attempt answers");
    assert_eq!(ids(&page.expect("a page").issuances), ids_of(&added));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the slow attempt was abandoned"
    );
    assert_eq!(fake.queries().len(), 2);
}

#[tokio::test]
async fn persistent_timeouts_end_with_a_timeout_error() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::Delay(Duration::from_secs(3)));
    fake.push_fault(Fault::Delay(Duration::from_secs(3)));
    let client = client(ClientConfig {
        request_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..config(&fake)
    });
    let mut pager = client.pages(query("example.com"), None);
    let err = pager.next_page(&mut budget(10)).await.unwrap_err();
    assert!(
        matches!(err, FetchError::Timeout { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(pager.resume_cursor(), None);
    assert_eq!(fake.queries().len(), 2);
}

#[tokio::test]
async fn truncated_json_is_an_error_never_a_partial_page() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 5);
    fake.set_page_sizes(&[2]);
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(10);
    pager.next_page(&mut budget).await.expect("first page");

    fake.push_fault(Fault::TruncatedJson);
    let err = pager.next_page(&mut budget).await.unwrap_err();
    assert!(matches!(err, FetchError::MalformedBody { .. }), "{err:?}");
    assert_eq!(pager.resume_cursor(), Some(added[1].0.as_str()));
    assert_eq!(fake.queries().len(), 2, "a bad body is not retried");

    // The same page is fetched again whole on the next call.
    let page = pager
        .next_page(&mut budget)
        .await
        .expect("page")
        .expect("some");
    assert_eq!(ids(&page.issuances), ids_of(&added[2..4]));
}

#[tokio::test]
async fn malformed_json_is_an_error_and_the_cursor_stays() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::MalformedJson);
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), Some("7".into()));
    let err = pager.next_page(&mut budget(10)).await.unwrap_err();
    assert!(matches!(err, FetchError::MalformedBody { .. }), "{err:?}");
    assert_eq!(pager.resume_cursor(), Some("7"));
}

#[tokio::test]
async fn a_connection_cut_mid_body_is_retried() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 3);
    fake.push_fault(Fault::AbortBody);
    let client = client(config(&fake));
    let page = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .expect("retried");
    assert_eq!(ids(&page.expect("a page").issuances), ids_of(&added));
    assert_eq!(fake.queries().len(), 2);
}

#[tokio::test]
async fn a_400_surfaces_the_api_error_object() {
    let fake = FakeCertSpotter::start().await;
    fake.push_fault(Fault::ApiError {
        status: 400,
        code: "invalid_domain".into(),
        message: "The domain is not valid.".into(),
    });
    let client = client(config(&fake));
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .unwrap_err();
    match &err {
        FetchError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(code.as_deref(), Some("invalid_domain"));
            assert_eq!(message, "The domain is not valid.");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(err.to_string().contains("invalid_domain"));
    assert_eq!(fake.queries().len(), 1, "not retried");
}

#[tokio::test]
async fn a_body_over_the_cap_is_rejected_with_or_without_content_length() {
    let fake = FakeCertSpotter::start().await;
    let limit = 64 * 1024;
    let client = client(ClientConfig {
        max_body_bytes: limit,
        ..config(&fake)
    });
    // Control: the same kind of body under the cap is a valid (empty) page.
    fake.push_fault(Fault::Oversized {
        bytes: limit / 2,
        chunked: true,
    });
    let page = client
        .pages(query("example.com"), None)
        .next_page(&mut budget(10))
        .await
        .expect("under the cap");
    assert!(page.is_none());

    for chunked in [true, false] {
        fake.push_fault(Fault::Oversized {
            bytes: 4 * 1024 * 1024,
            chunked,
        });
        let mut pager = client.pages(query("example.com"), Some("9".into()));
        let err = pager.next_page(&mut budget(10)).await.unwrap_err();
        assert!(
            matches!(err, FetchError::ResponseTooLarge { limit: l } if l == limit),
            "chunked={chunked}: {err:?}"
        );
        assert_eq!(pager.resume_cursor(), Some("9"));
    }
    assert_eq!(fake.queries().len(), 3, "too large is not retried");
}

#[tokio::test]
async fn budget_exhaustion_mid_paging_reports_where_it_stopped() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 5);
    fake.set_page_sizes(&[2]);
    let client = client(config(&fake));
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = budget(2);
    let (got, err) = drain(&mut pager, &mut budget).await;
    assert!(matches!(err, Some(FetchError::BudgetExhausted)), "{err:?}");
    assert_eq!(ids(&got), ids_of(&added[..4]));
    assert_eq!(pager.resume_cursor(), Some(added[3].0.as_str()));
    assert_eq!(budget.queries_left, 0);
    assert_eq!(fake.queries().len(), 2);

    let cursor = pager.resume_cursor().map(str::to_owned);
    let (rest, err) = drain(
        &mut client.pages(query("example.com"), cursor),
        &mut self::budget(5),
    )
    .await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(ids(&rest), ids_of(&added[4..]));
}

#[tokio::test]
async fn retries_spend_the_budget_too() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    for _ in 0..3 {
        fake.push_fault(Fault::Status(503));
    }
    let client = client(config(&fake)); // would retry 3 times
    let mut budget = budget(2);
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::ServerError {
                status: 503,
                attempts: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(budget.queries_left, 0);
    assert_eq!(fake.queries().len(), 2);
}

#[tokio::test]
async fn stops_before_the_deadline_between_pages() {
    let fake = FakeCertSpotter::start().await;
    let added = add_certs(&fake, "example.com", 3);
    fake.set_page_sizes(&[1]);
    // The first page takes 800 ms; after it, less than one request timeout (1 s) is left.
    fake.push_fault(Fault::Delay(Duration::from_millis(800)));
    let client = client(ClientConfig {
        request_timeout: Duration::from_secs(1),
        ..config(&fake)
    });
    let mut pager = client.pages(query("example.com"), None);
    let mut budget = Budget {
        deadline: Instant::now() + Duration::from_millis(1500),
        queries_left: 10,
    };
    let (got, err) = drain(&mut pager, &mut budget).await;
    assert!(matches!(err, Some(FetchError::DeadlineReached)), "{err:?}");
    assert_eq!(ids(&got), ids_of(&added[..1]));
    assert_eq!(pager.resume_cursor(), Some(added[0].0.as_str()));
    assert_eq!(fake.queries().len(), 1);
    assert!(
        Instant::now() <= budget.deadline,
        "stopped before the deadline"
    );
}

#[tokio::test]
async fn no_request_starts_when_the_deadline_is_nearer_than_the_request_timeout() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    let client = client(ClientConfig {
        request_timeout: Duration::from_secs(5),
        ..config(&fake)
    });
    let mut budget = Budget {
        deadline: Instant::now() + Duration::from_secs(2),
        queries_left: 10,
    };
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::DeadlineReached), "{err:?}");
    assert!(fake.queries().is_empty());
    assert_eq!(budget.queries_left, 10);
}

#[tokio::test]
async fn a_429_wait_that_would_overrun_the_deadline_is_not_waited() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "example.com", 1);
    fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Seconds(1)),
    });
    let client = client(ClientConfig {
        request_timeout: Duration::from_secs(1),
        ..config(&fake)
    });
    // 1 s wait + 1 s request does not fit in 1.5 s.
    let mut budget = Budget {
        deadline: Instant::now() + Duration::from_millis(1500),
        queries_left: 10,
    };
    let err = client
        .pages(query("example.com"), None)
        .next_page(&mut budget)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(fake.queries().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// One rate limiter shared by every request of a process (entries polled at once).

#[tokio::test]
async fn pagers_sharing_a_limiter_share_its_rate() {
    let fake = FakeCertSpotter::start().await;
    fake.set_page_sizes(&[1]);
    add_certs(&fake, "a.example", 3);
    add_certs(&fake, "b.example", 3);
    // 20 requests a second, no burst: one every 50 ms for both pagers together.
    let limiter = Arc::new(RateLimiter::new(20.0, 1));
    let client = client(config(&fake)).with_rate_limiter(limiter);
    let (mut a, mut b) = (
        client.pages(query("a.example"), None),
        client.pages(query("b.example"), None),
    );
    let (mut budget_a, mut budget_b) = (budget(10), budget(10));
    let ((got_a, err_a), (got_b, err_b)) =
        tokio::join!(drain(&mut a, &mut budget_a), drain(&mut b, &mut budget_b));
    assert!(err_a.is_none() && err_b.is_none(), "{err_a:?} {err_b:?}");
    assert_eq!((got_a.len(), got_b.len()), (3, 3));

    let mut at: Vec<Instant> = fake.queries().iter().map(|q| q.at).collect();
    at.sort();
    assert_eq!(at.len(), 8, "three pages and the empty page each");
    // Eight turns 50 ms apart: the last starts 350 ms after the first (a little transit
    // jitter allowed), and both pagers were interleaved rather than one after the other.
    let span = at[7] - at[0];
    assert!(
        span >= Duration::from_millis(330),
        "8 requests within {span:?}"
    );
    let domains: Vec<String> = fake
        .queries()
        .iter()
        .map(|q| q.param("domain").unwrap_or("").to_owned())
        .collect();
    assert_ne!(domains[..4], ["a.example"; 4], "{domains:?}");
}

#[tokio::test]
async fn a_429_pauses_every_pager_sharing_the_limiter() {
    let fake = FakeCertSpotter::start().await;
    add_certs(&fake, "a.example", 1);
    add_certs(&fake, "b.example", 1);
    // The first request is told to come back in 1 s.
    fake.push_fault(Fault::RateLimited {
        retry_after: Some(RetryAfter::Seconds(1)),
    });
    let limiter = Arc::new(RateLimiter::new(100.0, 10));
    let client = client(config(&fake)).with_rate_limiter(limiter.clone());

    let first = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut pager = client.pages(query("a.example"), None);
            let mut budget = budget(10);
            pager
                .next_page(&mut budget)
                .await
                .map(|p| p.map(|p| p.issuances.len()))
        })
    };
    // Once the 429 is seen the limiter is paused (the first pager waits it out itself)…
    let paused_at = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if limiter.paused_until().is_some() {
                return Instant::now();
            }
            // Polling a condition, not waiting for time to pass.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the 429 pauses the limiter");
    // …and another pager's request waits for the pause too, though it never saw a 429.
    let mut other = client.pages(query("b.example"), None);
    let page = other.next_page(&mut budget(10)).await.expect("page");
    assert_eq!(page.map(|p| p.issuances.len()), Some(1));
    assert_eq!(first.await.expect("join").expect("first page"), Some(1));

    let queries = fake.queries();
    assert_eq!(queries.len(), 3, "the 429, then one request per pager");
    let rate_limited_at = queries[0].at;
    for q in &queries[1..] {
        assert!(
            q.at - rate_limited_at >= Duration::from_millis(950),
            "a request {:?} after the 429 (paused at +{:?})",
            q.at - rate_limited_at,
            paused_at - rate_limited_at
        );
    }
}
