//! The Lambda service's part: functions, their invocation queues and their instances.
//!
//! Each function has one queue; each instance (a process) takes one invocation at a time
//! from it by long-polling `/next`, as in Lambda. An invocation handed to an instance is
//! recorded on that instance until it answers (`/response`, `/error`), dies or runs out of
//! time, so that exactly one outcome reaches whoever waits for it.

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
    tx: mpsc::UnboundedSender<Invocation>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Event payloads queued and not yet taken: an identical Event invocation joins the
    /// queued one instead of queueing again (the `email` trigger after every commit).
    pending_events: Mutex<Vec<Bytes>>,
}

impl Function {
    pub fn new(name: &str, binary: PathBuf, timeout: Duration, instances: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Function {
            name: name.into(),
            binary,
            timeout,
            instances,
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

/// The invocation an instance is running.
struct Running {
    id: String,
    reply: Option<oneshot::Sender<Outcome>>,
    started: Instant,
}

#[derive(Default)]
struct InstanceState {
    running: Option<Running>,
    dead: bool,
    timed_out: bool,
    served: u64,
}

/// One process of a function, known to the Runtime API by its token.
pub struct Instance {
    pub function: Arc<Function>,
    pub slot: usize,
    pub token: String,
    state: Mutex<InstanceState>,
    /// The deadline of the running invocation, for the supervisor's watchdog.
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

    pub fn current_request_id(&self) -> Option<String> {
        lock(&self.state).running.as_ref().map(|r| r.id.clone())
    }

    pub fn served(&self) -> u64 {
        lock(&self.state).served
    }

    /// Waits for the next invocation and records it as running here; `None` when the
    /// process is gone meanwhile (the invocation, if one was taken, goes back in the queue).
    pub async fn next(&self) -> Option<Assignment> {
        if let Some(running) = lock(&self.state).running.take() {
            let reason = "the runtime asked for the next invocation without answering this one";
            tracing::warn!(function = %self.function.name, instance = self.slot, request_id = %running.id, "{reason}");
            send(
                running.reply,
                Outcome::Failed {
                    error_type: "Runtime.InvalidState",
                    reason: reason.into(),
                },
            );
            self.deadline.send_replace(None);
        }
        let invocation = tokio::select! {
            invocation = self.function.next() => invocation,
            () = self.gone.cancelled() => return None,
        };
        let deadline = invocation
            .deadline
            .unwrap_or_else(|| Instant::now() + self.function.timeout);
        {
            let mut state = lock(&self.state);
            if state.dead {
                drop(state);
                // Back in the queue, through the front door: an Event is coalesced again.
                self.function.invoke(invocation);
                return None;
            }
            state.running = Some(Running {
                id: invocation.id.clone(),
                reply: invocation.reply,
                started: Instant::now(),
            });
        }
        self.deadline.send_replace(Some(deadline));
        Some(Assignment {
            id: invocation.id,
            payload: invocation.payload,
            deadline,
        })
    }

    /// Whether `id` is the invocation running here.
    pub fn is_running(&self, id: &str) -> bool {
        lock(&self.state)
            .running
            .as_ref()
            .is_some_and(|r| r.id == id)
    }

    /// Ends the running invocation `id` with `outcome`: how long it ran, or `None` if it is
    /// not running here (any more).
    pub fn finish(&self, id: &str, outcome: Outcome) -> Option<Duration> {
        let running = {
            let mut state = lock(&self.state);
            match &state.running {
                Some(r) if r.id == id => {}
                _ => return None,
            }
            if matches!(outcome, Outcome::Response(_)) {
                state.served += 1;
            }
            state.running.take()?
        };
        self.deadline.send_replace(None);
        let took = running.started.elapsed();
        send(running.reply, outcome);
        Some(took)
    }

    /// The watchdog's verdict: the running invocation is past its deadline. Returns its id
    /// if one was running (the caller then kills the process; the outcome is `TimedOut`).
    pub fn time_out(&self) -> Option<String> {
        let mut state = lock(&self.state);
        let id = state.running.as_ref()?.id.clone();
        state.timed_out = true;
        Some(id)
    }

    /// The process exited: whatever ran here fails (or timed out), and no `/next` waits on
    /// its behalf any more.
    pub fn died(&self, reason: &str) {
        let running = {
            let mut state = lock(&self.state);
            state.dead = true;
            state.running.take().map(|r| (r, state.timed_out))
        };
        self.gone.cancel();
        self.deadline.send_replace(None);
        if let Some((running, timed_out)) = running {
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
        Arc::new(Function::new(
            "f",
            PathBuf::from("/nowhere/f"),
            Duration::from_secs(5),
            1,
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
        assert!(instance.current_request_id().is_none());
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
        let rx = sync("b", &f);
        other.next().await.unwrap();
        assert_eq!(other.time_out().as_deref(), Some("b"));
        other.died("killed");
        assert!(matches!(rx.await.unwrap(), Outcome::TimedOut));
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
