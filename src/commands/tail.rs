//! `callscreen tail`: a running daemon's calls as they are screened
//! (`GET /v1/calls/stream`), one NOC line each; the verdict coloured when
//! the output is a terminal (and NO_COLOR is not set).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use serde_json::Value;

use crate::api::client::ClientError;
use crate::cli::TailArgs;

/// The stream's path with the filters given.
pub fn path(a: &TailArgs) -> String {
    let q: Vec<String> = [
        ("verdict", &a.verdict),
        ("reason", &a.reason),
        ("peer", &a.peer),
        ("list", &a.list),
        ("prefix", &a.prefix),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", super::query_value(v))))
    .collect();
    if q.is_empty() {
        "/v1/calls/stream".into()
    } else {
        format!("/v1/calls/stream?{}", q.join("&"))
    }
}

/// One call as its NOC line (the daemon's field names, its masking).
pub fn noc_line(e: &Value, colour: bool) -> String {
    let s = |k: &str| match &e[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        v => v.to_string(),
    };
    let ms = e["time_ms"].as_u64().unwrap_or(0);
    let time = format!(
        "{}.{:03}Z",
        crate::lists::format_expiry(ms / 1000).trim_end_matches('Z'),
        ms % 1000
    );
    let verdict = s("verdict");
    let painted = match (colour, verdict.as_str()) {
        (false, _) => verdict.clone(),
        (true, "reject") => format!("\x1b[1;31m{verdict}\x1b[0m"),
        (true, "tag" | "anonymise") => format!("\x1b[33m{verdict}\x1b[0m"),
        (true, "warn") => format!("\x1b[35m{verdict}\x1b[0m"),
        (true, _) => format!("\x1b[32m{verdict}\x1b[0m"),
    };
    let reference = e["ref"]
        .as_str()
        .map_or(String::new(), |r| format!(" ref={r}"));
    let verstat = e["verstat"]
        .as_str()
        .map_or(String::new(), |v| format!(" verstat={v}"));
    format!(
        "{time} verdict={painted} code={} reasons={} caller={} pai={} callee={} peer={} call_id={} lists={} latency_us={} direction={}{verstat}{reference}",
        s("code"),
        s("reasons"),
        s("caller"),
        s("pai"),
        s("callee"),
        s("peer"),
        s("call_id"),
        s("lists"),
        s("latency_us"),
        s("direction"),
    )
}

/// Why a stream ended, as its last line said (none: the connection was
/// closed without a word).
enum End {
    /// Standard output was closed (`| head`): tail is done.
    Output,
    Said(String),
    Silent,
}

pub fn tail(a: &TailArgs) -> ExitCode {
    let (token, tls) = match super::lists::credentials(&a.api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let colour =
        !a.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let path = path(a);
    let mut followed = false;
    let mut retrying = false;
    loop {
        let mut end = End::Silent;
        let r = {
            let mut out = std::io::stdout().lock();
            crate::api::client::stream_lines(&a.api.url, &path, &token, tls.clone(), |line| {
                let Ok(e) = serde_json::from_str::<Value>(line) else {
                    return true;
                };
                let text = if e.get("stream").is_some() {
                    eprintln!("following {} ({path})", a.api.url);
                    (followed, retrying) = (true, false);
                    return true;
                } else if let Some(why) = e.get("closed").and_then(Value::as_str) {
                    end = End::Said(why.to_string());
                    return false;
                } else if let Some(why) = e.get("dropped").and_then(Value::as_str) {
                    let lost = e.get("lost").and_then(Value::as_u64).unwrap_or(0);
                    end = End::Said(format!(
                        "dropped by the daemon: this terminal read too slowly ({why}; {lost} calls not shown)"
                    ));
                    return false;
                } else if let Some(n) = e.get("lost").and_then(Value::as_u64) {
                    format!("-- {n} calls not shown: this terminal read too slowly --")
                } else {
                    noc_line(&e, colour)
                };
                // A closed pipe (`| head`) ends it.
                let ok = writeln!(out, "{text}").and_then(|()| out.flush()).is_ok();
                if !ok {
                    end = End::Output;
                }
                ok
            })
        };
        let why = match (r, end) {
            (Ok(()), End::Output) => return ExitCode::SUCCESS,
            (Ok(()), End::Said(why)) => why,
            (Ok(()), End::Silent) => "the connection was closed".to_string(),
            // A filter that cannot match, a token refused: no retry helps.
            (
                Err(
                    e @ ClientError::Refused {
                        status: 400..=499, ..
                    },
                ),
                _,
            ) => {
                eprintln!("{e}");
                return ExitCode::from(if e.is_auth() { 1 } else { 2 });
            }
            // Never followed yet: the URL or the daemon is wrong; say so.
            (Err(e), _) if !followed => {
                eprintln!("{e}");
                return ExitCode::from(1);
            }
            (Err(e), _) => e.to_string(),
        };
        if a.once {
            eprintln!("-- the stream ended: {why} --");
            return ExitCode::from(3);
        }
        if !retrying {
            eprintln!(
                "-- the stream ended: {why}; following {} again once it is back (^C to stop) --",
                a.api.url
            );
            retrying = true;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_the_noc_line_with_verstat_and_ref_when_there() {
        let e: Value = serde_json::from_str(
            r#"{"time_ms":1796212800123,"verdict":"tag","code":302,"reasons":"stir:bad-signature",
               "caller":"+31201234568","pai":"-","callee":"+31104567890","peer":"dom","call_id":"c1",
               "lists":"-","latency_us":412,"direction":"terminating","verstat":"TN-Validation-Failed"}"#,
        )
        .unwrap();
        let line = noc_line(&e, false);
        assert!(
            line.ends_with("latency_us=412 direction=terminating verstat=TN-Validation-Failed"),
            "{line}"
        );
        let mut e = e;
        e.as_object_mut().unwrap().remove("verstat");
        e["ref"] = Value::from("ABCDEFGHJK");
        let line = noc_line(&e, false);
        assert!(
            line.ends_with("direction=terminating ref=ABCDEFGHJK"),
            "{line}"
        );
    }
}
