//! Process-test helper binaries, and the helpers the integration tests in
//! `tests/` share (each file there is its own test binary, and imports what
//! it needs with `use tests::...`).
//!
//! Every helper that waits is bounded, so that a hang fails the test instead
//! of blocking the suite. The bounds are in tokio time: the real clock, or the
//! paused one (`#[tokio::test(start_paused = true)]`), on which a long bound
//! costs nothing.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use supervisor::{
    BlockingHandle, Builder, Context, Error, RestartPolicy, ServiceSnapshot, Status, Supervisor,
    TaskDescriptor, TaskHandle,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

// ---------------------------------------------------------------- starting

/// A supervisor that starts none of the declared services: for tests that
/// only spawn tasks and jobs at run time.
pub fn start_empty() -> Supervisor {
    Builder::new()
        .only(Vec::<String>::new())
        .start()
        .expect("a supervisor without services starts")
}

/// A supervisor running exactly the declared services `names`. Tests of one
/// binary run in parallel in one process, so each starts only its own.
pub fn start_only(names: &[&str]) -> Supervisor {
    Builder::new()
        .only(names)
        .start()
        .unwrap_or_else(|err| panic!("starting {names:?} failed: {err}"))
}

/// `RestartPolicy::Backoff` in short: at most `max` restarts in a row, the
/// first after `base_delay`.
pub fn backoff(max: u32, base_delay: Duration) -> RestartPolicy {
    RestartPolicy::Backoff { max, base_delay }
}

// ---------------------------------------------------------------- declared services

// Each macro declares one `#[supervised]` service per name it is given (in
// an anonymous `const`, so the names need no function of their own). They
// expand in the calling test binary, which depends on `supervisor` and
// `tokio` as every test here does.

/// Declares services that run until they are told to stop, then return (so
/// they end `stopped`): `tests::idle_services!("a", "b");`.
#[macro_export]
macro_rules! idle_services {
    ($($name:tt),+ $(,)?) => {
        $crate::__services!((ctx: ::supervisor::Context) {
            ctx.cancelled().await;
        } $($name)+);
    };
}

/// Declares services that take a `Context` but never look at it: only an
/// abort or the shutdown timeout ends them (`aborted`).
#[macro_export]
macro_rules! stubborn_services {
    ($($name:tt),+ $(,)?) => {
        $crate::__services!((_ctx: ::supervisor::Context) {
            loop {
                ::tokio::time::sleep(::core::time::Duration::from_secs(3600)).await;
            }
        } $($name)+);
    };
}

/// Declares services that return at once (so they end `completed`).
#[macro_export]
macro_rules! completing_services {
    ($($name:tt),+ $(,)?) => {
        $crate::__services!(() {} $($name)+);
    };
}

/// One `async fn service($params) $body` declared under each name.
#[doc(hidden)]
#[macro_export]
macro_rules! __services {
    ($params:tt $body:block $($name:tt)+) => {$(
        const _: () = {
            #[::supervisor::supervised(name = $name)]
            async fn service $params $body
        };
    )+};
}

// ---------------------------------------------------------------- tasks

/// A run that waits until it is told to stop, then returns `Ok`: a task
/// factory as it is (`TaskDescriptor::new(name, policy, until_cancelled)`).
pub async fn until_cancelled(ctx: Context) -> Result<(), std::io::Error> {
    ctx.cancelled().await;
    Ok(())
}

/// Adds one to `ticks` every second (tokio time) until `ctx` is told to stop.
pub async fn tick_until_cancelled(ctx: &Context, ticks: &AtomicUsize) {
    loop {
        tokio::select! {
            () = ctx.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// A task that runs until it is told to stop, then returns `Ok` (so it ends
/// `stopped`); it is never restarted.
pub fn idle_task(name: &str) -> TaskDescriptor {
    TaskDescriptor::new(name, RestartPolicy::Never, until_cancelled)
}

/// Spawns an [`idle_task`] named `name` on `sup`.
pub fn spawn_idle(sup: &Supervisor, name: &str) -> TaskHandle {
    spawn(sup, idle_task(name))
}

/// A task that returns `Ok` at once (so it ends `completed`); it is never
/// restarted.
pub fn completing_task(name: &str) -> TaskDescriptor {
    TaskDescriptor::new(name, RestartPolicy::Never, |_ctx| async {
        Ok::<(), std::io::Error>(())
    })
}

/// Spawns a [`completing_task`] named `name` on `sup`.
pub fn spawn_completing(sup: &Supervisor, name: &str) -> TaskHandle {
    spawn(sup, completing_task(name))
}

/// `sup.spawn(task)`, which must be accepted.
fn spawn(sup: &Supervisor, task: TaskDescriptor) -> TaskHandle {
    let name = task.name.clone();
    sup.spawn(task)
        .unwrap_or_else(|err| panic!("spawning `{name}` failed: {err}\n{sup}"))
}

/// Spawns a task named `name` whose every run fails at once with `reason`,
/// restarted per `policy`.
pub fn spawn_failing(
    sup: &Supervisor,
    name: &str,
    policy: RestartPolicy,
    reason: &'static str,
) -> TaskHandle {
    spawn(
        sup,
        TaskDescriptor::new(
            name,
            policy,
            move |_ctx| async move { Err::<(), _>(reason) },
        ),
    )
}

/// Wraps a task factory so that each of its calls (one per run) is counted:
/// returns the counter and the wrapped factory, for `TaskDescriptor::new`.
pub fn counted<F, Fut>(
    factory: F,
) -> (
    Arc<AtomicU32>,
    impl Fn(Context) -> Fut + Send + Sync + 'static,
)
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
{
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let factory = move |ctx| {
        counter.fetch_add(1, Ordering::SeqCst);
        factory(ctx)
    };
    (calls, factory)
}

/// A blocking job that sends `tag` on `started` once its closure runs, then
/// blocks until its gate (the returned sender) gets a message or is dropped,
/// and returns `tag`.
pub fn held_job(
    sup: &Supervisor,
    name: &str,
    tag: usize,
    started: &mpsc::UnboundedSender<usize>,
) -> (BlockingHandle<usize>, std_mpsc::Sender<()>) {
    let (gate, gate_rx) = std_mpsc::channel::<()>();
    let started = started.clone();
    let handle = sup.spawn_blocking(name, move || {
        let _ = started.send(tag);
        let _ = gate_rx.recv();
        tag
    });
    (handle, gate)
}

/// Runs its closure when dropped: proof that the future holding it went
/// away. Made by [`on_drop`] or [`send_on_drop`].
pub struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A guard that calls `f` when dropped.
pub fn on_drop<F: FnOnce()>(f: F) -> OnDrop<F> {
    OnDrop(Some(f))
}

/// A guard that sends `message` on `tx` when dropped.
pub fn send_on_drop<T: Send + 'static>(
    tx: &mpsc::UnboundedSender<T>,
    message: T,
) -> OnDrop<impl FnOnce() + Send + 'static> {
    let tx = tx.clone();
    on_drop(move || {
        let _ = tx.send(message);
    })
}

// ---------------------------------------------------------------- reading

/// The row of `name`, or a panic showing the whole table.
pub fn row(sup: &Supervisor, name: &str) -> ServiceSnapshot {
    sup.snapshot()
        .into_iter()
        .find(|r| &*r.name == name)
        .unwrap_or_else(|| panic!("no row named `{name}` in\n{sup}"))
}

/// The status in the row of `name` (see [`row`]).
pub fn status(sup: &Supervisor, name: &str) -> Status {
    row(sup, name).status
}

/// The reason in the row of `name`, which must be `Failed`; a panic showing
/// the table if it is not.
#[track_caller]
pub fn failure_reason(sup: &Supervisor, name: &str) -> String {
    match status(sup, name) {
        Status::Failed { reason } => reason,
        other => panic!("expected `{name}` to be failed, it is {other}\n{sup}"),
    }
}

/// Asserts that the row of `name` shows `expected`, showing the table if not.
#[track_caller]
pub fn assert_status(sup: &Supervisor, name: &str, expected: Status) {
    assert_eq!(status(sup, name), expected, "the status of `{name}`\n{sup}");
}

/// How many rows are named `name` (a name has one row, however often spawned).
pub fn rows_named(sup: &Supervisor, name: &str) -> usize {
    sup.snapshot().iter().filter(|r| &*r.name == name).count()
}

/// The names of the rows, in snapshot order.
pub fn names(sup: &Supervisor) -> Vec<String> {
    sup.snapshot().iter().map(|r| r.name.to_string()).collect()
}

/// The services named by a `shutdown` (or `run`) result, with their final
/// status; empty for `Ok`. Any other error is a panic.
pub fn failures(result: &Result<(), Error>) -> Vec<(String, Status)> {
    match result {
        Ok(()) => Vec::new(),
        Err(Error::Services { failures }) => failures
            .iter()
            .map(|f| (f.name.to_string(), f.status.clone()))
            .collect(),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

/// The names in [`failures`], without their status.
pub fn failed_names(result: &Result<(), Error>) -> Vec<String> {
    failures(result).into_iter().map(|(name, _)| name).collect()
}

// ---------------------------------------------------------------- waiting

/// `sup.wait()`, at most `within`.
pub async fn wait_idle(sup: &Supervisor, within: Duration) {
    if tokio::time::timeout(within, sup.wait()).await.is_err() {
        panic!("services still active after {within:?}\n{sup}");
    }
}

/// Starts `sup.shutdown(timeout)` in a task of its own and returns once the
/// shutdown has begun (at most `within`), with the task that ends with its
/// result.
pub async fn shutdown_in_background(
    sup: &Supervisor,
    timeout: Duration,
    within: Duration,
) -> JoinHandle<Result<(), Error>> {
    let shutdown = tokio::spawn({
        let sup = sup.clone();
        async move { sup.shutdown(timeout).await }
    });
    tokio::time::timeout(within, sup.cancellation_token().cancelled())
        .await
        .unwrap_or_else(|_| panic!("the shutdown did not begin within {within:?}\n{sup}"));
    shutdown
}

/// The next message on `rx`, waiting at most `within`; `what` names it in
/// the panic that ends a longer wait (or a closed channel).
pub async fn next<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    within: Duration,
    what: &str,
    sup: &Supervisor,
) -> T {
    tokio::time::timeout(within, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}\n{sup}"))
        .unwrap_or_else(|| panic!("channel closed while waiting for {what}\n{sup}"))
}

/// A polling loop: look `every` so often (tokio time), for at most `within`.
#[derive(Clone, Copy, Debug)]
pub struct Poll {
    /// The pause between two looks.
    pub every: Duration,
    /// How long to keep looking before the test fails.
    pub within: Duration,
}

impl Poll {
    /// Waits until `done()` holds; past `within`, panics naming `what` and
    /// showing `sup`'s table.
    pub async fn until(self, sup: &Supervisor, what: &str, done: impl FnMut() -> bool) {
        self.until_with(what, || sup.to_string(), done).await;
    }

    /// Waits until the row of `name` exists and shows `expected`.
    pub async fn until_status(self, sup: &Supervisor, name: &str, expected: Status) {
        let what = format!("`{name}` to be {expected}");
        self.until(sup, &what, || {
            sup.snapshot()
                .iter()
                .any(|r| &*r.name == name && r.status == expected)
        })
        .await;
    }

    /// Waits until `done()` holds; past `within`, panics naming `what`,
    /// followed by what `context()` says then.
    pub async fn until_with(
        self,
        what: &str,
        context: impl Fn() -> String,
        mut done: impl FnMut() -> bool,
    ) {
        let deadline = Instant::now() + self.within;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                context()
            );
            tokio::time::sleep(self.every).await;
        }
    }
}

// ---------------------------------------------------------------- HTTP

/// What [`http_get`] read: the status code, the `Content-Type` header and
/// the body.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, as text.
    pub body: String,
}

/// A plain HTTP/1.1 `GET path` to `addr` on a fresh connection
/// (`Connection: close`), read to the end: the few lines of a client that
/// the health tests need, with no client library between the test and the
/// server. Panics on an I/O error, on an answer that is not HTTP/1.1 with a
/// `Content-Length`, and after 10 s.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> HttpResponse {
    match try_http_get(addr, path).await {
        Ok(response) => response,
        Err(err) => panic!("GET http://{addr}{path}: {err}"),
    }
}

/// [`http_get`], with the I/O error returned (e.g. the connection refused
/// once the server has stopped).
pub async fn try_http_get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<HttpResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 10 s")
        })??;
    let text = String::from_utf8(raw).expect("a text answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an answer without a blank line after its head: {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {status_line:?}"));
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let length: usize = header("content-length")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an answer without Content-Length: {head:?}"));
    assert_eq!(body.len(), length, "the body's length: {text:?}");
    Ok(HttpResponse {
        status,
        content_type: header("content-type"),
        body: body.to_string(),
    })
}
