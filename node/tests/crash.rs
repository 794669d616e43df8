//! `kill -9` while mining: every block the node showed before is there after
//! a restart on the same data directory, and the node goes on mining.

mod common;

use std::time::Duration;

use common::spawn_node;
use serde_json::Value;

fn spawn(data: &std::path::Path) -> (tabchain_process::spawn::Spawned, String) {
    spawn_node(data, &["--mine", "--threads", "1"])
}

async fn chain(url: &str) -> Vec<String> {
    let text = reqwest::get(format!("{url}/chain")).await.unwrap().text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    body["chain"].as_array().unwrap().iter().map(|b| b["hash"].as_str().unwrap().to_owned()).collect()
}

async fn wait_for_length(url: &str, length: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let hashes = chain(url).await;
        if hashes.len() >= length {
            return hashes;
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck at {} blocks", hashes.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kill_9_while_mining_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for round in 1..=3 {
        let (mut child, url) = spawn(data.path());
        let before = wait_for_length(&url, seen.len() + 20).await;
        assert_eq!(&before[..seen.len()], &seen[..], "round {round}: the restarted chain starts with what was seen");
        seen = before;
        // Let it mine on, then kill it mid-work.
        tokio::time::sleep(Duration::from_millis(30 * round)).await;
        let last = chain(&url).await;
        child.kill().unwrap(); // SIGKILL, and reaped
        assert!(last.len() >= seen.len());
        seen = last;
    }
    let (mut child, url) = spawn(data.path());
    let after = chain(&url).await;
    assert_eq!(&after[..seen.len()], &seen[..], "every block shown before the last kill is there");
    wait_for_length(&url, seen.len() + 5).await;
    child.kill().unwrap();
}
