//! A tiny, bounded HTTP/1.1 file server on 127.0.0.1 for download tests (std only).
//!
//! Serves `GET /<path>` from an in-memory map, honours `Range: bytes=N-` (206 / 416), answers 404
//! otherwise, closes every connection, and stops accepting after `max_conns` connections or 60 s.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests seen: `(path, Range start)`.
pub type RequestLog = Arc<Mutex<Vec<(String, Option<u64>)>>>;

/// A running server: its base URL and a log of `(path, range start)` requests.
pub struct Server {
    pub base: String,
    pub log: RequestLog,
}

pub fn serve(files: HashMap<String, Vec<u8>>, max_conns: usize) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    listener.set_nonblocking(true).expect("nonblocking");
    let log: RequestLog = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < max_conns && Instant::now() < deadline {
            let (stream, _) = match listener.accept() {
                Ok(s) => s,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
            };
            served += 1;
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("range: bytes=") {
                    range = v.trim().trim_end_matches('-').parse::<u64>().ok();
                }
            }
            log2.lock().unwrap().push((path.clone(), range));
            let mut stream = reader.into_inner();
            let key = path.trim_start_matches('/');
            let resp: Vec<u8> = match files.get(key) {
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                Some(body) => match range {
                    Some(start) if start >= body.len() as u64 => format!(
                        "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes(),
                    Some(start) => {
                        let part = &body[start as usize..];
                        let mut r = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nConnection: close\r\n\r\n",
                            part.len(),
                            start,
                            body.len() - 1,
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(part);
                        r
                    }
                    None => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                },
            };
            let _ = stream.write_all(&resp);
            let _ = stream.flush();
        }
    });
    Server { base, log }
}

/// A loopback URL where nothing listens (connection refused at once).
pub fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}
