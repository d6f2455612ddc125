use super::*;
use inbox_core::config::StaticVariables;
use inbox_core::http::{Headers, StatusCode};

fn json(text: &str) -> Box<serde_json::value::RawValue> {
    payload(BodyFormat::Json, JSON, text).unwrap()
}

#[test]
fn every_header_a_row_reads_is_kept() {
    for provider in Provider::ALL {
        let spec = spec(*provider);
        let kept = spec.kept_headers();
        assert!(kept.contains(&"content-type"));
        // Every header the row reads is kept, so a stored delivery can be re-verified and
        // re-identified.
        for field in [Some(spec.delivery_id), Some(spec.event_type), spec.action]
            .into_iter()
            .flatten()
        {
            if let Field::Header(name) = field {
                assert!(kept.contains(&name), "{provider}: {name}");
            }
        }
    }
    let mut variables: Vec<_> = secret_variables().collect();
    variables.sort_unstable();
    variables.dedup();
    assert_eq!(variables.len(), Provider::ALL.len());
}

#[test]
fn standard_secrets_must_decode_and_errors_never_echo_them() {
    let vars = StaticVariables::from_pairs([("webhook_standard_secret", "whsec_!!")]);
    let error = Secrets::load(
        "webhook_standard_secret",
        SecretFormat::StandardWebhooks,
        &vars,
    )
    .unwrap_err();
    assert_eq!(error.variable(), "webhook_standard_secret");
    assert!(!error.to_string().contains("!!"), "{error}");
}

#[test]
fn unset_secrets_mean_not_configured() {
    for provider in Provider::ALL {
        let secrets = Secrets::load(
            provider.secret_variable(),
            provider.spec().secret_format,
            &StaticVariables::default(),
        )
        .unwrap();
        assert!(secrets.is_empty());
    }
}

#[test]
fn secrets_may_be_labelled_and_bare_ones_keep_their_equals_signs() {
    let vars = StaticVariables::from_pairs([(
        "s",
        "org-a=alpha-secret org-b=beta=secret =gamma=with=equals whsec_ZTJlLXN0YW5kYXJk==",
    )]);
    let Secrets::Text(secrets) = Secrets::load("s", SecretFormat::Text, &vars).unwrap() else {
        panic!("text secrets");
    };
    let seen: Vec<(Option<&str>, &str)> = secrets
        .iter()
        .map(|s| (s.label.as_ref().map(|l| l.as_str()), s.key.expose()))
        .collect();
    assert_eq!(
        seen,
        [
            (Some("org-a"), "alpha-secret"),
            (Some("org-b"), "beta=secret"),
            (None, "gamma=with=equals"),
            (None, "whsec_ZTJlLXN0YW5kYXJk=="),
        ]
    );
    // Standard Webhooks keys take labels too.
    let vars =
        StaticVariables::from_pairs([("s", "svix-eu=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]);
    let secrets = Secrets::load("s", SecretFormat::StandardWebhooks, &vars).unwrap();
    assert_eq!(secrets.label(0).map(|l| l.as_str()), Some("svix-eu"));
}

#[test]
fn malformed_labels_name_the_variable_and_the_entry_never_the_secret() {
    for list in [
        "ok=fine -bad=s3cret-value",
        &format!("{}=s3cret-value", "a".repeat(33)),
        "ok=fine empty=",
    ] {
        let vars = StaticVariables::from_pairs([("webhook_github_secret", list)]);
        let error = Secrets::load("webhook_github_secret", SecretFormat::Text, &vars).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.variable(), "webhook_github_secret");
        assert!(
            text.contains("entry 2") || text.contains("entry 1"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }
}

#[test]
fn github_forms_carry_json_in_payload() {
    let json = payload(
        BodyFormat::JsonOrFormPayload,
        FORM,
        "payload=%7B%22zen%22%3A%22ok%22%7D&other=1",
    )
    .unwrap();
    assert_eq!(json.get(), r#"{"zen":"ok"}"#);
    assert_eq!(
        payload(BodyFormat::JsonOrFormPayload, FORM, "other=1")
            .unwrap_err()
            .errors()[0]
            .field,
        "form:payload"
    );
    assert!(payload(BodyFormat::JsonOrFormPayload, FORM, "payload=nope").is_err());
}

#[test]
fn payload_must_be_a_json_object() {
    assert!(payload(BodyFormat::Json, JSON, " {\"a\":1}").is_ok());
    for bad in ["", "[1]", "\"text\"", "{", "{\"a\":1} trailing"] {
        assert_eq!(
            payload(BodyFormat::Json, JSON, bad).unwrap_err().status(),
            StatusCode::BAD_REQUEST,
            "{bad:?}"
        );
    }
}

fn identify_(
    spec: &Spec,
    headers: &Headers,
    payload: &serde_json::value::RawValue,
) -> Result<Identity, inbox_core::problem::Problem> {
    identify(spec, headers, payload, payload.get().as_bytes())
}

fn fields(problem: &inbox_core::problem::Problem) -> Vec<&str> {
    problem.errors().iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn identify_names_each_missing_field() {
    let body = json(r#"{"id": 5.5}"#);
    let problem = identify_(spec(Provider::Stripe), &Headers::new(), &body).unwrap_err();
    assert_eq!(fields(&problem), ["/id", "/type"]);
    let problem = identify_(spec(Provider::Github), &Headers::new(), &body).unwrap_err();
    assert_eq!(
        fields(&problem),
        ["header:x-github-delivery", "header:x-github-event"]
    );
    let problem = identify_(spec(Provider::Slack), &Headers::new(), &json("{}")).unwrap_err();
    assert_eq!(fields(&problem), ["/event_id", "/event/type"]);
}

#[test]
fn identify_reads_each_providers_locations() {
    let mut headers = Headers::new();
    for (name, value) in [
        ("x-github-delivery", "d-1"),
        ("x-github-event", "issues"),
        ("webhook-id", "msg_1"),
        ("x-shopify-webhook-id", "b54557e4"),
        ("x-shopify-topic", "orders/create"),
        ("linear-delivery", "234d1a4e"),
        ("linear-event", "Issue"),
    ] {
        headers.insert(name, value);
    }
    let body = json(
        r#"{"id":"evt_1","type":"invoice.paid","action":"opened","event_id":"Ev9",
            "event":{"type":"app_mention","x":{"y":1}}}"#,
    );
    let read = |provider| {
        let identity = identify_(spec(provider), &headers, &body).unwrap();
        (
            identity.delivery_id.as_str().to_owned(),
            identity.event_type.map(|t| t.as_str().to_owned()),
            identity.action.map(|a| a.as_str().to_owned()),
        )
    };
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(
        read(Provider::Github),
        ("d-1".into(), some("issues"), some("opened"))
    );
    assert_eq!(
        read(Provider::Stripe),
        ("evt_1".into(), some("invoice.paid"), None)
    );
    assert_eq!(
        read(Provider::Standard),
        ("msg_1".into(), some("invoice.paid"), None)
    );
    assert_eq!(
        read(Provider::Shopify),
        ("b54557e4".into(), some("orders/create"), None)
    );
    assert_eq!(
        read(Provider::Slack),
        ("Ev9".into(), some("app_mention"), None)
    );
    assert_eq!(
        read(Provider::Linear),
        ("234d1a4e".into(), some("Issue"), some("opened"))
    );
}

#[test]
fn standard_webhooks_without_a_type_are_untyped_and_other_providers_need_one() {
    let mut headers = Headers::new();
    headers.insert("webhook-id", "msg_untyped");
    let identity = identify_(spec(Provider::Standard), &headers, &json(r#"{"data":{}}"#)).unwrap();
    assert_eq!(identity.event_type, None);
    // A type that is there but not a string is still an error.
    let problem = identify_(
        spec(Provider::Standard),
        &headers,
        &json(r#"{"type":true}"#),
    )
    .unwrap_err();
    assert_eq!(fields(&problem), ["/type"]);
}

#[test]
fn a_github_action_is_recorded_only_when_it_is_a_string() {
    let mut headers = Headers::new();
    headers.insert("x-github-delivery", "d-2");
    headers.insert("x-github-event", "check_run");
    for body in [
        r#"{"zen":"x"}"#,
        r#"{"action":{"nested":true}}"#,
        r#"{"action":null}"#,
    ] {
        let identity = identify_(spec(Provider::Github), &headers, &json(body)).unwrap();
        assert_eq!(identity.action, None, "{body}");
    }
    let problem = identify_(
        spec(Provider::Github),
        &headers,
        &json(r#"{"action":"has space"}"#),
    )
    .unwrap_err();
    assert_eq!(fields(&problem), ["/action"]);
}

#[test]
fn json_pointers_follow_rfc_6901_escapes() {
    let body = json(r#"{"a/b":{"c~d":"found"},"plain":"p"}"#);
    assert!(matches!(
        extract_pointer(&body, "/a~1b/c~0d").as_deref(),
        Some("found")
    ));
    assert_eq!(extract_pointer(&body, "/missing"), None);
    assert_eq!(extract_pointer(&body, "/plain/deeper"), None);
}

fn extract_pointer(payload: &serde_json::value::RawValue, pointer: &'static str) -> Option<String> {
    let spec = Spec {
        delivery_id: Field::Json(pointer),
        ..specs_for_tests()
    };
    identify_(&spec, &Headers::new(), payload)
        .ok()
        .map(|identity| identity.delivery_id.as_str().to_owned())
}

fn specs_for_tests() -> Spec {
    Spec {
        delivery_id: Field::Json("/id"),
        event_type: Field::Json("/type"),
        type_required: false,
        action: None,
        handshake: None,
        ..*Provider::Standard.spec()
    }
}

fn no_secrets() -> Secrets {
    Secrets::load("unset", SecretFormat::Text, &StaticVariables::default()).unwrap()
}

fn answer(
    provider: Provider,
    headers: &Headers,
    payload: &str,
) -> Result<Option<Answer>, inbox_core::problem::Problem> {
    after_verification(spec(provider), headers, &json(payload), &no_secrets())
}

#[test]
fn slack_url_verification_is_a_handshake_answered_with_its_challenge() {
    let none = Headers::new();
    let challenge = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    assert_eq!(
        answer(Provider::Slack, &none, challenge).unwrap(),
        Some(Answer::Text(
            "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned()
        ))
    );
    let callback = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"x"}}"#;
    assert_eq!(answer(Provider::Slack, &none, callback).unwrap(), None);
    assert_eq!(
        answer(Provider::Slack, &none, r#"{"type":"url_verification"}"#)
            .unwrap_err()
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Other providers have no such handshake.
    assert_eq!(answer(Provider::Github, &none, challenge).unwrap(), None);
}

#[test]
fn a_body_token_is_redacted_wherever_it_appears_and_other_schemes_are_untouched() {
    let figma = spec(Provider::Figma);
    let body = r#"{"event_type":"PING","passcode":"s3cr\"et","echo":"s3cr\"et","n":1}"#;
    let redacted = redact_token(&figma.scheme, body).unwrap();
    assert_eq!(
        redacted,
        r#"{"event_type":"PING","passcode":"[redacted]","echo":"[redacted]","n":1}"#
    );
    // Without the token (or not as a string): nothing to redact.
    assert_eq!(
        redact_token(&figma.scheme, r#"{"event_type":"PING"}"#),
        None
    );
    assert_eq!(redact_token(&figma.scheme, "not json"), None);
    // Signed schemes keep the body byte for byte.
    assert_eq!(redact_token(&spec(Provider::Github).scheme, body), None);
    // Every body-token row redacts.
    for provider in Provider::named() {
        if let webhook_verify::scheme::Scheme::Token(webhook_verify::scheme::Token {
            pointer: Some(_),
            ..
        }) = spec(provider).scheme
        {
            assert!(
                matches!(provider, Provider::Figma | Provider::MicrosoftGraph),
                "{provider}: document its redaction"
            );
        }
    }
}

#[test]
fn microsoft_graph_validation_is_echoed_and_other_posts_are_not_challenges() {
    let graph = spec(Provider::MicrosoftGraph);
    let answer = post_challenge(graph, Some("validationToken=Validation%3A%20a%2Bb"));
    assert_eq!(answer, Some(Answer::Text("Validation: a+b".into())));
    assert_eq!(post_challenge(graph, Some("other=1")), None);
    assert_eq!(post_challenge(graph, None), None);
    assert_eq!(
        post_challenge(spec(Provider::Github), Some("validationToken=x")),
        None
    );
}
