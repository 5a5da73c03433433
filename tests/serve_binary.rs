//! The `serve` command as a user runs it: the real binary, real sockets, real signals.

mod support;

use std::process::Stdio;

use serde_json::{Value, json};
use support::process::{KillOnDrop, Running, bin, drain, lines, serve, terminate, wait_for};
use support::{read_reply, request, temp_dir};

#[tokio::test]
async fn serve_dev_prints_a_curl_line_that_works_then_409s() {
    let cwd = temp_dir("dev");
    let mut child = KillOnDrop(
        bin()
            .args(["serve", "--dev"])
            .current_dir(&cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = lines(child.stdout.take().unwrap());
    let _stderr = lines(child.stderr.take().unwrap());
    let (curl, banner) = wait_for(&stdout, |l| l.trim_start().starts_with("curl "));
    assert!(
        banner.iter().any(|l| l.contains("webhook secret")),
        "{banner:#?}"
    );

    // Run the printed command's request exactly: URL and -d payload.
    let url = curl
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap();
    let (addr, path) = url.trim_start_matches("http://").split_once('/').unwrap();
    let payload = curl.split("-d '").nth(1).unwrap().trim_end_matches('\'');
    let addr = addr.parse().unwrap();
    let path = format!("/{path}");
    let send = || {
        request(
            addr,
            "POST",
            &path,
            &[("content-type", "application/json")],
            payload.as_bytes(),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["status"], "submitted");
    let repeat = send().await;
    assert_eq!(repeat.status, 409, "{}", repeat.body);
    let journal = std::fs::read_to_string(cwd.join("data/paper-journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1);
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn serve_logs_one_line_per_alert_and_never_a_secret() {
    let dir = temp_dir("serve");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[network]\nip_allowlist = [\"127.0.0.1\"]\n[funds.fund-a]\nsecret = \"super-secret-value-a\"\nmax_quantity = \"1\"\n[delivery]\nsink = \"paper\"\n[store]\npath = {:?}\n",
            dir.join("data")
        ),
    )
    .unwrap();
    let Running {
        mut child,
        stderr,
        public,
        admin,
    } = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));

    let post = |secret: &str, key: &str| {
        let body = serde_json::json!({"secret": secret, "strategy_id": "s", "fund_id": "fund-a", "symbol": "BTC-USD",
            "side": "buy", "quantity": "1", "order_type": "market", "idempotency_key": key})
        .to_string();
        async move {
            request(public, "POST", "/webhook", &[], body.as_bytes())
                .await
                .status
        }
    };
    assert_eq!(post("super-secret-value-a", "k1").await, 200);
    assert_eq!(post("super-secret-value-a", "k1").await, 409);
    assert_eq!(post("guessed-secret-value", "k2").await, 401);
    let metrics = request(admin, "GET", "/metrics", &[], b"").await.body;
    assert!(!metrics.contains("super-secret") && !metrics.contains("guessed-secret"));

    // Keep-alive connections do not block shutdown for long, and SIGTERM exits cleanly.
    let mut idle = tokio::net::TcpStream::connect(public).await.unwrap();
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    assert!(read_reply(&mut idle).await.is_none());

    let logs = drain(&stderr);
    let alerts: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 3, "{logs:#?}");
    let outcomes: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap(),
                a["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("accepted", "none"),
            ("duplicate", "duplicate_idempotency_key"),
            ("rejected", "unauthorized")
        ]
    );
    for a in &alerts {
        assert!(
            a["latency_ms"].is_number() && a["key"].is_string() && a["fund"].is_string(),
            "{a}"
        );
    }
    assert_eq!(alerts[0]["fund"], "fund-a");
    assert_eq!(alerts[0]["key"], "k1");
    // A duplicate's answer says no more than reason and key: no detail repeating it.
    assert_eq!(alerts[1]["key"], json!("k1"));
    assert!(alerts[1].get("detail").is_none(), "{}", alerts[1]);
    for a in &alerts {
        let latency = a["latency_ms"].to_string();
        let decimals = latency.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= 3, "latency to the microsecond: {latency}");
    }
    let all = logs.join("\n");
    assert!(
        !all.contains("super-secret-value-a") && !all.contains("guessed-secret-value"),
        "{all}"
    );
}

#[test]
fn serve_refuses_to_start_without_what_the_config_needs() {
    let dir = temp_dir("refuse");
    let vault = dir.join("vault.toml");
    std::fs::write(
        &vault,
        "[secrets]\nprovider = \"vault\"\n[funds.f]\nmax_quantity = \"1\"\n[delivery]\nsink = \"paper\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["serve", "--config", vault.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("neither secrets.vault.token_file nor VAULT_TOKEN is set")
    );
    // The token as a file (systemd's LoadCredential): missing or empty is said so.
    let token_file = dir.join("vault-token");
    for (content, said) in [
        (None, "cannot read secrets.vault.token_file"),
        (Some("\n"), "is empty"),
    ] {
        if let Some(content) = content {
            std::fs::write(&token_file, content).unwrap();
        }
        let out = bin()
            .args(["serve", "--config", vault.to_str().unwrap()])
            .env("MTS1B_TV_SECRETS__VAULT__TOKEN_FILE", &token_file)
            .env_remove("VAULT_TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(said), "{said}: {stderr}");
    }
}

#[tokio::test]
async fn readyz_is_503_with_the_reason_until_vault_answers() {
    let dir = temp_dir("vault-down");
    // A port nobody listens on: bind, take the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[network]\nip_allowlist = [\"127.0.0.1\"]\n[secrets]\nprovider = \"vault\"\n[secrets.vault]\naddress = \"http://127.0.0.1:{port}\"\n[funds.f]\nmax_quantity = \"1\"\n[delivery]\nsink = \"paper\"\n[store]\npath = {:?}\n",
            dir.join("data")
        ),
    )
    .unwrap();
    // The token from a file, as systemd's LoadCredential passes it (no VAULT_TOKEN).
    let token_file = dir.join("vault-token");
    std::fs::write(&token_file, "s.some-token\n").unwrap();
    let Running {
        mut child,
        public,
        admin,
        ..
    } = serve(
        bin()
            .args(["serve", "--config", config.to_str().unwrap()])
            .env("MTS1B_TV_SECRETS__VAULT__TOKEN_FILE", &token_file)
            .env_remove("VAULT_TOKEN"),
    );
    let ready = request(admin, "GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    assert_eq!(ready.json()["ready"], false);
    assert!(
        !ready.json()["reasons"].as_array().unwrap().is_empty(),
        "{}",
        ready.body
    );
    let alert = r#"{"secret":"x","strategy_id":"s","fund_id":"f","symbol":"BTC-USD","side":"buy","quantity":"1","order_type":"market","idempotency_key":"k"}"#;
    let reply = request(public, "POST", "/webhook", &[], alert.as_bytes()).await;
    assert_eq!(
        (reply.status, reply.header("retry-after")),
        (503, Some("1")),
        "{}",
        reply.body
    );
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn a_dead_log_pipe_never_fails_an_alert() {
    let cwd = temp_dir("dead-logs");
    let Running {
        mut child,
        stderr,
        public,
        ..
    } = serve(bin().args(["serve", "--dev"]).current_dir(&cwd));
    // The log reader goes away: every later log write hits a broken pipe.
    drop(stderr);
    for i in 0..3 {
        let alert = format!(
            r#"{{"secret":"wrong","strategy_id":"s","fund_id":"paper-tv-test","symbol":"BTC-USD","side":"buy","quantity":"1","order_type":"market","idempotency_key":"k{i}"}}"#
        );
        let reply = request(public, "POST", "/webhook", &[], alert.as_bytes()).await;
        assert_eq!(reply.status, 401, "{}", reply.body);
    }
    assert!(terminate(&mut child).success());
}

/// Sends `n` copies of `body` to /webhook pipelined on one keep-alive connection, and reads
/// until `n` answers came back.
async fn pipelined(addr: std::net::SocketAddr, body: String, n: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut rd, mut wr) = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap()
        .into_split();
    let one = format!(
        "POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let writer = tokio::spawn(async move {
        let batch = one.repeat(100);
        for _ in 0..n / 100 {
            wr.write_all(batch.as_bytes()).await.unwrap();
        }
        wr
    });
    let marker = b"HTTP/1.1 ";
    let (mut seen, mut buf, mut chunk) = (0, Vec::new(), vec![0u8; 64 * 1024]);
    while seen < n / 100 * 100 {
        let got = rd.read(&mut chunk).await.unwrap();
        assert!(got > 0, "closed after {seen} answers");
        buf.extend_from_slice(&chunk[..got]);
        let mut at = 0;
        while let Some(i) = buf[at..].windows(marker.len()).position(|w| w == marker) {
            seen += 1;
            at += i + marker.len();
        }
        buf.drain(..at.max(buf.len().saturating_sub(marker.len())));
    }
    drop(writer.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_in_time_while_the_log_reader_is_stuck() {
    use std::io::BufRead as _;
    let cwd = temp_dir("stuck-logs");
    let mut child = KillOnDrop(
        bin()
            .args(["serve", "--dev"])
            .current_dir(&cwd)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read up to the `listening` line, then never again: the pipe stays open and fills.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let listening: Value = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "no listening line"
        );
        if line.contains("\"listening\"") {
            break serde_json::from_str(&line).unwrap();
        }
    };
    let public: std::net::SocketAddr = listening["public"].as_str().unwrap().parse().unwrap();
    // 12,000 forged alerts, a log line each: the pipe is full after a few hundred, the log
    // writer's queue (8,192 lines) soon after.
    let forged = r#"{"secret":"wrong","strategy_id":"s","fund_id":"paper-tv-test","symbol":"BTC-USD","side":"buy","quantity":"1","order_type":"market","idempotency_key":"k"}"#;
    let floods: Vec<_> = (0..4)
        .map(|_| tokio::spawn(pipelined(public, forged.to_owned(), 3_000)))
        .collect();
    for flood in floods {
        flood.await.unwrap();
    }

    let signalled = std::time::Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // SIGTERM must end the process within the drain timeout, whatever the log reader does.
    let drain_timeout = mts1b_tradingview::service::DRAIN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < drain_timeout,
            "still running {:?} after SIGTERM with a stuck log reader",
            signalled.elapsed()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // Whatever reached the pipe is whole log lines, but for the last, which the exit may cut
    // (a write larger than the pipe's atomic size is taken in parts).
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut stderr, &mut rest).unwrap();
    let text = String::from_utf8_lossy(&rest);
    let complete = text.rsplit_once('\n').map_or("", |(whole, _)| whole);
    for line in complete.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

#[tokio::test]
async fn sighup_applies_funds_symbology_and_kill_switches_and_names_what_needs_a_restart() {
    let dir = temp_dir("sighup");
    let config = dir.join("config.toml");
    // Fund f as started; `funds` replaces its section, `rest` is appended.
    let f = |max_quantity: &str, halted: bool| {
        format!(
            "[funds.f]\nsecret = \"s-1234567890\"\nmax_quantity = \"{max_quantity}\"\nhalted = {halted}\n"
        )
    };
    let write = |funds: &str, rest: &str| {
        std::fs::write(
            &config,
            format!(
                "[network]\nip_allowlist = [\"127.0.0.1\"]\n{funds}[delivery]\nsink = \"paper\"\n[store]\npath = {:?}\n{rest}",
                dir.join("data")
            ),
        )
        .unwrap()
    };
    write(&f("1", false), "");
    let Running {
        mut child,
        stderr,
        public,
        ..
    } = serve(bin().args(["serve", "--config", config.to_str().unwrap()]));
    let hangup = |child: &std::process::Child| {
        let sent = std::process::Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    let send = |fund: &str, secret: &str, symbol: &str, quantity: &str, key: &str| {
        let alert = format!(
            r#"{{"secret":"{secret}","strategy_id":"s","fund_id":"{fund}","symbol":"{symbol}","side":"buy","quantity":"{quantity}","order_type":"market","idempotency_key":"{key}"}}"#
        );
        async move { request(public, "POST", "/webhook", &[], alert.as_bytes()).await }
    };
    let btc = |quantity: &str, key: &str| send("f", "s-1234567890", "BTC-USD", quantity, key);
    // Unchanged: read again, nothing to apply, nothing waiting.
    hangup(&child);
    let (line, _) = wait_for(&stderr, |l| l.contains("SIGHUP: configuration reloaded"));
    assert!(line.contains("nothing needs a restart"), "{line}");
    assert!(
        line.contains("added: [], removed: [], changed: []")
            && line.contains("\"symbology\":\"unchanged\""),
        "{line}"
    );
    // The kill switch set in the file: applied at once.
    write(&f("1", true), "");
    hangup(&child);
    let (line, _) = wait_for(&stderr, |l| l.contains("kill switches applied"));
    assert!(line.contains("halted: [f], resumed: []"), "{line}");
    let refused = btc("1", "k1").await;
    assert_eq!(refused.json()["error"], "fund_halted", "{}", refused.body);
    write(&f("1", false), "");
    hangup(&child);
    wait_for(&stderr, |l| l.contains("halted: [], resumed: [f]"));
    assert_eq!(btc("1", "k1").await.status, 200);
    // The envelope widened, a fund added with its secret, an exchange added to the symbology.
    assert_eq!(btc("2", "k2").await.json()["error"], "envelope_denied");
    let phemex = || send("f", "s-1234567890", "PHEMEX:BTCUSDT", "1", "k3");
    assert_eq!(phemex().await.json()["error"], "unknown_symbol");
    let g = "[funds.g]\nsecret = \"g-1234567890\"\nmax_quantity = \"5\"\n";
    let exchange = "[symbology.exchanges.PHEMEX]\nclass = \"crypto\"\nvenue = \"phemex\"\nquotes = [\"USDT\"]\n";
    write(&format!("{}{g}", f("2", false)), exchange);
    hangup(&child);
    let (line, _) = wait_for(&stderr, |l| l.contains("added: [g]"));
    assert!(
        line.contains("added: [g], removed: [], changed: [f]")
            && line.contains("\"symbology\":\"reloaded\"")
            && line.contains("static secrets reloaded")
            && line.contains("nothing needs a restart"),
        "{line}"
    );
    assert_eq!(btc("2", "k2").await.status, 200, "the wider envelope");
    let order = phemex().await;
    assert_eq!(order.status, 200, "{}", order.body);
    let g_order = send("g", "g-1234567890", "BTC-USD", "5", "k4").await;
    assert_eq!(g_order.status, 200, "{}", g_order.body);
    // f removed: its alerts are refused as an unknown fund's; a restart section edited (the
    // replay window) is named, the funds applied anyway.
    write(g, &format!("{exchange}[replay]\nwindow = \"10m\"\n"));
    hangup(&child);
    let (line, _) = wait_for(&stderr, |l| l.contains("removed: [f]"));
    assert!(line.contains("\"restart_needed_for\":\"replay\""), "{line}");
    assert_eq!(btc("1", "k5").await.status, 401);
    assert_eq!(
        send("g", "g-1234567890", "BTC-USD", "1", "k5").await.status,
        200
    );
    // A file that does not validate: refused, with its error, and nothing changes.
    write(&format!("{}{g}", f("-1", true)), "");
    hangup(&child);
    let (line, _) = wait_for(&stderr, |l| l.contains("does not validate"));
    assert!(line.contains("funds.f.max_quantity"), "{line}");
    let still = send("g", "g-1234567890", "PHEMEX:BTCUSDT", "1", "k6").await;
    assert_eq!(
        still.status, 200,
        "the invalid file changed nothing: {}",
        still.body
    );
    assert_eq!(btc("1", "k7").await.status, 401, "f is still removed");
    assert!(
        terminate(&mut child).success(),
        "still running, stopped cleanly"
    );
}
