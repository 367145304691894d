//! The example configuration (`config/callscreen.toml`) for screening many
//! calls in-process: its lists read from `config/lists`, no rate or burst
//! limits (one test or benchmark sends a caller far more calls than any
//! real peer would). Shared by the tests (through `support`) and by
//! `benches/screen.rs` (through `#[path]`).

use callscreen::server::{CallPath, Handler};

/// A handler on the call path of the example configuration, ready (as the
/// daemon's receive threads have one each).
pub fn example_handler() -> Handler {
    example_handler_recording(None)
}

/// As [`example_handler`], recording every call into `records` (a
/// directory) when given, as `[records]` does in the daemon.
pub fn example_handler_recording(records: Option<&std::path::Path>) -> Handler {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/config/callscreen.toml"))
        .expect("the example configuration");
    let text: String = text
        .lines()
        .map(|l| {
            let l = l.replace("file = \"lists/", &format!("file = \"{root}/config/lists/"));
            for key in ["peer_calls_per_sec", "calls_per_number", "calls_per_block"] {
                if l.starts_with(&format!("{key} = ")) {
                    return format!("{key} = 0");
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = std::env::temp_dir().join(format!(
        "callscreen-example-{}-{:?}.toml",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&cfg, text).expect("a temporary file");
    let settings = callscreen::config::load(&cfg).expect("the example configuration loads");
    let _ = std::fs::remove_file(&cfg);
    let started = callscreen::loader::Loaded::start(settings, None).expect("the example loads");
    let shared = callscreen::state::Shared::new(callscreen::state::Runtime {
        settings: started.loaded.settings,
        lists: started.loaded.lists,
    });
    if let Some(dir) = records {
        let mut rs = shared
            .runtime
            .load()
            .settings
            .records
            .clone()
            .expect("the example configuration has [records]");
        rs.dir = dir.to_path_buf();
        let rec =
            callscreen::records::Recorder::start(&rs, callscreen::records::Sealing::InProcess)
                .expect("the records directory");
        let _ = shared.records.set(std::sync::Arc::new(rec));
    }
    shared
        .ready
        .store(true, std::sync::atomic::Ordering::SeqCst);
    Handler::new(CallPath::new(shared).expect("the call path"))
}
