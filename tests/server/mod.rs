//! Helpers of the network tests: a real HTTP/1.1 server on 127.0.0.1 (std::net, one thread per
//! connection) whose replies a test scripts, including misbehaving ones (trickling, cut short,
//! endless, slow), and a runner of the castbook binary against a temp library and config.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the server answers one request.
pub enum Reply {
    /// A complete response.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Announce `body.len()`, send the first `first` bytes, then go quiet for `pause`.
    Trickle {
        body: Vec<u8>,
        first: usize,
        pause: Duration,
    },
    /// Announce `body.len()`, send only the first `send` bytes, then close the connection.
    CutShort { body: Vec<u8>, send: usize },
    /// No length; send zero bytes forever (until the client hangs up or `limit` is reached).
    Endless { limit: u64 },
    /// Announce `total` bytes, then send `chunk` zero bytes every `every` (never idle, never
    /// done in any reasonable time) until the client hangs up.
    Drip {
        total: usize,
        chunk: usize,
        every: Duration,
    },
    /// Wait, then reply.
    After(Duration, Box<Reply>),
}

impl Reply {
    pub fn status(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Full {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply::status(status, "application/json", body.to_string())
    }
    pub fn redirect(to: &str) -> Reply {
        Reply::Full {
            status: 302,
            headers: vec![("Location".into(), to.into())],
            body: Vec::new(),
        }
    }
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((k.into(), v.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

/// A test HTTP server; stops accepting when dropped.
pub struct Server {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    /// Body bytes the server managed to write in total.
    pub bytes_written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Start a server; `handler` gets each request and its 0-based number.
    pub fn start(handler: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let bytes_written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let requests = requests.clone();
            let bytes_written = bytes_written.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let requests = requests.clone();
                    let bytes_written = bytes_written.clone();
                    let handler = handler.clone();
                    thread::spawn(move || serve(conn, &requests, &bytes_written, &*handler));
                }
            });
        }
        Server {
            addr,
            requests,
            bytes_written,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

fn read_request(conn: &mut TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).ok()?;
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            req.body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(req)
}

fn head(status: u16, headers: &[(String, String)], len: Option<usize>) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} Status\r\nConnection: close\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(len) = len {
        s.push_str(&format!("Content-Length: {len}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn serve(mut conn: TcpStream, requests: &Mutex<Vec<Request>>, written: &AtomicU64, h: &Handler) {
    let Some(req) = read_request(&mut conn) else {
        return;
    };
    let n = {
        let mut all = requests.lock().unwrap();
        all.push(req.clone());
        all.len() - 1
    };
    let mut reply = h(&req, n);
    while let Reply::After(d, inner) = reply {
        thread::sleep(d);
        reply = *inner;
    }
    let video = vec![("Content-Type".to_string(), "video/mp4".to_string())];
    let mut send = |bytes: &[u8]| -> bool {
        let ok = conn.write_all(bytes).is_ok();
        if ok {
            written.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        }
        ok
    };
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let _ = send(&head(status, &headers, Some(body.len()))) && send(&body);
        }
        Reply::Trickle { body, first, pause } => {
            if send(&head(200, &video, Some(body.len()))) && send(&body[..first]) {
                thread::sleep(pause);
            }
        }
        Reply::CutShort { body, send: n } => {
            let _ = send(&head(200, &video, Some(body.len()))) && send(&body[..n]);
        }
        Reply::Endless { limit } => {
            if send(&head(200, &video, None)) {
                let chunk = vec![0u8; 64 * 1024];
                let mut total = 0;
                while total < limit && send(&chunk) {
                    total += chunk.len() as u64;
                }
            }
        }
        Reply::Drip {
            total,
            chunk,
            every,
        } => {
            if send(&head(200, &video, Some(total))) {
                let bytes = vec![0u8; chunk];
                let mut sent = 0;
                while sent + chunk <= total && send(&bytes) {
                    sent += chunk;
                    thread::sleep(every);
                }
            }
        }
        Reply::After(..) => unreachable!("unwrapped above"),
    }
    let _ = conn.flush();
    let _ = conn.shutdown(std::net::Shutdown::Both);
}

/// A multipart/form-data part.
#[derive(Debug, Clone)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Split a multipart/form-data body by the boundary of its Content-Type.
pub fn multipart_parts(req: &Request) -> Vec<Part> {
    let ct = req.header("content-type").expect("content-type");
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .expect("boundary")
        .trim_matches('"');
    let delim = format!("--{boundary}").into_bytes();
    let body = &req.body;
    let mut starts = Vec::new();
    let mut i = 0;
    while i + delim.len() <= body.len() {
        if body[i..i + delim.len()] == delim[..] {
            starts.push(i);
            i += delim.len();
        } else {
            i += 1;
        }
    }
    let mut parts = Vec::new();
    for w in starts.windows(2) {
        let seg = &body[w[0] + delim.len()..w[1]];
        let seg = seg.strip_prefix(b"\r\n").unwrap_or(seg);
        let seg = seg.strip_suffix(b"\r\n").unwrap_or(seg);
        let split = seg
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .expect("part headers end");
        let head = String::from_utf8_lossy(&seg[..split]).to_string();
        let data = seg[split + 4..].to_vec();
        let mut name = String::new();
        let mut filename = None;
        let mut content_type = None;
        for line in head.lines() {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-disposition:") {
                for attr in line.split(';') {
                    let attr = attr.trim();
                    if let Some(v) = attr.strip_prefix("name=") {
                        name = v.trim_matches('"').to_string();
                    } else if let Some(v) = attr.strip_prefix("filename=") {
                        filename = Some(v.trim_matches('"').to_string());
                    }
                }
            } else if lower.starts_with("content-type:") {
                content_type = Some(line[13..].trim().to_string());
            }
        }
        parts.push(Part {
            name,
            filename,
            content_type,
            data,
        });
    }
    parts
}

/// The sample clip the tests use (fetched by scripts/fixtures.sh).
pub fn fixture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/fixtures.sh",
        p.display()
    );
    p
}

/// A temp library and config for one test.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

impl Env {
    pub fn new(config: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Env {
            dir,
            vars: Vec::new(),
        }
    }
    pub fn library(&self) -> PathBuf {
        self.dir.path().join("lib")
    }
    pub fn set(mut self, k: &str, v: &str) -> Env {
        self.vars.push((k.into(), v.into()));
        self
    }
    /// Run castbook with `--library <tmp>/lib` and `CASTBOOK_CONFIG=<tmp>/config.toml`.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run castbook"))
    }
    /// `run`, also returning castbook's peak resident memory in bytes (from `wait4`).
    pub fn run_measured(&self, args: &[&str]) -> (Run, u64) {
        use std::os::unix::process::ExitStatusExt;
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        // Reaped by wait4 below (which also gives the peak memory), not by `wait`.
        #[allow(clippy::zombie_processes)]
        let child = self
            .command(args)
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .spawn()
            .expect("run castbook");
        let mut status = 0;
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        assert_eq!(pid, child.id() as i32, "wait4");
        let read = |mut f: std::fs::File| {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(0)).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            v
        };
        let run = Run::from(Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: read(out),
            stderr: read(err),
        });
        // ru_maxrss is in KiB on Linux.
        (run, usage.ru_maxrss as u64 * 1024)
    }
    /// The castbook command `run` runs, to spawn it yourself.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_castbook"));
        cmd.arg("--library").arg(self.library()).args(args);
        cmd.env("CASTBOOK_CONFIG", self.dir.path().join("config.toml"));
        for k in [
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "CASTBOOK_LIBRARY",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env_remove(k);
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }
    /// Every file under the library, with its bytes.
    pub fn library_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.library()];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
                }
            }
        }
        out
    }
    /// Entries left in the library's `.work/` folder.
    pub fn work_leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.library().join(".work"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
    /// Character folders in the library.
    pub fn characters(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.library())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("char_"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A finished run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}
