#![allow(clippy::unwrap_used, clippy::expect_used)]
use anvert_core::policy::{NetworkKind, SyncRequest, SyncWindow};
use anvert_tests::{
    client::SyncClient,
    cyrus::Cyrus,
    generator::{GenConfig, SizeMix},
    server::TestServer,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("anvert=trace")
        .with_test_writer()
        .try_init();
    let server = Cyrus::start();
    server.deliver_generated(
        "alice",
        None,
        &GenConfig {
            seed: 21,
            count: 200,
            mix: SizeMix::small(),
            ..GenConfig::default()
        },
    );
    std::fs::create_dir_all(server.root().join("conf/log/alice")).unwrap();
    let first = SyncClient::new().await;
    let screen = SyncRequest {
        network: NetworkKind::Metered,
        window: SyncWindow {
            min_messages: 50,
            max_age_days: None,
            ..SyncWindow::default()
        },
        folders: vec!["INBOX".into()],
        ..SyncRequest::default()
    };
    let tap = anvert_tests::tap::Tap::start(server.imaps_addr()).unwrap();
    first.sync(&server, tap.addr(), &screen).await;
    for c in tap.chunks() {
        eprintln!("CHUNK {:?} {} turn={}", c.dir, c.bytes, c.turn);
    }
    for e in std::fs::read_dir(server.root().join("conf/log/alice")).unwrap() {
        let p = e.unwrap().path();
        let t = std::fs::read(&p).unwrap();
        let t = String::from_utf8_lossy(&t);
        for l in t.lines() {
            eprintln!("{}", &l[..l.len().min(200)]);
        }
    }
}
