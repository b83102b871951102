//! The one thread besides the reactor: it makes renditions (decoding and encoding JPEG is the
//! only work too slow for the reactor), taking jobs from a bounded channel and handing results
//! back through another, waking the reactor's poll with a mio `Waker` after each job.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::Waker;

use crate::server::adapt::render::{render, Done, Job};

/// Jobs queued for the worker; past this, the core is told to ask again later.
const QUEUE: usize = 64;

pub struct Worker {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    pub fn spawn(waker: Arc<Waker>) -> std::io::Result<Worker> {
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(QUEUE);
        let (done_tx, results) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("rtspd-render".into())
            .spawn(move || {
                while let Ok(job) = job_rx.recv() {
                    for d in render(&job) {
                        if done_tx.send(d).is_err() {
                            return;
                        }
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            results,
            thread: Some(thread),
        })
    }

    /// Hands a job over; gives it back when the queue is full.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        match self.jobs.as_ref().map(|j| j.try_send(job)) {
            Some(Ok(())) => Ok(()),
            Some(Err(TrySendError::Full(j) | TrySendError::Disconnected(j))) => Err(j),
            None => unreachable!("jobs are only taken in drop"),
        }
    }

    /// A finished rendition, if one is waiting.
    pub fn try_recv(&self) -> Option<Done> {
        self.results.try_recv().ok()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread after its current job.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
