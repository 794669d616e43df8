//! The classic REST API, end to end: nodes on port 0 with their own data
//! directories, driven over HTTP like the tutorial's clients drive it.

use std::time::Duration;

use serde_json::{Value, json};
use tabchain_core::params::Network;
use tabchain_node::{Config, RunningNode, start};
use tabchain_process::http::HttpLimits;

async fn node(dir: &tempfile::TempDir) -> RunningNode {
    start(Config {
        network: Network::Dev,
        relays: vec![],
        http: "127.0.0.1:0".parse().unwrap(),
        data: dir.path().to_path_buf(),
        mine: false,
        threads: 2,
        peers: vec![],
        allowed_hosts: vec![],
        http_limits: HttpLimits::default(),
    })
    .await
    .unwrap()
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(node: &RunningNode) -> Self {
        Self { client: reqwest::Client::new(), base: format!("http://{}", node.addr) }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: impl Into<String>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.into())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn chain(&self) -> Value {
        let (status, body) = self.get("/chain").await;
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_mine_and_read_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = Http::new(&node);

    let chain = http.chain().await;
    assert_eq!(chain["length"], 1);
    assert_eq!(chain["chain"][0]["index"], 0);
    assert_eq!(chain["peers"], json!([]));
    assert_eq!(http.get("/mine").await, (200, "No transactions to mine".into()));

    assert_eq!(http.post("/new_transaction", r#"{"author":"alice","content":"hi"}"#).await, (201, "Success".into()));
    let (status, pending) = http.get("/pending_tx").await;
    assert_eq!(status, 200);
    let pending: Value = serde_json::from_str(&pending).unwrap();
    assert_eq!(pending[0]["author"], "alice");
    assert!(pending[0]["timestamp"].as_f64().unwrap() > 1.7e9, "the node adds the timestamp");

    assert_eq!(http.get("/mine").await, (200, "Block #1 is mined.".into()));
    let chain = http.chain().await;
    assert_eq!(chain["length"], 2);
    assert_eq!(chain["chain"][1]["transactions"][0]["content"], "hi");
    assert_eq!(chain["chain"][1]["previous_hash"], chain["chain"][0]["hash"]);
    assert_eq!(http.get("/pending_tx").await, (200, "[]".into()));
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_400_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = Http::new(&node);
    for (body, reason) in [
        ("not json", "not JSON"),
        ("[1,2]", "JSON object"),
        (r#"{"content":"x"}"#, "`author` is missing"),
        (r#"{"author":"a"}"#, "`content` is missing"),
        (r#"{"author":7,"content":"x"}"#, "`author` must be a string"),
        (r#"{"author":"a","content":""}"#, "content"),
        (r#"{"author":"  ","content":"x"}"#, "author"),
    ] {
        let (status, text) = http.post("/new_transaction", body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.starts_with("Invalid transaction data"), "{body}: {text}");
        assert!(text.contains(reason), "{body}: {text}");
    }
    let long = json!({"author": "a", "content": "x".repeat(5_000)}).to_string();
    assert_eq!(http.post("/new_transaction", long).await.0, 400);
    // One byte over the limit: the server reads it all before refusing, so
    // its answer never races an unread upload into a connection reset.
    let huge = "x".repeat(tabchain_node::api::MAX_BODY_BYTES + 1);
    assert_eq!(http.post("/new_transaction", huge).await.0, 413);

    for body in ["", "{}", r#"{"node_address":""}"#, r#"{"node_address":"ftp://x"}"#, r#"{"node_address":"nonsense"}"#]
    {
        assert_eq!(http.post("/register_node", body).await.0, 400, "{body}");
        assert_eq!(http.post("/register_with", body).await.0, 400, "{body}");
    }
    let (status, text) = http.post("/register_with", r#"{"node_address":"http://127.0.0.1:9"}"#).await;
    assert_eq!(status, 502, "{text}");

    // Blocks: garbage, a forged hash, an unknown parent, a bad proof of work.
    assert_eq!(http.post("/add_block", "{").await.0, 400);
    let genesis = http.chain().await["chain"][0].clone();
    let mut forged = genesis.clone();
    forged["hash"] = json!("00".repeat(32));
    assert_eq!(http.post("/add_block", forged.to_string()).await.0, 400);
    let (status, text) = http.post("/add_block", genesis.to_string()).await;
    assert_eq!(status, 409, "a known block adds nothing: {text}");
    assert!(text.contains("already known"), "{text}");
    assert_eq!(http.chain().await["length"], 1, "nothing changed");
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_with_an_unknown_parent_is_refused_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let http = Http::new(&node);
    let blocks = tabchain_core::testkit::dev_chain(2);
    let json = |i: usize| serde_json::to_string(&blocks[i]).unwrap();
    let (status, text) = http.post("/add_block", json(1)).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains(&format!("its parent {} is unknown", blocks[0].hash())), "{text}");
    // Its parent arrives: the refused child was not kept waiting for it.
    assert_eq!(http.post("/add_block", json(0)).await.0, 201);
    assert_eq!(http.chain().await["length"], 2, "only the parent is on the chain");
    assert_eq!(http.post("/add_block", json(1)).await.0, 201);
    assert_eq!(http.chain().await["length"], 3);
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_register_share_blocks_and_reorg() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (node(&dir_a).await, node(&dir_b).await);
    let (ha, hb) = (Http::new(&a), Http::new(&b));

    // B mines two blocks alone, A one: B's branch has more work.
    for i in 0..2 {
        hb.post("/new_transaction", json!({"author": "b", "content": format!("b{i}")}).to_string()).await;
        assert_eq!(hb.get("/mine").await.0, 200);
    }
    ha.post("/new_transaction", r#"{"author":"a","content":"a0"}"#).await;
    assert_eq!(ha.get("/mine").await.0, 200);
    let a_tip = ha.chain().await["chain"][1]["hash"].clone();

    // A registers with B: B now knows A, and A adopts B's heavier chain.
    let (status, text) =
        ha.post("/register_with", json!({"node_address": format!("http://{}", b.addr)}).to_string()).await;
    assert_eq!(status, 200, "{text}");
    let chain_a = ha.chain().await;
    let chain_b = hb.chain().await;
    assert_eq!(chain_a["length"], 3);
    assert_eq!(chain_a["chain"], chain_b["chain"], "A reorganised onto B's chain");
    assert_ne!(chain_a["chain"][1]["hash"], a_tip);
    assert_eq!(chain_b["peers"], json!([format!("http://{}", a.addr)]));
    // A's post went back to its mempool.
    assert!(ha.get("/pending_tx").await.1.contains("a0"));

    // A block mined on B reaches A through /add_block.
    hb.post("/new_transaction", r#"{"author":"b","content":"b2"}"#).await;
    assert_eq!(hb.get("/mine").await, (200, "Block #3 is mined.".into()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while ha.chain().await["length"] != 4 {
        assert!(tokio::time::Instant::now() < deadline, "the block never reached A");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A shorter chain is never adopted.
    let (status, _) =
        hb.post("/register_with", json!({"node_address": format!("http://{}", a.addr)}).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(hb.chain().await["length"], 4);
    a.shut_down().await.unwrap();
    b.shut_down().await.unwrap();
}
