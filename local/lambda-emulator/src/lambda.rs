//! The Lambda service's part: functions, their invocation queues and their instances.
//!
//! Each function has one queue; each instance (a process) takes invocations from it by
//! long-polling `/next`: one at a time, as in Lambda, or up to the function's concurrency
//! at once, as on Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`), where the
//! runtime polls once per slot. An invocation handed to an instance is recorded on that
//! instance until it answers (`/response`, `/error`), dies or runs out of time, so that
//! exactly one outcome reaches whoever waits for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub const ACCOUNT_ID: &str = "000000000000";

/// Lambda's limit on a synchronous payload, request or response.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

pub fn region() -> String {
    std::env::var("AWS_REGION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "us-east-1".into())
}

pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}", region())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; a poisoned one still holds valid state.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// How an invocation ended.
#[derive(Debug)]
pub enum Outcome {
    /// The function's answer (`/response`), whole.
    Response(Bytes),
    /// The function reported an error (`/error`): its error document and type.
    FunctionError { error_type: String, payload: Bytes },
    /// No usable answer: the process died, the answer could not be read or was too large.
    Failed {
        error_type: &'static str,
        reason: String,
    },
    /// It ran past its deadline and was stopped.
    TimedOut,
}

/// One request for a function to run.
pub struct Invocation {
    pub id: String,
    pub payload: Bytes,
    /// A synchronous caller's deadline (from its arrival); Event invocations have none
    /// until an instance takes them (then the function's timeout applies).
    pub deadline: Option<Instant>,
    /// Where the outcome goes; `None` for Event invocations (nobody waits).
    pub reply: Option<oneshot::Sender<Outcome>>,
}

impl Invocation {
    /// A synchronous invocation and the receiver of its outcome.
    pub fn request_response(
        payload: Bytes,
        id: String,
        deadline: Instant,
    ) -> (Self, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        let invocation = Invocation {
            id,
            payload,
            deadline: Some(deadline),
            reply: Some(tx),
        };
        (invocation, rx)
    }

    pub fn event(payload: Bytes, id: String) -> Self {
        Invocation {
            id,
            payload,
            deadline: None,
            reply: None,
        }
    }

    /// Nobody waits for it any more (the caller timed out or went away).
    fn abandoned(&self) -> bool {
        self.reply.as_ref().is_some_and(|tx| tx.is_closed())
            || self.deadline.is_some_and(|d| d <= Instant::now())
    }
}

pub struct Function {
    pub name: Arc<str>,
    pub binary: PathBuf,
    pub timeout: Duration,
    pub instances: usize,
    /// Invocations one instance runs at once (1: Lambda's one at a time).
    pub concurrency: usize,
    tx: mpsc::UnboundedSender<Invocation>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Event payloads queued and not yet taken: an identical Event invocation joins the
    /// queued one instead of queueing again (the `email` trigger after every commit).
    pending_events: Mutex<Vec<Bytes>>,
}

impl Function {
    pub fn new(
        name: &str,
        binary: PathBuf,
        timeout: Duration,
        instances: usize,
        concurrency: usize,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Function {
            name: name.into(),
            binary,
            timeout,
            instances,
            concurrency: concurrency.max(1),
            tx,
            rx: tokio::sync::Mutex::new(rx),
            pending_events: Mutex::new(Vec::new()),
        }
    }

    /// Queues an invocation; `false` when an identical Event invocation was already queued.
    pub fn invoke(&self, invocation: Invocation) -> bool {
        if invocation.reply.is_none() {
            let mut pending = lock(&self.pending_events);
            if pending.contains(&invocation.payload) {
                return false;
            }
            pending.push(invocation.payload.clone());
        }
        // The receiver lives as long as the function: sending cannot fail.
        let _ = self.tx.send(invocation);
        true
    }

    /// Runs a synchronous invocation and waits for its outcome until `deadline` (then it
    /// is `TimedOut`); `None` when the invocation was dropped without one.
    pub async fn call(&self, payload: Bytes, id: String, deadline: Instant) -> Option<Outcome> {
        let (invocation, outcome) = Invocation::request_response(payload, id, deadline);
        self.invoke(invocation);
        match tokio::time::timeout_at(deadline.into(), outcome).await {
            Ok(Ok(outcome)) => Some(outcome),
            Ok(Err(_)) => None,
            Err(_) => Some(Outcome::TimedOut),
        }
    }

    /// The next invocation someone still waits for (cancel-safe: dropping the future
    /// loses nothing).
    async fn next(&self) -> Invocation {
        let mut rx = self.rx.lock().await;
        while let Some(invocation) = rx.recv().await {
            if invocation.reply.is_none() {
                let mut pending = lock(&self.pending_events);
                if let Some(i) = pending.iter().position(|p| *p == invocation.payload) {
                    pending.swap_remove(i);
                }
            }
            if invocation.abandoned() {
                tracing::debug!(function = %self.name, request_id = %invocation.id, "dropped an invocation nobody waits for");
                continue;
            }
            return invocation;
        }
        // Never reached: `self.tx` keeps the channel open.
        std::future::pending().await
    }
}

/// An invocation an instance is running.
struct Running {
    id: String,
    reply: Option<oneshot::Sender<Outcome>>,
    started: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct InstanceState {
    /// Oldest first; at most the function's concurrency.
    running: Vec<Running>,
    dead: bool,
    /// The invocations the watchdog found past their deadline (the process is then killed).
    timed_out: Vec<String>,
    /// The last invocation, when it ran alone and nothing has started since: its output
    /// lines can reach us after its answer (a pipe is not ordered with a socket).
    last_alone: Option<String>,
    served: u64,
}

impl InstanceState {
    fn position(&self, id: &str) -> Option<usize> {
        self.running.iter().position(|r| r.id == id)
    }

    /// What the watchdog waits for: the earliest deadline of what runs here.
    fn earliest_deadline(&self) -> Option<Instant> {
        self.running.iter().map(|r| r.deadline).min()
    }
}

/// One process of a function, known to the Runtime API by its token.
pub struct Instance {
    pub function: Arc<Function>,
    pub slot: usize,
    pub token: String,
    state: Mutex<InstanceState>,
    /// The earliest deadline of the running invocations, for the supervisor's watchdog.
    deadline: watch::Sender<Option<Instant>>,
    /// Cancelled when the process is gone: a `/next` still waiting on its behalf stops.
    gone: CancellationToken,
}

/// What `/next` hands to the runtime.
pub struct Assignment {
    pub id: String,
    pub payload: Bytes,
    pub deadline: Instant,
}

impl Instance {
    pub fn new(function: Arc<Function>, slot: usize, token: String) -> Self {
        Instance {
            function,
            slot,
            token,
            state: Mutex::new(InstanceState::default()),
            deadline: watch::Sender::new(None),
            gone: CancellationToken::new(),
        }
    }

    pub fn deadline_watch(&self) -> watch::Receiver<Option<Instant>> {
        self.deadline.subscribe()
    }

    /// The invocation running here, when there is exactly one (output lines are then
    /// surely its own).
    pub fn current_request_id(&self) -> Option<String> {
        let state = lock(&self.state);
        match state.running.as_slice() {
            [only] => Some(only.id.clone()),
            [] => state.last_alone.clone(),
            _ => None,
        }
    }

    pub fn served(&self) -> u64 {
        lock(&self.state).served
    }

    /// Waits for the next invocation and records it as running here; `None` when the
    /// process is gone meanwhile (the invocation, if one was taken, goes back in the queue).
    /// A runtime that asks for more than its concurrency has left one unanswered: the
    /// oldest fails.
    pub async fn next(&self) -> Option<Assignment> {
        self.fail_the_unanswered();
        let invocation = tokio::select! {
            invocation = self.function.next() => invocation,
            () = self.gone.cancelled() => return None,
        };
        let deadline = invocation
            .deadline
            .unwrap_or_else(|| Instant::now() + self.function.timeout);
        let taken = {
            let mut state = lock(&self.state);
            // Gone, or about to be: an invocation here is past its deadline, so the
            // watchdog kills the process. A slot free beside it takes nothing.
            let now = Instant::now();
            let doomed =
                !state.timed_out.is_empty() || state.earliest_deadline().is_some_and(|d| d <= now);
            if state.dead || doomed {
                Err(invocation)
            } else {
                state.last_alone = None;
                state.running.push(Running {
                    id: invocation.id.clone(),
                    reply: invocation.reply,
                    started: now,
                    deadline,
                });
                Ok((invocation.id, invocation.payload, state.earliest_deadline()))
            }
        };
        let (id, payload, earliest) = match taken {
            Ok(taken) => taken,
            Err(invocation) => {
                // Back in the queue, through the front door: an Event is coalesced again.
                self.function.invoke(invocation);
                self.gone.cancelled().await;
                return None;
            }
        };
        self.deadline.send_replace(earliest);
        Some(Assignment {
            id,
            payload,
            deadline,
        })
    }

    /// A poll with every slot taken: the runtime left the oldest invocation unanswered.
    fn fail_the_unanswered(&self) {
        let (unanswered, earliest) = {
            let mut state = lock(&self.state);
            let full = state.running.len() >= self.function.concurrency;
            let unanswered = full.then(|| state.running.remove(0));
            (unanswered, state.earliest_deadline())
        };
        let Some(running) = unanswered else {
            return;
        };
        let reason = "the runtime asked for the next invocation without answering this one";
        tracing::warn!(function = %self.function.name, instance = self.slot, request_id = %running.id, "{reason}");
        send(
            running.reply,
            Outcome::Failed {
                error_type: "Runtime.InvalidState",
                reason: reason.into(),
            },
        );
        self.deadline.send_replace(earliest);
    }

    /// Whether `id` is an invocation running here.
    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.state).position(id).is_some()
    }

    /// Ends the running invocation `id` with `outcome`: how long it ran, or `None` if it is
    /// not running here (any more).
    pub fn finish(&self, id: &str, outcome: Outcome) -> Option<Duration> {
        let (running, earliest) = {
            let mut state = lock(&self.state);
            let at = state.position(id)?;
            let running = state.running.remove(at);
            let alone = state.running.is_empty();
            state.last_alone = alone.then(|| running.id.clone());
            if matches!(outcome, Outcome::Response(_)) {
                state.served += 1;
            }
            (running, state.earliest_deadline())
        };
        self.deadline.send_replace(earliest);
        let took = running.started.elapsed();
        send(running.reply, outcome);
        Some(took)
    }

    /// The watchdog's verdict at its deadline: the invocations past their deadline are
    /// timed out. Returns the first one's id if any (the caller then kills the process;
    /// their outcome is `TimedOut`, that of the others running beside them a failure).
    pub fn time_out(&self) -> Option<String> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let overdue: Vec<String> = state
            .running
            .iter()
            .filter(|r| r.deadline <= now)
            .map(|r| r.id.clone())
            .collect();
        let first = overdue.first().cloned();
        state.timed_out.extend(overdue);
        first
    }

    /// The process exited: whatever ran here fails (or timed out), and no `/next` waits on
    /// its behalf any more.
    pub fn died(&self, reason: &str) {
        let (running, timed_out) = {
            let mut state = lock(&self.state);
            state.dead = true;
            (
                std::mem::take(&mut state.running),
                std::mem::take(&mut state.timed_out),
            )
        };
        self.gone.cancel();
        self.deadline.send_replace(None);
        for running in running {
            let timed_out = timed_out.contains(&running.id);
            let outcome = match timed_out {
                true => Outcome::TimedOut,
                false => Outcome::Failed {
                    error_type: "Runtime.ExitError",
                    reason: reason.to_string(),
                },
            };
            tracing::warn!(
                function = %self.function.name, instance = self.slot, request_id = %running.id,
                timed_out, "the instance ended during an invocation: {reason}"
            );
            send(running.reply, outcome);
        }
    }
}

fn send(reply: Option<oneshot::Sender<Outcome>>, outcome: Outcome) {
    if let Some(tx) = reply {
        let _ = tx.send(outcome);
    }
}

/// Every function, and the live instances by token.
pub struct Service {
    pub functions: HashMap<Arc<str>, Arc<Function>>,
    instances: Mutex<HashMap<String, Arc<Instance>>>,
}

impl Service {
    pub fn new(functions: impl IntoIterator<Item = Function>) -> Self {
        Service {
            functions: functions
                .into_iter()
                .map(|f| (f.name.clone(), Arc::new(f)))
                .collect(),
            instances: Mutex::new(HashMap::new()),
        }
    }

    pub fn function(&self, name: &str) -> Option<&Arc<Function>> {
        self.functions.get(name)
    }

    pub fn register(&self, instance: Arc<Instance>) {
        lock(&self.instances).insert(instance.token.clone(), instance);
    }

    pub fn unregister(&self, token: &str) {
        lock(&self.instances).remove(token);
    }

    /// The instance a Runtime API call comes from: its function's name and its token.
    pub fn instance(&self, function: &str, token: &str) -> Option<Arc<Instance>> {
        lock(&self.instances)
            .get(token)
            .filter(|i| &*i.function.name == function)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function() -> Arc<Function> {
        function_running(1)
    }

    fn function_running(concurrency: usize) -> Arc<Function> {
        Arc::new(Function::new(
            "f",
            PathBuf::from("/nowhere/f"),
            Duration::from_secs(5),
            1,
            concurrency,
        ))
    }

    fn sync(id: &str, f: &Function) -> oneshot::Receiver<Outcome> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let (invocation, rx) =
            Invocation::request_response(Bytes::from_static(b"{}"), id.into(), deadline);
        assert!(f.invoke(invocation));
        rx
    }

    #[tokio::test]
    async fn an_invocation_runs_on_one_instance_and_its_answer_reaches_the_caller() {
        let f = function();
        let instance = Instance::new(f.clone(), 0, "t".into());
        let rx = sync("a", &f);
        let assignment = instance.next().await.unwrap();
        assert_eq!(assignment.id, "a");
        assert_eq!(instance.current_request_id().as_deref(), Some("a"));
        assert!(instance.finish("b", Outcome::TimedOut).is_none());
        assert!(
            instance
                .finish("a", Outcome::Response(Bytes::from_static(b"ok")))
                .is_some()
        );
        assert!(matches!(rx.await.unwrap(), Outcome::Response(b) if b == "ok"));
        assert_eq!(instance.served(), 1);
        // Its output lines can arrive after its answer: still its own until another starts.
        assert_eq!(instance.current_request_id().as_deref(), Some("a"));
        let _b = sync("b", &f);
        assert_eq!(instance.next().await.unwrap().id, "b");
        assert_eq!(instance.current_request_id().as_deref(), Some("b"));
    }

    #[tokio::test]
    async fn invocations_nobody_waits_for_are_skipped() {
        let f = function();
        let instance = Instance::new(f.clone(), 0, "t".into());
        drop(sync("gone", &f));
        let _rx = sync("kept", &f);
        assert_eq!(instance.next().await.unwrap().id, "kept");
    }

    #[tokio::test]
    async fn a_dying_instance_fails_its_invocation_and_stops_waiting() {
        let f = function();
        let instance = Arc::new(Instance::new(f.clone(), 0, "t".into()));
        let rx = sync("a", &f);
        instance.next().await.unwrap();
        instance.died("exit status: 3");
        assert!(matches!(rx.await.unwrap(), Outcome::Failed { .. }));
        // A /next still pending for a dead instance returns at once.
        assert!(instance.next().await.is_none());
        // A timed-out one reports the timeout.
        let other = Instance::new(f.clone(), 1, "u".into());
        let (b, rx) = Invocation::request_response(
            Bytes::from_static(b"{}"),
            "b".into(),
            Instant::now() + Duration::from_millis(10),
        );
        f.invoke(b);
        other.next().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(other.time_out().as_deref(), Some("b"));
        other.died("killed");
        assert!(matches!(rx.await.unwrap(), Outcome::TimedOut));
    }

    #[tokio::test]
    async fn an_instance_runs_up_to_its_concurrency_and_each_answer_reaches_its_caller() {
        let f = function_running(2);
        let instance = Instance::new(f.clone(), 0, "t".into());
        let (a, b, c) = (sync("a", &f), sync("b", &f), sync("c", &f));
        assert_eq!(instance.next().await.unwrap().id, "a");
        assert_eq!(instance.next().await.unwrap().id, "b");
        assert!(instance.is_running("a") && instance.is_running("b"));
        // Two run: output lines cannot be told apart.
        assert!(instance.current_request_id().is_none());
        instance.finish("b", Outcome::Response(Bytes::from_static(b"B")));
        assert!(matches!(b.await.unwrap(), Outcome::Response(r) if r == "B"));
        assert_eq!(instance.current_request_id().as_deref(), Some("a"));
        assert_eq!(instance.next().await.unwrap().id, "c");
        // A third poll with both slots taken: the oldest was left unanswered.
        let _d = sync("d", &f);
        assert_eq!(instance.next().await.unwrap().id, "d");
        assert!(matches!(
            a.await.unwrap(),
            Outcome::Failed {
                error_type: "Runtime.InvalidState",
                ..
            }
        ));
        assert!(instance.is_running("c") && instance.is_running("d"));
        drop(c);
    }

    #[tokio::test]
    async fn only_the_overdue_time_out_and_the_others_fail_with_the_process() {
        let f = function_running(3);
        let instance = Instance::new(f.clone(), 0, "t".into());
        let now = Instant::now();
        let (soon, rx_soon) = Invocation::request_response(
            Bytes::from_static(b"{}"),
            "soon".into(),
            now + Duration::from_millis(20),
        );
        f.invoke(soon);
        let rx_late = sync("late", &f);
        instance.next().await.unwrap();
        instance.next().await.unwrap();
        let mut watch = instance.deadline_watch();
        assert_eq!(
            *watch.borrow_and_update(),
            Some(now + Duration::from_millis(20))
        );
        assert!(instance.time_out().is_none(), "nothing is overdue yet");
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Doomed: a free slot beside the overdue one takes nothing, it stays queued for
        // another instance.
        let _waiting = sync("waiting", &f);
        let poll = tokio::time::timeout(Duration::from_millis(50), instance.next()).await;
        assert!(poll.is_err(), "a doomed instance waits for its end");
        let other = Instance::new(f.clone(), 1, "u".into());
        assert_eq!(other.next().await.unwrap().id, "waiting");
        assert_eq!(instance.time_out().as_deref(), Some("soon"));
        instance.died("killed");
        assert!(matches!(rx_soon.await.unwrap(), Outcome::TimedOut));
        assert!(matches!(
            rx_late.await.unwrap(),
            Outcome::Failed {
                error_type: "Runtime.ExitError",
                ..
            }
        ));
    }

    #[tokio::test]
    async fn identical_queued_events_are_coalesced() {
        let f = function();
        let payload = Bytes::from_static(b"{}");
        assert!(f.invoke(Invocation::event(payload.clone(), "1".into())));
        assert!(!f.invoke(Invocation::event(payload.clone(), "2".into())));
        assert!(f.invoke(Invocation::event(
            Bytes::from_static(b"{\"a\":1}"),
            "3".into()
        )));
        let instance = Instance::new(f.clone(), 0, "t".into());
        assert_eq!(instance.next().await.unwrap().id, "1");
        // Once taken, the same payload queues again.
        assert!(f.invoke(Invocation::event(payload, "4".into())));
    }
}
