//! A small mailbox with one large base64 attachment, and an engine synced over it: the
//! setup the attachment download tests share (`content_every_server.rs`,
//! `download_upgrade.rs`).

use std::{net::SocketAddr, path::Path};

use anvert_core::{
    engine::{Engine, EngineConfig},
    imap::ConnectOptions,
    policy::{NetworkKind, SyncRequest, SyncWindow},
    store::{AccountId, MessageId},
};

use crate::{
    client::engine_with_alice,
    generator::{GenConfig, MessageTruth, PartTruth, SizeMix},
    server::TestServer,
};

/// A server with the generated mailbox, and its largest base64 attachment.
pub struct Mailbox {
    pub truth: Vec<MessageTruth>,
    pub message_id: String,
    pub part: PartTruth,
}

/// Delivers six messages with attachments of up to 3 MiB into alice's INBOX; the largest
/// base64 one (at least 200 KB) is the one to download.
pub fn deliver(server: &dyn TestServer) -> Mailbox {
    let truth = server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 61,
            count: 6,
            mix: SizeMix {
                attachment_prob: 1.0,
                medium_prob: 1.0,
                huge_prob: 0.0,
                max_attachment: 3 << 20,
            },
            ..GenConfig::default()
        },
    );
    let (message_id, part) = truth
        .iter()
        .flat_map(|m| m.parts.iter().map(move |p| (m.message_id.clone(), p)))
        .filter(|(_, p)| p.disposition.as_deref() == Some("attachment") && p.encoding == "base64")
        .max_by_key(|(_, p)| p.decoded_size)
        .map(|(m, p)| (m, p.clone()))
        .expect("an attachment");
    assert!(part.decoded_size >= 200_000, "{}", part.decoded_size);
    Mailbox {
        truth,
        message_id,
        part,
    }
}

/// An engine connecting to `addr` (the server, or a tap in front of it) with `connect`,
/// synced (metered: headers only), and the stored id of the attachment's message.
pub async fn synced(
    server: &dyn TestServer,
    addr: SocketAddr,
    dir: &Path,
    connect: ConnectOptions,
    mailbox: &Mailbox,
) -> (Engine, AccountId, MessageId) {
    let (engine, account) = engine_with_alice(
        server,
        addr,
        dir,
        EngineConfig {
            connect,
            ..EngineConfig::default()
        },
    )
    .await;
    let request = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow::everything(),
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    engine.sync(account, &request).await.unwrap();
    let inbox = engine
        .folders(account)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "INBOX")
        .unwrap();
    let mut message = None;
    for m in engine.messages(inbox.id, None, 100).await.unwrap().items {
        let detail = engine.message(m.id).await.unwrap().unwrap();
        if detail
            .message_id
            .as_deref()
            .map(|i| i.trim_matches(['<', '>']))
            == Some(&mailbox.message_id)
        {
            message = Some(m.id);
        }
    }
    assert_eq!(mailbox.truth.len(), 6);
    (engine, account, message.expect("the message is stored"))
}
