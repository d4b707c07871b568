//! Watch-list entry normalisation and rejection (`ctguard::domain`).
//!
//! Expected Punycode forms are published values (IANA/IDNA test domains, RFC 3492 style
//! examples), not computed by the code under test.

use ctguard::domain::{DomainError, WatchDomain};

fn parsed(input: &str) -> String {
    match WatchDomain::parse(input) {
        Ok(domain) => domain.as_str().to_owned(),
        Err(err) => panic!("{input:?} was rejected: {err}"),
    }
}

#[test]
fn normalises_case_whitespace_trailing_dot_and_leading_wildcard() {
    let cases = [
        ("example.org", "example.org"),
        ("Example.ORG", "example.org"),
        ("  example.org\t\n", "example.org"),
        ("example.org.", "example.org"),
        ("*.example.org", "example.org"),
        ("*.Sub.Example.Org.", "sub.example.org"),
        (" *.WWW.example.org. ", "www.example.org"),
        ("a-b.example.org", "a-b.example.org"),
        // Hyphens in the 3rd and 4th position are real-world names (CDN nodes).
        ("r3---sn-abc.googlevideo.com", "r3---sn-abc.googlevideo.com"),
        ("123.example.org", "123.example.org"),
        // Registrable under a private-section suffix, an exception rule, an unknown TLD.
        ("alice.github.io", "alice.github.io"),
        ("www.ck", "www.ck"),
        ("intranet.internal", "intranet.internal"),
    ];
    for (input, expected) in cases {
        assert_eq!(parsed(input), expected, "input {input:?}");
    }
}

#[test]
fn converts_unicode_to_punycode() {
    let cases = [
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("Bücher.Example.", "xn--bcher-kva.example"),
        ("*.bücher.example", "xn--bcher-kva.example"),
        ("www.Bücher.example", "www.xn--bcher-kva.example"),
        ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
        ("münchen.de", "xn--mnchen-3ya.de"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ("ПРИМЕР.испытание", "xn--e1afmkfd.xn--80akhbyknj4f"),
        // UTS 46 non-transitional processing keeps ß (IDNA2008).
        ("straße.de", "xn--strae-oqa.de"),
        // Full-width letters and the ideographic full stop are mapped to ASCII.
        ("ｅｘａｍｐｌｅ。ｏｒｇ", "example.org"),
    ];
    for (input, expected) in cases {
        assert_eq!(parsed(input), expected, "input {input:?}");
    }
}

#[test]
fn accepts_names_at_the_length_limits() {
    let label63 = "a".repeat(63);
    assert_eq!(
        parsed(&format!("{label63}.example.org")),
        format!("{label63}.example.org")
    );
    // 62 + 62 + 61 + 61 label bytes, 4 dots, "org": exactly 253.
    let name = format!(
        "{}.{}.{}.{}.org",
        "a".repeat(62),
        "b".repeat(62),
        "c".repeat(61),
        "d".repeat(61)
    );
    assert_eq!(name.len(), 253);
    assert_eq!(parsed(&name), name);
}

fn rejected(input: &str) -> DomainError {
    match WatchDomain::parse(input) {
        Ok(domain) => panic!("{input:?} was accepted as {domain}"),
        Err(err) => err,
    }
}

macro_rules! assert_rejected {
    ($input:expr, $pattern:pat) => {{
        let input: &str = $input;
        let err = rejected(input);
        assert!(
            matches!(err, $pattern),
            "{input:?} was rejected as {err:?}, expected {}",
            stringify!($pattern)
        );
        err
    }};
}

#[test]
fn rejects_empty_input() {
    for input in ["", "   ", "\t\n", ".", "*.", " *. "] {
        assert_rejected!(input, DomainError::Empty);
    }
}

#[test]
fn rejects_single_labels() {
    for input in ["com", "COM.", "localhost", "*.org", "intranet"] {
        assert_rejected!(input, DomainError::SingleLabel { .. });
    }
}

#[test]
fn rejects_icann_public_suffixes() {
    // `foo.ck` is a suffix through the wildcard rule `*.ck`; 公司.cn is an IDN suffix.
    for input in ["co.uk", "CO.UK.", "*.co.uk", "com.au", "foo.ck", "公司.cn"] {
        assert_rejected!(input, DomainError::PublicSuffix { .. });
    }
}

#[test]
fn rejects_private_section_suffixes() {
    for input in [
        "github.io",
        "*.github.io",
        "blogspot.com",
        "s3.amazonaws.com",
    ] {
        assert_rejected!(input, DomainError::PrivateSuffix { .. });
    }
}

#[test]
fn rejects_ip_addresses() {
    for input in [
        "192.0.2.1",
        "192.0.2.1.",
        " 10.0.0.1 ",
        "2001:db8::1",
        "[2001:db8::1]",
        "::1",
        "[::ffff:192.0.2.1]",
        // Full-width digits map to an IPv4 address.
        "１９２．０．２．１",
    ] {
        assert_rejected!(input, DomainError::IpAddress { .. });
    }
}

#[test]
fn rejects_numeric_top_level_labels() {
    for input in ["10.0.0", "example.123", "*.1.2"] {
        assert_rejected!(input, DomainError::NumericTld { .. });
    }
}

#[test]
fn rejects_wildcards_other_than_a_leading_one() {
    for input in [
        "*example.org",
        "f*o.example.org",
        "foo.*.example.org",
        "*.*.example.org",
        "example.*",
        "**.example.org",
        "*",
    ] {
        assert_rejected!(input, DomainError::Wildcard { .. });
    }
}

#[test]
fn rejects_empty_labels() {
    for input in [
        "a..example.org",
        ".example.org",
        "example.org..",
        "*..example.org",
        "a。。example.org",
    ] {
        assert_rejected!(input, DomainError::EmptyLabel { .. });
    }
}

#[test]
fn rejects_labels_over_63_bytes() {
    let err = assert_rejected!(
        &format!("{}.example.org", "a".repeat(64)),
        DomainError::LabelTooLong { len: 64, .. }
    );
    assert!(err.to_string().contains("64"), "{err}");
    // 24 CJK characters (72 UTF-8 bytes) whose Punycode label ("xn--" + Python's punycode
    // codec output) is 76 bytes.
    let cjk: String = (0..24u32)
        .filter_map(|i| char::from_u32(0x4E00 + i * 511))
        .collect();
    assert_rejected!(
        &format!("{cjk}.example"),
        DomainError::LabelTooLong { len: 76, .. }
    );
}

#[test]
fn rejects_names_over_253_bytes() {
    let name = format!(
        "{}.{}.{}.{}.org",
        "a".repeat(62),
        "b".repeat(62),
        "c".repeat(62),
        "d".repeat(61)
    );
    assert_eq!(name.len(), 254);
    assert_rejected!(&name, DomainError::TooLong { len: 254, .. });
    // Huge input is refused before any processing, and the message does not echo all of it.
    let huge = "a.".repeat(100_000) + "org";
    let err = assert_rejected!(&huge, DomainError::TooLong { .. });
    assert!(
        err.to_string().len() < 500,
        "message echoes the whole input"
    );
}

#[test]
fn rejects_invalid_characters() {
    let cases = [
        ("exa_mple.org", '_'),
        ("ex ample.org", ' '),
        ("example.org/path", '/'),
        ("user@example.org", '@'),
        ("example.org:443", ':'),
        ("https://example.org", ':'),
        ("exa$mple.org", '$'),
    ];
    for (input, ch) in cases {
        let err = assert_rejected!(input, DomainError::InvalidCharacter { .. });
        assert_eq!(
            err,
            DomainError::InvalidCharacter {
                input: input.to_owned(),
                ch
            }
        );
    }
}

#[test]
fn rejects_hyphens_at_label_edges() {
    for input in ["-example.org", "example-.org", "www.-a.example.org"] {
        assert_rejected!(input, DomainError::HyphenAtLabelEdge { .. });
    }
}

#[test]
fn rejects_invalid_internationalised_names() {
    // Malformed Punycode, an unassigned code point, a lone combining mark at label start.
    for input in [
        "xn--zz-.example",
        "ex\u{0378}ample.org",
        "\u{0301}a.example",
    ] {
        assert_rejected!(input, DomainError::InvalidIdn { .. });
    }
}

#[test]
fn error_messages_name_the_input_and_the_problem() {
    let cases = [
        ("co.uk", "public suffix"),
        ("github.io", "Public Suffix List"),
        ("com", "single label"),
        ("192.0.2.1", "IP address"),
        ("foo.*.example.org", "wildcard"),
        ("a..example.org", "empty label"),
        ("exa_mple.org", "'_'"),
        ("-example.org", "hyphen"),
    ];
    for (input, problem) in cases {
        let message = rejected(input).to_string();
        assert!(
            message.contains(input),
            "{message:?} does not name {input:?}"
        );
        assert!(
            message.contains(problem),
            "{message:?} does not say {problem:?}"
        );
    }
}

#[test]
fn serde_normalises_and_rejects() {
    let domain: WatchDomain = serde_json::from_str("\"*.Bücher.Example.\"").expect("valid");
    assert_eq!(domain.as_str(), "xn--bcher-kva.example");
    assert_eq!(
        serde_json::to_string(&domain).expect("serialise"),
        "\"xn--bcher-kva.example\""
    );
    let err = serde_json::from_str::<WatchDomain>("\"co.uk\"").expect_err("public suffix");
    assert!(err.to_string().contains("public suffix"), "{err}");
}
