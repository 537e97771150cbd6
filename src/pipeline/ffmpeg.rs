//! Running ffmpeg and ffprobe safely: where the binaries are, the protocol and format
//! whitelists every input gets, absolute `file:` paths, children killed and reaped on drop or
//! cancel, and stats lines parsed into progress.

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// The longest stderr line kept: the rest of a longer line is dropped.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// The most stderr text a run keeps for its messages.
pub const MAX_LOG_BYTES: usize = 64 * 1024;
/// The most stdout `StdoutSink::Collect` keeps (ffprobe's JSON); more is an error.
pub const MAX_STDOUT_BYTES: u64 = 32 * 1024 * 1024;

/// Demuxers an input may be opened with: an HLS playlist or ffconcat script renamed `.mp4`
/// is refused instead of being followed to other files or the network.
pub const FORMAT_WHITELIST: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi";
pub const PROTOCOL_WHITELIST: &str = "file,pipe";

/// The ffmpeg binary: `CASTBOOK_FFMPEG`, else one beside castbook, else `ffmpeg` on PATH.
pub fn ffmpeg_bin() -> PathBuf {
    std::env::var_os("CASTBOOK_FFMPEG")
        .map(PathBuf::from)
        .unwrap_or_else(ffmpeg_sidecar::paths::ffmpeg_path)
}

/// The ffprobe binary: `CASTBOOK_FFPROBE`, else one beside castbook, else `ffprobe` on PATH.
pub fn ffprobe_bin() -> PathBuf {
    std::env::var_os("CASTBOOK_FFPROBE")
        .map(PathBuf::from)
        .unwrap_or_else(ffmpeg_sidecar::ffprobe::ffprobe_path)
}

/// `file:` + the absolute path, so a name like `-half.mp4` or `take:1.mp4` is just a file.
pub fn file_url(path: &Path) -> OsString {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut s = OsString::from("file:");
    s.push(abs.as_os_str());
    s
}

/// The options that go before every `-i`: the whitelists, then the input itself.
pub fn safe_input(path: &Path) -> Vec<OsString> {
    [
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-i",
    ]
    .iter()
    .map(OsString::from)
    .chain(std::iter::once(file_url(path)))
    .collect()
}

fn missing(tool: &str, bin: &Path) -> Error {
    Error::processing(
        "ffmpeg_missing",
        format!(
            "{tool} was not found ({}): install ffmpeg (Debian/Ubuntu: sudo apt-get install ffmpeg; macOS: brew install ffmpeg) or set CASTBOOK_FFMPEG / CASTBOOK_FFPROBE",
            bin.display()
        ),
    )
}

fn spawn(mut cmd: Command, tool: &str) -> Result<ChildGuard> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let bin = PathBuf::from(cmd.get_program());
    match cmd.spawn() {
        Ok(child) => Ok(ChildGuard(Some(child))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing(tool, &bin)),
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => Err(missing(tool, &bin)),
        Err(e) => Err(Error::processing(
            "ffmpeg_failed",
            format!("could not start {tool} ({}): {e}", bin.display()),
        )),
    }
}

/// The most a frame pipe is widened to (Linux's default `pipe-max-size` for any user).
const MAX_PIPE_BYTES: usize = 1 << 20;

/// Let the pipe hold a whole frame (up to `MAX_PIPE_BYTES`), so ffmpeg writes one in a single
/// call instead of waiting, 64 KB at a time, for the reader to be scheduled: on a busy
/// machine each of those waits stalls ffmpeg's filter thread. Best effort: a pipe that keeps
/// its size only costs time.
fn widen_pipe(pipe: &std::process::ChildStdout, frame_bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let want = frame_bytes.clamp(1, MAX_PIPE_BYTES) as libc::c_int;
        // SAFETY: F_SETPIPE_SZ on a pipe descriptor this process owns; no memory is passed.
        unsafe {
            libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, want);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (pipe, frame_bytes);
}

/// Niceness of work that runs beside an ffmpeg whose end a job waits for.
const BESIDE_NICE: libc::c_int = 10;

/// Lower the calling thread's CPU priority (and that of the processes it starts) for work
/// that runs beside an ffmpeg run: on a machine with few cores, ffmpeg's filter thread is the
/// job's critical path, and measuring frames or confirming a probe only needs the time it
/// leaves idle. Only for threads that end with that work: a thread cannot raise its priority
/// again.
pub fn yield_cpu_to_ffmpeg() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        unsafe {
            let tid = libc::gettid();
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            if now < BESIDE_NICE {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BESIDE_NICE);
            }
        }
    }
}

/// `CASTBOOK_TRACE=1` prints every ffmpeg/ffprobe command line and how long it took.
fn tracing_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("CASTBOOK_TRACE").is_some_and(|v| v != "0"))
}

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present until drop")
    }
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The finished process: exit status, stdout (when captured) and the stderr text.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// How stdout of a run is consumed.
pub enum StdoutSink<'a> {
    /// Collect it (ffprobe JSON), up to `MAX_STDOUT_BYTES`: more is an error.
    Collect,
    /// Read fixed-size records (raw frames) and hand each to the callback on the reader thread.
    Frames(usize, Box<dyn FnMut(Vec<u8>) + Send + 'a>),
}

/// Run a command to the end; `on_line` sees each stderr line (split on `\r` and `\n`, at most
/// `MAX_LINE_BYTES` of each) as it arrives; the first `MAX_LOG_BYTES` of them are kept for
/// messages. Cancelling kills and reaps the child and returns a cancelled error.
pub fn run(
    cmd: Command,
    tool: &str,
    cancel: &CancellationToken,
    sink: StdoutSink<'_>,
    mut on_line: impl FnMut(&str),
) -> Result<Finished> {
    if cancel.is_cancelled() {
        return Err(Error::cancelled());
    }
    let trace = tracing_enabled().then(|| (std::time::Instant::now(), format!("{cmd:?}")));
    let mut guard = spawn(cmd, tool)?;
    let mut stdout = guard.child().stdout.take().expect("piped stdout");
    if let StdoutSink::Frames(size, _) = &sink {
        widen_pipe(&stdout, *size);
    }
    let stderr = guard.child().stderr.take().expect("piped stderr");
    // Bounded: a child writing lines faster than they are handled waits on its pipe.
    let (tx, rx) = mpsc::sync_channel::<String>(256);

    std::thread::scope(|scope| {
        // Owned here, so it is dropped (and a reader blocked on a full channel ends) before
        // the scope waits for the readers.
        let rx = rx;
        let out = scope.spawn(move || -> Option<Vec<u8>> {
            match sink {
                StdoutSink::Collect => {
                    let mut buf = Vec::new();
                    let _ = (&mut stdout)
                        .take(MAX_STDOUT_BYTES + 1)
                        .read_to_end(&mut buf);
                    if buf.len() as u64 > MAX_STDOUT_BYTES {
                        drop(buf);
                        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                        return None;
                    }
                    Some(buf)
                }
                StdoutSink::Frames(size, mut f) => {
                    loop {
                        let mut frame = vec![0u8; size];
                        if stdout.read_exact(&mut frame).is_err() {
                            break;
                        }
                        f(frame);
                    }
                    // Drain anything left so the child never blocks on a full pipe.
                    let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                    Some(Vec::new())
                }
            }
        });
        scope.spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match read_until_cr_or_lf(&mut reader, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        if !line.is_empty() && tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let mut stderr_text = String::new();
        let mut cancelled = false;
        loop {
            match rx.recv_timeout(Duration::from_millis(25)) {
                Ok(line) => {
                    on_line(&line);
                    if stderr_text.len() < MAX_LOG_BYTES
                        && ffmpeg_sidecar::log_parser::try_parse_progress(&line).is_none()
                    {
                        let room = MAX_LOG_BYTES - stderr_text.len();
                        stderr_text.push_str(truncate_utf8(&line, room));
                        stderr_text.push('\n');
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if cancel.is_cancelled() {
                cancelled = true;
                guard.kill();
                break;
            }
        }
        if cancelled {
            // Killing closed the pipes; the reader threads end on their own.
            let _ = out.join();
            return Err(Error::cancelled());
        }
        let stdout_bytes = out.join().unwrap_or(Some(Vec::new()));
        let status = guard
            .child()
            .wait()
            .map_err(|e| Error::processing("ffmpeg_failed", format!("waiting for {tool}: {e}")))?;
        guard.0 = None;
        if let Some((t0, line)) = trace {
            eprintln!("[{:>7.3} s] {line}", t0.elapsed().as_secs_f64());
        }
        let Some(stdout_bytes) = stdout_bytes else {
            return Err(Error::processing(
                "ffmpeg_failed",
                format!(
                    "{tool} printed more than {} MB: the file is not one castbook can read",
                    MAX_STDOUT_BYTES / (1024 * 1024)
                ),
            ));
        };
        Ok(Finished {
            status,
            stdout: stdout_bytes,
            stderr: stderr_text,
        })
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Read one line ending in `\r` or `\n` into `out`, keeping at most `MAX_LINE_BYTES` of it;
/// returns the bytes consumed (0 at the end).
fn read_until_cr_or_lf(r: &mut impl BufRead, out: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let (done, used) = {
            let available = r.fill_buf()?;
            if available.is_empty() {
                return Ok(total);
            }
            let room = MAX_LINE_BYTES.saturating_sub(out.len());
            match available.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    out.extend_from_slice(&available[..i.min(room)]);
                    (true, i + 1)
                }
                None => {
                    out.extend_from_slice(&available[..available.len().min(room)]);
                    (false, available.len())
                }
            }
        };
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

/// Frames waiting for `run_frames`' consumer; ffmpeg waits when it is this far ahead.
const FRAME_QUEUE: usize = 4;

/// `run` with raw frames of `frame_bytes` each handed to `consume` on a thread of its own, so
/// measuring them overlaps ffmpeg's work. Returns the run and what `consume` made of them.
pub fn run_frames<T: Send>(
    cmd: Command,
    tool: &str,
    cancel: &CancellationToken,
    frame_bytes: usize,
    on_line: impl FnMut(&str),
    consume: impl FnOnce(std::sync::mpsc::Receiver<Vec<u8>>) -> T + Send,
) -> (Result<Finished>, T) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(FRAME_QUEUE);
    std::thread::scope(|s| {
        let consuming = s.spawn(move || {
            yield_cpu_to_ffmpeg();
            consume(rx)
        });
        let done = run(
            cmd,
            tool,
            cancel,
            StdoutSink::Frames(
                frame_bytes,
                Box::new(move |f| {
                    let _ = tx.send(f);
                }),
            ),
            on_line,
        );
        (done, consuming.join().expect("frame thread"))
    })
}

/// Decode `len_s` seconds of stream `index` of `path` from `start_s` through the filter
/// `vf`, which must end in raw frames of `frame_bytes` each (e.g. `...,format=gray`). A clip
/// that does not decode cleanly is an input error.
pub fn decode_frames(
    path: &Path,
    index: u32,
    start_s: f64,
    len_s: f64,
    vf: &str,
    frame_bytes: usize,
    cancel: &CancellationToken,
) -> Result<Vec<Vec<u8>>> {
    let mut a: Vec<OsString> = ["-hide_banner", "-nostdin", "-v", "error"]
        .iter()
        .map(OsString::from)
        .collect();
    if start_s > 0.0 {
        a.extend(["-ss".into(), format!("{start_s:.3}").into()]);
    }
    a.extend(["-t".into(), format!("{len_s:.3}").into()]);
    a.extend(safe_input(path));
    a.extend(
        [
            "-map".to_string(),
            format!("0:{index}"),
            "-vf".into(),
            vf.to_string(),
            "-f".into(),
            "rawvideo".into(),
            "pipe:1".into(),
        ]
        .map(OsString::from),
    );
    let frames = std::sync::Mutex::new(Vec::new());
    let done = run(
        command(&ffmpeg_bin(), a),
        "ffmpeg",
        cancel,
        StdoutSink::Frames(
            frame_bytes,
            Box::new(|f| frames.lock().expect("frames").push(f)),
        ),
        |_| {},
    )?;
    let frames = frames.into_inner().expect("frames");
    if !done.status.success() || frames.is_empty() {
        return Err(Error::input(
            "decodable",
            format!(
                "{} does not decode cleanly ({}): it is corrupt; export it again",
                crate::util::escape_display(&path.display().to_string()),
                crate::util::escape_display(&last_error_line(&done.stderr))
            ),
        ));
    }
    Ok(frames)
}

/// Parse the `time=` of an ffmpeg stats line into seconds.
pub fn progress_time(line: &str) -> Option<f64> {
    let p = ffmpeg_sidecar::log_parser::try_parse_progress(line)?;
    ffmpeg_sidecar::log_parser::parse_time_str(&p.time)
}

/// A command for `bin` with its arguments.
pub fn command<I, S>(bin: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(bin);
    c.args(args);
    c
}

/// The longest error line quoted in a message.
const MAX_QUOTED_BYTES: usize = 300;

/// The last meaningful error line of an ffmpeg/ffprobe stderr, for messages (at most
/// `MAX_QUOTED_BYTES` of it).
pub fn last_error_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rfind(|l| ffmpeg_sidecar::log_parser::try_parse_progress(l).is_none())
        .unwrap_or("no error output");
    let cut = truncate_utf8(line, MAX_QUOTED_BYTES);
    if cut.len() < line.len() {
        format!("{cut}…")
    } else {
        cut.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_without_end_is_kept_up_to_the_cap() {
        let data = vec![b'x'; MAX_LINE_BYTES * 3 + 17];
        let mut r = BufReader::with_capacity(1000, &data[..]);
        let mut line = Vec::new();
        assert_eq!(read_until_cr_or_lf(&mut r, &mut line).unwrap(), data.len());
        assert_eq!(line.len(), MAX_LINE_BYTES);
        line.clear();
        assert_eq!(read_until_cr_or_lf(&mut r, &mut line).unwrap(), 0);
    }

    #[test]
    fn lines_split_on_cr_and_lf() {
        let mut r = BufReader::new(&b"frame=1\rframe=2\nerror\n"[..]);
        let mut lines = Vec::new();
        let mut line = Vec::new();
        while read_until_cr_or_lf(&mut r, &mut line).unwrap() > 0 {
            lines.push(String::from_utf8(std::mem::take(&mut line)).unwrap());
        }
        assert_eq!(lines, ["frame=1", "frame=2", "error"]);
    }

    #[test]
    fn quoted_lines_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let q = last_error_line(&format!("ok\n{long}\n"));
        assert!(q.len() <= MAX_QUOTED_BYTES + "…".len());
        assert!(q.ends_with('…'));
        assert_eq!(last_error_line("a\nb\n"), "b");
    }
}
