//! `GET /metrics`: the Prometheus text format.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::context::ApiState;
use crate::state::LATENCY_BUCKETS_US;

pub async fn metrics(State(st): State<Arc<ApiState>>) -> impl IntoResponse {
    let m = &st.shared.metrics;
    let a = &st.metrics;
    let mut o = String::new();
    let g = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let _ = writeln!(
        o,
        "# HELP callscreen_build_info The software this node runs (also in its fleet heartbeat).\n# TYPE callscreen_build_info gauge\ncallscreen_build_info{{version=\"{}\"}} 1",
        crate::fleet::SOFTWARE
    );
    let _ = writeln!(
        o,
        "# HELP callscreen_calls_total Screened INVITEs by verdict (retransmissions not counted)."
    );
    let _ = writeln!(o, "# TYPE callscreen_calls_total counter");
    let by_verdict = [
        &m.calls_allow,
        &m.calls_tag,
        &m.calls_anonymise,
        &m.calls_warn,
        &m.calls_reject,
    ];
    for (v, c) in crate::state::VERDICTS.iter().zip(by_verdict) {
        let _ = writeln!(o, "callscreen_calls_total{{verdict=\"{v}\"}} {}", g(c));
    }
    for (name, help, c) in [
        (
            "callscreen_retransmissions_total",
            "Retransmitted INVITEs answered from the cache.",
            &m.retransmissions,
        ),
        (
            "callscreen_merged_requests_total",
            "INVITEs sharing another transaction's Call-ID, From-tag and CSeq but not its branch, sent-by or source (redirect mode: 482).",
            &m.merged,
        ),
        (
            "callscreen_malformed_total",
            "Malformed messages (answered 400/505/513 or dropped).",
            &m.malformed,
        ),
        (
            "callscreen_unknown_source_total",
            "Requests from unknown sources refused.",
            &m.unknown_source,
        ),
        (
            "callscreen_unknown_trunk_total",
            "INVITEs from an SBC with an unknown trunk refused.",
            &m.unknown_trunk,
        ),
        (
            "callscreen_fail_open_total",
            "Calls let through untagged after an internal error.",
            &m.fail_open,
        ),
        ("callscreen_options_total", "OPTIONS answered.", &m.options),
        (
            "callscreen_tcp_refused_total",
            "TCP connections refused at the limit.",
            &m.tcp_refused,
        ),
        (
            "callscreen_reloads_total",
            "Successful SIGHUP reloads.",
            &m.reloads,
        ),
        (
            "callscreen_reload_failures_total",
            "SIGHUP reloads refused.",
            &m.reload_failures,
        ),
        (
            "callscreen_api_connections_refused_total",
            "Connections to the control API over [api] max_connections or max_connections_per_source, closed at accept.",
            &m.api_connections_refused,
        ),
        (
            "callscreen_udp_icmp_errors_total",
            "UDP receive errors a peer's ICMP error caused (a closed port, an unreachable host): counted, logged at most every 10 s.",
            &m.udp_icmp_errors,
        ),
        (
            "callscreen_store_rejected_total",
            "Stored list files passed over at start: checksum of the text or snapshot failed.",
            &m.store_rejected,
        ),
        (
            "callscreen_proxy_forwarded_total",
            "Proxy mode: requests forwarded to a next hop.",
            &m.forwarded,
        ),
        (
            "callscreen_proxy_relayed_total",
            "Proxy mode: responses relayed back.",
            &m.relayed,
        ),
        (
            "callscreen_proxy_absorbed_acks_total",
            "Proxy mode: ACKs for callscreen's own answers, not forwarded.",
            &m.absorbed_acks,
        ),
        (
            "callscreen_proxy_stray_responses_total",
            "Proxy mode: responses dropped (not from a next hop, or not through callscreen).",
            &m.stray_responses,
        ),
        (
            "callscreen_send_failures_total",
            "Messages that could not be sent on (no socket, queue full, connection failed).",
            &m.send_failures,
        ),
        (
            "callscreen_next_hop_unreachable_total",
            "Proxy mode: next-hop failures (TCP connect refused or timed out, probe unanswered).",
            &m.hop_unreachable,
        ),
        (
            "callscreen_shed_queue_age_total",
            "Requests that waited longer than [sip] shed_queue_age_ms: INVITEs let through unscreened, OPTIONS answered 503.",
            &m.shed_queue_age,
        ),
        (
            "callscreen_udp_queue_drops_total",
            "UDP datagrams the kernel dropped because a queue (the listener's or a peer's own) was full.",
            &m.udp_queue_drops,
        ),
        (
            "callscreen_log_lines_dropped_total",
            "NOC log lines dropped because the queue was full.",
            &m.dropped_log_lines,
        ),
        (
            "callscreen_hits_overflow_total",
            "List hits not counted per entry because the hits table was full where they belong ([hits] slots).",
            &st.shared.hits.overflow,
        ),
        (
            "callscreen_stir_fetches_total",
            "STIR: x5u certificate fetches started.",
            &m.stir.fetches,
        ),
        (
            "callscreen_stir_fetch_failures_total",
            "STIR: x5u fetches that gave no certificate (refused address or host, unreachable, timed out, not 200, too large).",
            &m.stir.fetch_failures,
        ),
        (
            "callscreen_stir_cache_hits_total",
            "STIR: signed calls whose certificate (or its failure) was in the cache.",
            &m.stir.cache_hits,
        ),
        (
            "callscreen_stir_over_budget_total",
            "STIR: signed calls that passed as No-TN-Validation because the certificate did not come within [stir] budget_ms.",
            &m.stir.over_budget,
        ),
        (
            "callscreen_stir_busy_total",
            "STIR: signed calls that passed as No-TN-Validation because the verification pool or the parking was full.",
            &m.stir.busy,
        ),
        (
            "callscreen_stir_crl_fetches_total",
            "STIR: CRL fetches started (the certificates' CRL distribution points).",
            &m.stir.crl_fetches,
        ),
        (
            "callscreen_stir_crl_failures_total",
            "STIR: CRLs that could not be had or were not believed (unreachable, too large, wrong issuer, bad signature, past nextUpdate).",
            &m.stir.crl_failures,
        ),
        (
            "callscreen_stir_revoked_total",
            "STIR: certificates refused because their CRL lists them.",
            &m.stir.revoked,
        ),
        (
            "callscreen_stir_rcd_fetches_total",
            "STIR: fetches started of what a verified Rich Call Data's URLs hold (a logo, a jCard), in the background, to check their rcdi digests.",
            &m.stir.rcd_fetches,
        ),
        (
            "callscreen_stir_rcd_fetch_failures_total",
            "STIR: Rich Call Data contents that could not be had (unreachable, refused by the fetch guards, too large); their Call-Info is not passed on.",
            &m.stir.rcd_fetch_failures,
        ),
        (
            "callscreen_stir_rcd_mismatches_total",
            "STIR: calls whose verified Rich Call Data names a URL whose content does not have its rcdi digest; that Call-Info was removed.",
            &m.stir.rcd_mismatches,
        ),
        (
            "callscreen_stir_signatures_verified_total",
            "STIR: PASSporT signatures that verified.",
            &m.stir.verified,
        ),
        (
            "callscreen_roaming_requests_total",
            "Roaming check: requests sent to the [roaming] endpoint.",
            &m.roaming.requests,
        ),
        (
            "callscreen_roaming_cache_hits_total",
            "Roaming check: calls answered from the cache.",
            &m.roaming.cache_hits,
        ),
        (
            "callscreen_roaming_failures_total",
            "Roaming check: requests that gave no answer (refused, TLS, not 200, not an answer, timed out).",
            &m.roaming.failures,
        ),
        (
            "callscreen_roaming_over_budget_total",
            "Roaming check: calls that went on unanswered because the answer did not come within [roaming] budget_ms.",
            &m.roaming.over_budget,
        ),
        (
            "callscreen_roaming_over_limit_total",
            "Roaming check: calls not asked about because [roaming] max_in_flight requests were out.",
            &m.roaming.over_limit,
        ),
        (
            "callscreen_roaming_joined_total",
            "Roaming check: calls that waited for a request already out about their number (not asked again).",
            &m.roaming.joined,
        ),
        (
            "callscreen_roaming_backoff_total",
            "Roaming check: calls not asked about while the endpoint was in its failure backoff.",
            &m.roaming.backoff,
        ),
        (
            "callscreen_stream_lost_total",
            "Calls the live stream's viewers missed by reading too slowly, or never read before they were dropped or left (GET /v1/calls/stream).",
            &st.shared.calls.lost,
        ),
        (
            "callscreen_stream_dropped_total",
            "Viewers of the live stream dropped as too slow (they are told so).",
            &st.shared.calls.dropped,
        ),
    ] {
        let _ = writeln!(
            o,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            g(c)
        );
    }
    if let Some(r) = st.shared.records.get() {
        let c = r.counts();
        let g = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(
            o,
            "# HELP callscreen_records_written_total Call records appended to the staging log ([records]).\n# TYPE callscreen_records_written_total counter\ncallscreen_records_written_total {}\n\
             # HELP callscreen_records_dropped_total Call records lost: the queue was full (queue), a write failed, a full disk say (write), torn by a crash (torn).\n# TYPE callscreen_records_dropped_total counter\n\
             callscreen_records_dropped_total{{reason=\"queue\"}} {}\ncallscreen_records_dropped_total{{reason=\"write\"}} {}\ncallscreen_records_dropped_total{{reason=\"torn\"}} {}\n\
             # HELP callscreen_records_sealed_total Call records sealed into Parquet segments.\n# TYPE callscreen_records_sealed_total counter\ncallscreen_records_sealed_total {}\n\
             # HELP callscreen_records_expired_total Call records removed by retention (max_age_days, max_bytes).\n# TYPE callscreen_records_expired_total counter\ncallscreen_records_expired_total {}",
            g(&c.written),
            g(&c.dropped_queue),
            g(&c.dropped_write),
            g(&c.torn),
            g(&c.sealed),
            g(&c.expired),
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_stir_calls_total Screened calls by the verstat STIR/SHAKEN verification gave them ([stir]).\n# TYPE callscreen_stir_calls_total counter"
    );
    for (i, vs) in crate::screen::passport::Verstat::ALL.iter().enumerate() {
        let _ = writeln!(
            o,
            "callscreen_stir_calls_total{{verstat=\"{}\"}} {}",
            vs.name(),
            g(&m.stir.verstat[i])
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_roaming_answers_total Roaming check: answers by what they said.\n# TYPE callscreen_roaming_answers_total counter"
    );
    for (i, a) in ["roaming", "not-roaming", "unknown"].iter().enumerate() {
        let _ = writeln!(
            o,
            "callscreen_roaming_answers_total{{status=\"{a}\"}} {}",
            g(&m.roaming.answers[i])
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_stream_viewers Viewers of the live call stream now.\n# TYPE callscreen_stream_viewers gauge\ncallscreen_stream_viewers {}",
        st.shared.calls.viewers()
    );
    if let Some(f) = &st.fleet {
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_connected Whether this node is connected to the fleet's NATS.\n# TYPE callscreen_fleet_connected gauge\ncallscreen_fleet_connected {}",
            u8::from(f.connected())
        );
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_list_lagging Whether this node serves another version of a list than the fleet's head (1: lagging).\n# TYPE callscreen_fleet_list_lagging gauge"
        );
        for (list, lagging) in f.lag() {
            let _ = writeln!(
                o,
                "callscreen_fleet_list_lagging{{list=\"{list}\"}} {}",
                u8::from(lagging)
            );
        }
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_apply_failures_total Heads this node could not apply (the list in force stayed), each counted once however often it is retried.\n# TYPE callscreen_fleet_apply_failures_total counter\ncallscreen_fleet_apply_failures_total {}",
            f.apply_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_apply_seconds Time from a head seen to its version in force here (verify, store, swap).\n# TYPE callscreen_fleet_apply_seconds summary\ncallscreen_fleet_apply_seconds_sum {}\ncallscreen_fleet_apply_seconds_count {}",
            f.apply_micros.load(Ordering::Relaxed) as f64 / 1e6,
            f.applies.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_head_version The version each list's head in the fleet names.\n# TYPE callscreen_fleet_head_version gauge"
        );
        for (list, version, _) in f.head_versions() {
            let _ = writeln!(
                o,
                "callscreen_fleet_head_version{{list=\"{list}\"}} {version}"
            );
        }
        let members = f.members_cached();
        let _ = writeln!(
            o,
            "# HELP callscreen_fleet_nodes The fleet's members by state, as this node last read them (missing: no heartbeat for three beats, until forgotten).\n# TYPE callscreen_fleet_nodes gauge"
        );
        for state in ["up", "lagging", "missing"] {
            let n = members
                .members
                .iter()
                .filter(|m| m.state.name() == state)
                .count();
            let _ = writeln!(o, "callscreen_fleet_nodes{{state=\"{state}\"}} {n}");
        }
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_shed_limit_total INVITEs over their peer's rate limit (answered as its over_limit says), by peer.\n# TYPE callscreen_shed_limit_total counter"
    );
    for p in st.shared.loads.load().peers.iter() {
        let _ = writeln!(
            o,
            "callscreen_shed_limit_total{{peer=\"{}\"}} {}",
            p.name.replace(['\\', '"', '\n'], "_"),
            g(&p.shed)
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_peer_calls_total Screened INVITEs by peer and verdict.\n# TYPE callscreen_peer_calls_total counter"
    );
    for p in st.shared.loads.load().peers.iter() {
        for (v, c) in crate::state::VERDICTS.iter().zip(&p.calls) {
            let _ = writeln!(
                o,
                "callscreen_peer_calls_total{{peer=\"{}\",verdict=\"{v}\"}} {}",
                p.name.replace(['\\', '"', '\n'], "_"),
                g(c)
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_reasons_total Screened calls by reason found (a call counts once per reason kind).\n# TYPE callscreen_reasons_total counter"
    );
    for k in crate::screen::ReasonKind::ALL {
        let _ = writeln!(
            o,
            "callscreen_reasons_total{{reason=\"{}\"}} {}",
            k.code(),
            g(&m.reasons[k as usize])
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_decision_latency_seconds Receipt of an INVITE to its answer.\n# TYPE callscreen_decision_latency_seconds histogram"
    );
    let mut cumulative = 0;
    for (i, b) in LATENCY_BUCKETS_US.iter().enumerate() {
        cumulative += g(&m.latency_buckets[i]);
        let _ = writeln!(
            o,
            "callscreen_decision_latency_seconds_bucket{{le=\"{}\"}} {cumulative}",
            *b as f64 / 1e6
        );
    }
    cumulative += g(&m.latency_buckets[LATENCY_BUCKETS_US.len()]);
    let _ = writeln!(
        o,
        "callscreen_decision_latency_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
    );
    let _ = writeln!(
        o,
        "callscreen_decision_latency_seconds_sum {}",
        g(&m.latency_sum_us) as f64 / 1e6
    );
    let _ = writeln!(o, "callscreen_decision_latency_seconds_count {cumulative}");
    let _ = writeln!(
        o,
        "# HELP callscreen_list_pushes_total List pushes by outcome.\n# TYPE callscreen_list_pushes_total counter"
    );
    for (v, c) in [
        ("accepted", &a.pushes_accepted),
        ("refused", &a.pushes_refused),
        ("unchanged", &a.pushes_unchanged),
    ] {
        let _ = writeln!(
            o,
            "callscreen_list_pushes_total{{outcome=\"{v}\"}} {}",
            g(c)
        );
    }
    let rt = st.shared.runtime.load();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let _ = writeln!(
        o,
        "# HELP callscreen_list_entries Entries per list.\n# TYPE callscreen_list_entries gauge"
    );
    for l in rt.lists.lists() {
        let _ = writeln!(
            o,
            "callscreen_list_entries{{list=\"{}\",role=\"{}\"}} {}",
            l.name,
            l.role.name(),
            l.stats(now).entries()
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_list_expired_entries Expired entries per list.\n# TYPE callscreen_list_expired_entries gauge"
    );
    for l in rt.lists.lists() {
        let _ = writeln!(
            o,
            "callscreen_list_expired_entries{{list=\"{}\"}} {}",
            l.name,
            l.stats(now).expired
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_list_age_seconds Time since the version in force was written (push or seed file).\n# TYPE callscreen_list_age_seconds gauge"
    );
    for l in rt.lists.lists() {
        let file = st.store.stored_at(&l.name, l.version).or_else(|| {
            rt.settings
                .lists
                .iter()
                .find(|x| x.name == l.name)
                .map(|x| x.file.clone())
        });
        let mtime = file
            .and_then(|f| std::fs::metadata(f).ok())
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        if let Some(m) = mtime {
            let _ = writeln!(
                o,
                "callscreen_list_age_seconds{{list=\"{}\"}} {}",
                l.name,
                now.saturating_sub(m)
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_list_max_age_seconds The age at which a list is overdue for its refresh ([[lists]] max_age_secs).\n# TYPE callscreen_list_max_age_seconds gauge"
    );
    for l in rt.settings.lists.iter() {
        if let Some(max) = l.max_age_secs {
            let _ = writeln!(
                o,
                "callscreen_list_max_age_seconds{{list=\"{}\"}} {max}",
                l.name
            );
        }
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_list_missing A required list that is not loaded (1): the daemon is not ready.\n# TYPE callscreen_list_missing gauge"
    );
    for l in rt.settings.lists.iter().filter(|l| l.required) {
        let _ = writeln!(
            o,
            "callscreen_list_missing{{list=\"{}\"}} {}",
            l.name,
            u8::from(rt.lists.get(&l.name).is_none())
        );
    }
    let _ = writeln!(
        o,
        "# HELP callscreen_list_version Version in force per list.\n# TYPE callscreen_list_version gauge"
    );
    for l in rt.lists.lists() {
        let _ = writeln!(
            o,
            "callscreen_list_version{{list=\"{}\"}} {}",
            l.name, l.version
        );
    }
    process(&mut o);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], o)
}

/// The process series of the Prometheus conventions (what every client
/// library's process collector exports), read from `/proc/self`, and the
/// daemon's uptime. Linux only; a value that cannot be read is left out.
fn process(o: &mut String) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf and getrlimit have no preconditions.
        let (tick, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK) as f64,
                libc::sysconf(libc::_SC_PAGESIZE) as u64,
            )
        };
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // The fields after the command name (which may hold spaces): the
        // 3rd field of stat(5) is the first here.
        let f: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let boot = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok());
        let mut series: Vec<(&str, &str, &str, f64)> = Vec::new();
        if let (Some(u), Some(s)) = (field(14), field(15)) {
            series.push((
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
                (u + s) as f64 / tick,
            ));
        }
        if let (Some(start), Some(boot)) = (field(22), boot) {
            let started = boot as f64 + start as f64 / tick;
            series.push((
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since the Unix epoch, in seconds.",
                started,
            ));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            series.push((
                "callscreen_uptime_seconds",
                "gauge",
                "Seconds since this daemon started.",
                (now - started).max(0.0).floor(),
            ));
        }
        if let Some(pages) = field(24) {
            series.push((
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size, in bytes.",
                (pages * page) as f64,
            ));
        }
        if let Some(v) = field(23) {
            series.push((
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size, in bytes.",
                v as f64,
            ));
        }
        if let Ok(d) = std::fs::read_dir("/proc/self/fd") {
            series.push((
                "process_open_fds",
                "gauge",
                "Open file descriptors.",
                d.count() as f64,
            ));
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid rlimit for getrlimit to fill.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            series.push((
                "process_max_fds",
                "gauge",
                "Maximum number of open file descriptors.",
                lim.rlim_cur as f64,
            ));
        }
        for (name, kind, help, v) in series {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = o;
}
