//! A real S3-compatible server for the hosting tests: `s3s-fs` (installed by scripts/test.sh)
//! on 127.0.0.1, storing objects as plain files under a temporary folder, and checking every
//! signature (headers and presigned URLs, with their expiry).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "AKIACASTBOOKTEST0001";
pub const SECRET_KEY: &str = "cb-secret-Wq9vRt2Lm8Xz4Kp7Ns1Jd5Hf";

/// The `s3s-fs` binary: `CASTBOOK_S3S_FS`, else on PATH, else in cargo's bin folder.
pub fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("CASTBOOK_S3S_FS") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .expect(
            "s3s-fs is not installed: run scripts/test.sh, which installs it \
             (cargo install --locked s3s-fs --version 0.14.1 --features binary)",
        )
}

/// A running s3s-fs with one bucket; stopped when dropped.
pub struct S3 {
    child: Child,
    pub port: u16,
    pub root: tempfile::TempDir,
    pub bucket: String,
}

impl S3 {
    pub fn start(bucket: &str) -> S3 {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(bucket)).unwrap();
        // A free port: bind one, let it go, and start the server on it (tried again on the
        // rare clash with another process).
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(s3s_fs())
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(root.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("s3s-fs starts");
            let until = Instant::now() + Duration::from_secs(30);
            while Instant::now() < until {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return S3 {
                        child,
                        port,
                        root,
                        bucket: bucket.to_string(),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start listening on 127.0.0.1");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The file holding object `key` of the bucket.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(&self.bucket).join(key)
    }

    /// The `[hosting]` table for this server, keys from the named env variables.
    pub fn config(&self, key_env: &str, secret_env: &str, ttl: &str) -> String {
        format!(
            "[hosting]\nkind = \"s3\"\nendpoint = \"{}\"\nbucket = \"{}\"\nregion = \"us-east-1\"\n\
             access_key_env = \"{key_env}\"\nsecret_key_env = \"{secret_env}\"\nurl_ttl = \"{ttl}\"\n",
            self.endpoint(),
            self.bucket
        )
    }

    pub fn root_path(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET (no castbook code): status and body.
pub fn get(url: &str) -> (u16, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let resp = reqwest::Client::new()
            .get(url)
            .send()
            .await
            .expect("GET is sent");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    })
}
