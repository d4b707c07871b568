//! A small DNS responder on loopback for CAA tests: it answers like a recursive resolver
//! would (CNAME chains followed inside one answer), from a table set by the test. UDP only,
//! on 127.0.0.1 only, over the DNS wire format (RFC 1035; CAA RDATA per RFC 8659 §4.1).
//!
//! Per name: CAA records, a CNAME, SERVFAIL, or no answer at all (a timeout). Names not in
//! the table are NXDOMAIN. Every query is counted per name (lookups per issuance).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

const TYPE_CNAME: u16 = 5;
const TYPE_CAA: u16 = 257;
const RCODE_SERVFAIL: u16 = 2;
const RCODE_NXDOMAIN: u16 = 3;
/// CNAME hops followed in one answer at most (a loop stops here).
const CNAME_HOPS_MAX: usize = 8;

/// What the responder says for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// CAA records: `(flags, tag, value)`.
    Caa(Vec<(u8, String, String)>),
    /// The name exists but has no CAA record (NOERROR, empty answer).
    NoData,
    /// An alias: the answer carries the CNAME, then whatever the target has.
    Cname(String),
    /// SERVFAIL.
    ServFail,
    /// No response at all (the client times out).
    Silent,
}

impl Zone {
    /// `issue` records for these CAs (critical flag off).
    pub fn issue(cas: &[&str]) -> Self {
        Zone::Caa(
            cas.iter()
                .map(|ca| (0, "issue".to_owned(), (*ca).to_owned()))
                .collect(),
        )
    }
}

#[derive(Default)]
struct State {
    zones: HashMap<String, Zone>,
    queries: HashMap<String, u32>,
}

/// The running responder; stops when dropped.
pub struct FakeDns {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl FakeDns {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind DNS socket");
        let addr = socket.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let served = state.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let reply = {
                    let mut state = served.lock().unwrap_or_else(|p| p.into_inner());
                    respond(&buf[..n], &mut state)
                };
                if let Some(reply) = reply {
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self { addr, state, task }
    }

    /// `ip:port`, for `CAA_RESOLVER`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set(&self, name: &str, zone: Zone) {
        self.lock().zones.insert(norm(name), zone);
    }

    /// Queries received for `name`.
    pub fn queries(&self, name: &str) -> u32 {
        self.lock().queries.get(&norm(name)).copied().unwrap_or(0)
    }

    /// Queries received, all names.
    pub fn total_queries(&self) -> u32 {
        self.lock().queries.values().sum()
    }

    pub fn reset_counts(&self) {
        self.lock().queries.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The reply to one datagram; `None` for garbage and for silent names.
fn respond(query: &[u8], state: &mut State) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let id = &query[0..2];
    let flags = u16::from_be_bytes([query[2], query[3]]);
    let qdcount = u16::from_be_bytes([query[4], query[5]]);
    if qdcount != 1 || flags & 0x8000 != 0 {
        return None;
    }
    let (name, end) = read_name(query, 12)?;
    let question = query.get(12..end + 4)?;
    let qtype = u16::from_be_bytes([question[question.len() - 4], question[question.len() - 3]]);
    *state.queries.entry(name.clone()).or_default() += 1;

    let mut answers: Vec<Vec<u8>> = Vec::new();
    let mut rcode = 0u16;
    let mut current = name;
    let mut owner: Option<String> = None; // None: the question's name (compressed)
    for _ in 0..=CNAME_HOPS_MAX {
        match state.zones.get(&current).cloned() {
            None => {
                rcode = RCODE_NXDOMAIN;
                break;
            }
            Some(Zone::Silent) => return None,
            Some(Zone::ServFail) => {
                rcode = RCODE_SERVFAIL;
                answers.clear();
                break;
            }
            Some(Zone::NoData) => break,
            Some(Zone::Caa(records)) => {
                if qtype == TYPE_CAA {
                    for (flags, tag, value) in records {
                        let mut rdata = vec![flags, tag.len() as u8];
                        rdata.extend_from_slice(tag.as_bytes());
                        rdata.extend_from_slice(value.as_bytes());
                        answers.push(record(owner.as_deref(), TYPE_CAA, &rdata));
                    }
                }
                break;
            }
            Some(Zone::Cname(target)) => {
                let target = norm(&target);
                answers.push(record(owner.as_deref(), TYPE_CNAME, &encode_name(&target)));
                owner = Some(target.clone());
                current = target;
            }
        }
    }

    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(id);
    // QR, the query's opcode and RD, RA; the rcode.
    let reply_flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode;
    out.extend_from_slice(&reply_flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(question);
    for a in answers {
        out.extend_from_slice(&a);
    }
    Some(out)
}

/// One resource record, class IN, TTL 60; owner `None` points at the question's name.
fn record(owner: Option<&str>, rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut out = match owner {
        None => vec![0xC0, 0x0C],
        Some(name) => encode_name(name),
    };
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&60u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(rdata);
    out
}

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The question's name (lower-case, no trailing dot) and the offset past it. No compression
/// in questions.
fn read_name(msg: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *msg.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(String::from_utf8_lossy(msg.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    Some((labels.join("."), at))
}
