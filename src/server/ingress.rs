//! Which peer handed a call over (DESIGN.md "Where a call came from"): the
//! trunk id a configured SBC signals (RFC 4904 `tgrp` in the Request-URI, or
//! a configured header), accepted only from the SBC's own addresses; else the
//! source address. Anyone else is an unknown source.

use std::net::IpAddr;

use crate::config::Settings;
use crate::screen::PeerId;
use crate::sip::Message;
use crate::sip::addr::{Uri, trim_lws};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    /// A configured SBC or peer; the peer when one could be told.
    Known(Option<PeerId>),
    /// Neither an SBC nor a peer.
    Unknown,
}

pub fn resolve(settings: &Settings, src: IpAddr, msg: &Message<'_>) -> Ingress {
    let by_address = || {
        settings
            .peers
            .iter()
            .position(|p| p.nets.iter().any(|n| n.contains(src)))
    };
    if let Some(sbc) = settings
        .sbcs
        .iter()
        .find(|s| s.nets.iter().any(|n| n.contains(src)))
    {
        let from_uri = sbc.trunk_param.as_deref().and_then(|p| {
            let uri = msg.request_uri()?;
            Uri::parse(uri)?.param(p)
        });
        let trunk = from_uri.or_else(|| {
            sbc.trunk_header
                .as_deref()
                .and_then(|h| msg.get_named(h))
                .map(trim_lws)
        });
        let peer = match trunk {
            Some(t) if !t.is_empty() => settings.peer_by_trunk(t),
            _ => by_address().or(sbc.default_peer),
        };
        return Ingress::Known(peer);
    }
    match by_address() {
        Some(p) => Ingress::Known(Some(p)),
        None => Ingress::Unknown,
    }
}
