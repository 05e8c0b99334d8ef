//! Snippets for the message list when the server offers no PREVIEW: a byte range of each
//! message's first text part, fetched in one pipelined flight and decoded even when the cut
//! falls inside base64, quoted-printable or a multibyte character. On Dovecot with PREVIEW
//! switched off, and on Cyrus, which offers PREVIEW but answers NIL.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed setup should fail loudly

use std::collections::BTreeMap;

use anvert_core::{
    mime,
    net::Purpose,
    policy::{ContentPolicy, NetworkKind, SyncRequest, SyncWindow},
};
use anvert_tests::{
    client::SyncClient,
    cyrus::Cyrus,
    generator::{GenConfig, MessageTruth, SizeMix},
    server::{Extensions, TestServer},
};

/// The snippet a reader would compute from the whole first text part of the truth.
fn expected_snippet(t: &MessageTruth) -> Option<String> {
    let part = t
        .parts
        .iter()
        .filter(|p| p.disposition.as_deref() != Some("attachment") && p.filename.is_none())
        .filter(|p| p.mime_type == "text/plain" || p.mime_type == "text/html")
        .min_by_key(|p| (p.mime_type != "text/plain", p.section.split('.').count()))?;
    let text = part.text.as_deref()?;
    let text = if part.mime_type == "text/html" {
        mime::html_to_text(text)
    } else {
        text.to_string()
    };
    Some(mime::snippet(&text, 200))
}

mod snippets_without_preview_cost_a_few_hundred_bytes_each_and_match_the_full_text {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dovecot_without_preview() {
        let server = Extensions {
            preview: false,
            ..Extensions::default()
        }
        .dovecot();
        snippets_match(&server).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cyrus_answering_preview_nil() {
        snippets_match(&Cyrus::start()).await;
    }
}

async fn snippets_match(server: &dyn TestServer) {
    let truth = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 41,
            count: 120,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    let client = SyncClient::new().await;
    let n = 512;
    let content = ContentPolicy {
        snippet_messages: 50,
        snippet_bytes: n,
        ..ContentPolicy::for_network(NetworkKind::Metered)
    };
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        content: Some(content),
        ..SyncRequest::default()
    };
    let report = client.sync(server, server.imaps_addr(), &request).await;
    assert_eq!(report.folders[0].snippets, 50, "{report:?}");
    let snippet_bytes = report.bytes.total_for(Purpose::Snippets);
    let bound = 50 * (u64::from(n) + 150) + 2_000;
    eprintln!(
        "{}: snippets for 50 messages: {snippet_bytes} B on the wire (bound {bound} B)",
        server.name()
    );
    assert!(snippet_bytes <= bound, "{snippet_bytes} B > {bound} B");
    assert_eq!(
        report.bytes.total_for(Purpose::Bodies) + report.bytes.total_for(Purpose::Attachments),
        0
    );

    let by_id: BTreeMap<&str, &MessageTruth> =
        truth.iter().map(|t| (t.message_id.as_str(), t)).collect();
    let folder = client.folder("INBOX").await;
    let stored = client.all_messages(folder).await;
    let mut compared = 0;
    for m in stored.iter().take(50) {
        let id = m
            .message_id
            .as_deref()
            .unwrap()
            .trim_matches(|c| c == '<' || c == '>');
        let t = by_id[id];
        let got = m
            .summary
            .preview
            .clone()
            .unwrap_or_else(|| panic!("message {} has no snippet", t.index));
        assert!(
            got.chars().count() <= 200 && !got.contains('\u{FFFD}'),
            "{got:?}"
        );
        if let Some(want) = expected_snippet(t) {
            // The fetched range may decode to less text than the whole part: then the snippet
            // is a prefix of the full one (cut at a word boundary).
            assert!(
                want == got || want.starts_with(got.trim_end()),
                "message {}:\n got {got:?}\nwant {want:?}",
                t.index
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "compared {compared}");
    // Older messages got none: snippets are for the newest only.
    assert!(stored[50..].iter().all(|m| m.summary.preview.is_none()));
}
