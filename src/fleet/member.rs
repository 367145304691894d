//! A member of the fleet: its heartbeat as written to NATS, and its state
//! as the view judges it. Data only, below `node` and `view`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Beat {
    pub(super) node: String,
    pub(super) at: u64,
    pub(super) lists: Vec<BeatList>,
    #[serde(default)]
    pub(super) last_error: Option<String>,
    #[serde(default)]
    pub(super) software: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct BeatList {
    pub(super) name: String,
    pub(super) version: u64,
    pub(super) sha256: String,
    /// The sequence number of the head it applied (0: none).
    #[serde(default)]
    pub(super) seq: u64,
}

/// A member's state in the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Up,
    Lagging,
    Missing,
    /// NATS is down: the state as last read is not known to hold.
    Unknown,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Lagging => "lagging",
            State::Missing => "missing",
            State::Unknown => "unknown",
        }
    }
}

/// One member of the fleet as the view shows it.
#[derive(Clone, Debug)]
pub struct Member {
    pub(super) beat: Beat,
    pub state: State,
    /// Per list it serves: lagging or not.
    pub(super) lagging: Vec<bool>,
}

/// The members as last read, and when.
#[derive(Clone, Debug, Default)]
pub struct Members {
    pub at: u64,
    pub members: Vec<Member>,
}
