//! `[sip]`, `[redirect]`, `[log]` and `[proxy]`: the listeners and limits,
//! redirect mode's answers, the NOC line, and proxy mode's next hops.

use toml::Spanned;

use super::context::Ctx;
use super::schema;
use super::settings::{
    LogSettings, Mode, NextHop, ProxySettings, RedirectSettings, SipSettings, UnknownSource,
};

fn addresses(
    cx: &mut Ctx<'_>,
    v: &Option<Vec<Spanned<String>>>,
    key: &str,
    default: &str,
) -> Vec<std::net::SocketAddr> {
    let Some(v) = v else {
        return default.parse().into_iter().collect();
    };
    let mut out = Vec::new();
    for (i, a) in v.iter().enumerate() {
        match a.get_ref().parse::<std::net::SocketAddr>() {
            Ok(s) => out.push(s),
            Err(_) => {
                cx.err::<()>(Some(a.span()), format!("{key}[{i}]"), format!("{:?} is not an address to listen on; write IP:PORT, e.g. \"0.0.0.0:5060\" or \"[::]:5060\"", a.get_ref()));
            }
        }
    }
    out
}

/// `[sip] tls`, `tls_cert`, `tls_key`, `tls_client_ca`: the files are read
/// now (a bad one is refused with its key and line), and `tls_names` on a
/// peer needs a client CA to check them against.
pub(super) fn sip_tls(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &std::path::Path,
    sip: &mut SipSettings,
) {
    let s = &raw.sip;
    let named = raw
        .peers
        .iter()
        .find(|p| !p.get_ref().tls_names.is_empty())
        .map(|p| p.span())
        .or_else(|| {
            raw.sbcs
                .iter()
                .find(|s| !s.get_ref().tls_names.is_empty())
                .map(|s| s.span())
        });
    let Some(listen) = &s.tls else {
        if let Some(k) = s.tls_cert.as_ref().or(s.tls_key.as_ref()) {
            cx.err::<()>(Some(k.span()), "sip.tls", "tls_cert and tls_key are for the TLS listener: add tls = [\"IP:PORT\"], e.g. \"0.0.0.0:5061\"");
        }
        if let Some(p) = named {
            cx.err::<()>(Some(p), "tls_names", "names are checked on SIP over TLS: add [sip] tls, tls_cert, tls_key and tls_client_ca");
        }
        return;
    };
    sip.tls = addresses(cx, &Some(listen.clone()), "sip.tls", "");
    let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) else {
        cx.err::<()>(
            listen.first().map(|a| a.span()),
            "sip.tls_cert",
            "the TLS listener needs tls_cert and tls_key (PEM files: the certificate chain and its key)",
        );
        return;
    };
    let files = super::settings::SipTls {
        cert: super::context::secret_path(base, cert.get_ref()),
        key: super::context::secret_path(base, key.get_ref()),
        client_ca: s.tls_client_ca.as_ref().map(|c| base.join(c.get_ref())),
    };
    if named.is_some() && files.client_ca.is_none() {
        cx.err::<()>(
            named,
            "tls_names",
            "names are read from client certificates: set [sip] tls_client_ca (the CA they chain to)",
        );
    }
    match crate::tls::server_config(&files.cert, &files.key, files.client_ca.as_deref()) {
        Ok(_) => sip.tls_files = Some(files),
        Err(e) => {
            cx.err::<()>(
                Some(cert.span()),
                "sip.tls_cert",
                format!("{e}; give the PEM certificate chain, its key (tls_key) and optionally the client CA (tls_client_ca)"),
            );
        }
    }
}

pub(super) fn server_sections(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
) -> (SipSettings, RedirectSettings, LogSettings) {
    let s = &raw.sip;
    let mode = match s.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("redirect", _)) => Mode::Redirect,
        Some(("proxy", _)) => Mode::Proxy,
        Some((other, span)) => {
            cx.err::<()>(Some(span), "sip.mode", format!("{other:?} is not a mode; use \"redirect\" (answer 302 towards [redirect] next_hop) or \"proxy\" (forward to [proxy] next_hops)"));
            Mode::Redirect
        }
    };
    let unknown_source = match s
        .unknown_source
        .as_ref()
        .map(|m| (m.get_ref().as_str(), m.span()))
    {
        None | Some(("reject", _)) => UnknownSource::Reject,
        Some(("drop", _)) => UnknownSource::Drop,
        Some((other, span)) => {
            cx.err::<()>(
                Some(span),
                "sip.unknown_source",
                format!("{other:?}: use \"reject\" (403) or \"drop\""),
            );
            UnknownSource::Reject
        }
    };
    let udp = addresses(cx, &s.udp, "sip.udp", "127.0.0.1:5060");
    let tcp = addresses(cx, &s.tcp, "sip.tcp", "127.0.0.1:5060");
    let max_message = s.max_message_bytes.unwrap_or(65_536);
    if !(1024..=1 << 20).contains(&max_message) {
        cx.err::<()>(
            None,
            "sip.max_message_bytes",
            "must be from 1024 to 1048576 (default 65536)",
        );
    }
    let max_headers = s.max_headers.unwrap_or(128);
    if !(16..=1024).contains(&max_headers) {
        cx.err::<()>(
            None,
            "sip.max_headers",
            "must be from 16 to 1024 (default 128)",
        );
    }
    let sip = SipSettings {
        mode,
        udp,
        tcp,
        udp_threads: s.udp_threads.unwrap_or(0),
        limits: crate::sip::Limits {
            max_message,
            max_headers,
        },
        unknown_source,
        tcp_max_connections: s.tcp_max_connections.unwrap_or(1024).max(1),
        tcp_idle_timeout: std::time::Duration::from_secs(
            s.tcp_idle_timeout_secs.unwrap_or(300).max(1),
        ),
        tcp_max_per_source: s.tcp_max_per_source.unwrap_or(64).max(1),
        tcp_max_per_peer: s.tcp_max_per_peer.unwrap_or(256).max(1),
        tcp_first_message: std::time::Duration::from_secs(
            s.tcp_first_message_secs.unwrap_or(10).max(1),
        ),
        tcp_write_timeout: std::time::Duration::from_secs(
            s.tcp_write_timeout_secs.unwrap_or(10).max(1),
        ),
        retransmission_cache: s.retransmission_cache.unwrap_or(65_536),
        unknown_source_per_sec: s.unknown_source_per_sec.unwrap_or(20),
        shed_queue_age: std::time::Duration::from_millis(s.shed_queue_age_ms.unwrap_or(100).max(1)),
        udp_queue_per_peer: s.udp_queue_per_peer.unwrap_or(true),
        tls: Vec::new(),
        tls_files: None,
    };

    let r = &raw.redirect;
    let next_hop = match &r.next_hop {
        None => "127.0.0.1:5080".to_string(),
        Some(h) => {
            let v = h.get_ref().trim();
            let v = v.strip_prefix("sip:").unwrap_or(v);
            if v.is_empty() || v.contains(['@', ' ', '<', '>', ';', '?']) {
                cx.err::<()>(Some(h.span()), "redirect.next_hop", format!("{:?} must be host[:port] of the SBC side that routes the call on, e.g. \"sbc.example.net:5060\"", h.get_ref()));
            } else if let Ok(a) = v.parse::<std::net::SocketAddr>()
                && (sip.udp.contains(&a) || sip.tcp.contains(&a))
            {
                cx.err::<()>(
                    Some(h.span()),
                    "redirect.next_hop",
                    "points back at callscreen's own listener: a 302 there would loop",
                );
            }
            v.to_string()
        }
    };
    let clean_code = match &r.clean_code {
        None => 302,
        Some(c) => match u16::try_from(*c.get_ref()) {
            Ok(v) if (300..=699).contains(&v) => v,
            _ => {
                cx.err::<()>(Some(c.span()), "redirect.clean_code", "must be a final response code from 300 to 699 (302 by default; some SBCs route on 404 or 503)");
                302
            }
        },
    };
    let redirect = RedirectSettings {
        next_hop,
        clean_code,
    };

    let l = &raw.log;
    let json = match l.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
        None | Some(("text", _)) => false,
        Some(("json", _)) => true,
        Some((other, span)) => {
            cx.err::<()>(
                Some(span),
                "log.format",
                format!("{other:?}: use \"text\" or \"json\""),
            );
            false
        }
    };
    let level = l
        .level
        .as_ref()
        .map_or_else(|| "info".to_string(), |v| v.get_ref().clone());
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        let span = l.level.as_ref().map(|v| v.span());
        cx.err::<()>(
            span,
            "log.level",
            format!(
                "{level:?}: use error, warn, info, debug or trace (RUST_LOG takes a full filter)"
            ),
        );
    }
    let log = LogSettings {
        json,
        level,
        mask_caller: l.mask_caller,
        queue_lines: l.queue_lines.unwrap_or(65_536).max(1024),
    };
    (sip, redirect, log)
}

pub(super) fn proxy_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    sip: &SipSettings,
    base: &std::path::Path,
) -> ProxySettings {
    let p = &raw.proxy;
    let mut next_hops = Vec::new();
    for (i, h) in p.next_hops.iter().flatten().enumerate() {
        let key = format!("proxy.next_hops[{i}]");
        match parse_next_hop(h.get_ref()) {
            Ok(hop)
                if sip.udp.contains(&hop.addr)
                    || sip.tcp.contains(&hop.addr)
                    || sip.tls.contains(&hop.addr) =>
            {
                cx.err::<()>(
                    Some(h.span()),
                    key,
                    "points back at callscreen's own listener: forwarding there would loop",
                );
            }
            Ok(hop) => next_hops.push(hop),
            Err(why) => {
                cx.err::<()>(Some(h.span()), key, format!("{:?}: {why}; write \"sip:IP:PORT\", \"sip:IP:PORT;transport=tcp\" or \"sips:IP:PORT\", e.g. \"sip:192.0.2.20:5060\"", h.get_ref()));
            }
        }
    }
    if sip.mode == Mode::Proxy && next_hops.is_empty() && p.next_hops.iter().flatten().count() == 0
    {
        cx.err::<()>(
            None,
            "proxy.next_hops",
            "proxy mode needs at least one next hop: add [proxy] next_hops = [\"sip:IP:PORT\"] (the core or SBC side that routes calls on)",
        );
    }
    let via_host = p.via_host.as_ref().map(|h| h.get_ref().trim().to_string());
    if let (Some(h), Some(span)) = (&via_host, p.via_host.as_ref().map(|h| h.span()))
        && (h.is_empty()
            || h.contains([' ', ';', ',', '<', '>', '@', ':'])
                && h.parse::<std::net::Ipv6Addr>().is_err())
    {
        cx.err::<()>(
            Some(span),
            "proxy.via_host",
            format!("{h:?} must be a host name or IP address without a port, e.g. \"192.0.2.10\""),
        );
    }
    let unspecified = sip
        .udp
        .iter()
        .chain(&sip.tcp)
        .any(|a| a.ip().is_unspecified());
    if sip.mode == Mode::Proxy && via_host.is_none() && unspecified {
        cx.err::<()>(
            None,
            "proxy.via_host",
            "callscreen listens on an unspecified address (0.0.0.0 or ::), so it cannot tell which address to write in its Via: set [proxy] via_host = \"<the address the next hops reach callscreen on>\"",
        );
    }
    let tls_ca = p.tls_ca_file.as_ref().map(|f| base.join(f.get_ref()));
    if next_hops.iter().any(|h| h.tls) {
        let identity = sip
            .tls_files
            .as_ref()
            .map(|f| (f.cert.as_path(), f.key.as_path()));
        if let Err(e) = crate::tls::trusting(tls_ca.as_deref(), identity) {
            cx.err::<()>(
                p.tls_ca_file.as_ref().map(|f| f.span()),
                "proxy.tls_ca_file",
                format!("{e}; the CA (PEM) that TLS next hops' certificates chain to"),
            );
        }
    }
    ProxySettings {
        tls_ca,
        next_hops,
        via_host,
        probe_interval: std::time::Duration::from_secs(p.probe_interval_secs.unwrap_or(5)),
        down_for: std::time::Duration::from_secs(p.down_secs.unwrap_or(30).max(1)),
    }
}

/// `sip:IP:PORT[;transport=udp|tcp|tls]` (or without `sip:`), or
/// `sips:IP:PORT` (TLS); the port defaults to 5060 (5061 over TLS).
pub fn parse_next_hop(v: &str) -> Result<NextHop, &'static str> {
    let v = v.trim();
    let (v, mut tls) = match v.strip_prefix("sips:") {
        Some(rest) => (rest, true),
        None => (v.strip_prefix("sip:").unwrap_or(v), false),
    };
    let (addr, params) = v.split_once(';').unwrap_or((v, ""));
    let mut tcp = tls;
    for p in params.split(';').filter(|p| !p.is_empty()) {
        match p.to_ascii_lowercase().as_str() {
            "transport=udp" if !tls => tcp = false,
            "transport=tcp" if !tls => tcp = true,
            "transport=tls" => (tcp, tls) = (true, true),
            _ => {
                return Err(
                    "only the parameter transport=udp, transport=tcp or transport=tls is understood (a sips: hop is TLS)",
                );
            }
        }
    }
    let default_port = if tls { 5061 } else { 5060 };
    let addr = match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a,
        Err(_) => match addr.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, default_port),
            Err(_) => match addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::Ipv6Addr>()
            {
                Ok(ip) => std::net::SocketAddr::new(ip.into(), default_port),
                Err(_) => {
                    return Err(
                        "not an IP address with an optional port (host names are not resolved: the call path does no DNS)",
                    );
                }
            },
        },
    };
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("needs a real address and port");
    }
    Ok(NextHop { addr, tcp, tls })
}
