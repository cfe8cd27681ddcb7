//! How the crate's helper threads are scheduled.

/// Have the calling thread run only on CPU time no other thread of the
/// process wants (`SCHED_IDLE`), for work whose result is needed only at
/// the end: hashing the input (which, competing for the cores with the
/// reading at the start, cost ingest 3-5 % of its time, docs/performance.md)
/// and parsing the event formats no record uses. Where the policy is not
/// available, the thread runs as before.
pub(crate) fn run_when_idle() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sets the calling thread's scheduling policy from a valid
        // parameter block; failure changes nothing.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}
