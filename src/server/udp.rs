//! UDP: dedicated receive threads, several on one socket, so every core
//! serves even when all traffic comes from one SBC address (SO_REUSEPORT
//! would hash that one source to one socket). Datagrams are received and
//! answers sent in batches (`recvmmsg`/`sendmmsg`, Linux).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::answer::Outcome;
use super::callpath::CallPath;
use super::handler::Handler;
use super::links::Dest;
use crate::sip::Framing;

/// Datagrams taken per system call.
const BATCH: usize = 32;
/// Receive buffer per datagram: the largest UDP payload fits.
const DGRAM: usize = 65_536;

/// Binds a UDP socket with a large receive buffer and a short timeout (so
/// the threads notice a stop).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    s.bind(&addr.into())?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s.into())
}

/// Starts `threads` receive threads on the socket.
pub fn spawn(
    sock: Arc<UdpSocket>,
    threads: usize,
    cp: Arc<CallPath>,
) -> io::Result<Vec<JoinHandle<()>>> {
    (0..threads.max(1))
        .map(|i| {
            let (sock, cp) = (Arc::clone(&sock), Arc::clone(&cp));
            std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || worker(&sock, cp))
        })
        .collect()
}

fn to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn from_std(a: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let sa = socket2::SockAddr::from(a);
    let len = sa.len() as usize;
    // SAFETY: `sa` holds `len` valid bytes, and sockaddr_storage is large enough for any address.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (s as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        )
    };
    len as libc::socklen_t
}

fn worker(sock: &UdpSocket, cp: Arc<CallPath>) {
    let fd = sock.as_raw_fd();
    let mut bufs = vec![0u8; BATCH * DGRAM];
    // SAFETY: plain C structs; all-zero is a valid value for each.
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut out_addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut out_iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut out_hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut replies: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut handler = Handler::new(Arc::clone(&cp));
    let local_v4 = sock.local_addr().map_or(true, |a| a.is_ipv4());
    while !cp.shared.stopping() {
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: bufs[i * DGRAM..].as_mut_ptr().cast(),
                iov_len: DGRAM,
            };
            hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_control = std::ptr::null_mut();
            hdrs[i].msg_hdr.msg_controllen = 0;
            hdrs[i].msg_hdr.msg_flags = 0;
            hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) {
                tracing::warn!(error = %e, "UDP receive failed");
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        let mut nrep = 0;
        for i in 0..n as usize {
            let Some(src) = to_std(&addrs[i]) else {
                continue;
            };
            let len = (hdrs[i].msg_len as usize).min(DGRAM);
            let data = &bufs[i * DGRAM..i * DGRAM + len];
            let dest = match handler.handle(data, src, Framing::Datagram) {
                Outcome::Reply { dest, .. } => dest,
                Outcome::Send {
                    dest: Dest::Udp(dest),
                    ..
                } if dest.is_ipv4() == local_v4 => dest,
                Outcome::Send { dest, .. } => {
                    cp.links.send(&cp.shared.metrics, dest, &handler.out);
                    continue;
                }
                Outcome::Silent { .. } | Outcome::Incomplete => continue,
            };
            std::mem::swap(&mut handler.out, &mut replies[nrep]);
            let alen = from_std(dest, &mut out_addrs[nrep]);
            out_iovs[nrep] = libc::iovec {
                iov_base: replies[nrep].as_mut_ptr().cast(),
                iov_len: replies[nrep].len(),
            };
            out_hdrs[nrep].msg_hdr.msg_name =
                (&mut out_addrs[nrep] as *mut libc::sockaddr_storage).cast();
            out_hdrs[nrep].msg_hdr.msg_namelen = alen;
            out_hdrs[nrep].msg_hdr.msg_iov = &mut out_iovs[nrep];
            out_hdrs[nrep].msg_hdr.msg_iovlen = 1;
            nrep += 1;
        }
        let mut sent = 0;
        while sent < nrep {
            // SAFETY: the first `nrep` headers point at live reply buffers and addresses.
            let r = unsafe {
                libc::sendmmsg(fd, out_hdrs[sent..].as_mut_ptr(), (nrep - sent) as u32, 0)
            };
            if r <= 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::debug!(error = %e, "UDP send failed");
                // Skip the one that failed (e.g. an unreachable address) and go on.
                sent += 1;
                continue;
            }
            sent += r as usize;
        }
    }
}
