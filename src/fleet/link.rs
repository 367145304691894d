//! The connection to NATS: made in the background with backoff (a node
//! starts and serves without it), its server's version checked (2.10 or
//! newer: older JetStream answers are not understood by the client), the
//! three buckets opened or made. Once made, the client reconnects by
//! itself; the heads are watched again after every break.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use async_nats::jetstream::{self, kv, object_store};

use crate::config::FleetSettings;

/// Chunks of an upload sent before the first of their acknowledgements is
/// awaited.
const IN_FLIGHT: usize = 8;

pub struct Link {
    pub client: async_nats::Client,
    pub heads: kv::Store,
    pub nodes: kv::Store,
    /// Every node's last heartbeat, kept (no expiry).
    pub members: kv::Store,
    pub objects: object_store::ObjectStore,
    /// The object store's bucket name (its stream is `OBJ_<name>`).
    pub objects_bucket: String,
}

impl Link {
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Stores an object as the client's object store does (its chunks, then
    /// its description with the SHA-256 digest that readers check), in
    /// chunks as large as the server takes, with up to [`IN_FLIGHT`] chunks
    /// sent before their acknowledgements are awaited: the client's own
    /// `put` waits for each chunk's before it sends the next, one round
    /// trip and one store write per megabyte one after the other. An object
    /// of that name already there is replaced, not purged: callers store a
    /// name only when it is absent (`has_object`), and the chunks of an
    /// upload that lost a race are orphans `remove_orphan_chunks` removes.
    pub async fn put_object(
        &self,
        name: &str,
        data: &mut (impl tokio::io::AsyncRead + Unpin),
    ) -> Result<(), String> {
        use base64::Engine;
        use sha2::Digest;
        use tokio::io::AsyncReadExt;
        let max = self.client.server_info().max_payload;
        let chunk = max.saturating_sub(4096).clamp(128 * 1024, 8 << 20);
        let js = jetstream::new(self.client.clone());
        let mut id = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
            .map_err(|_| "no randomness for the object's id".to_string())?;
        let nuid = crate::lists::format::hex(&id);
        let chunks_subject = format!("$O.{}.C.{nuid}", self.objects_bucket);
        let (mut sum, mut size, mut chunks) = (sha2::Sha256::new(), 0usize, 0usize);
        let mut acks = std::collections::VecDeque::new();
        let acked = |a: jetstream::context::PublishAckFuture| async move {
            a.await
                .map(|_| ())
                .map_err(|e| format!("a chunk was not stored: {e}"))
        };
        loop {
            let mut piece = Vec::with_capacity(chunk);
            let n = (&mut *data)
                .take(chunk as u64)
                .read_to_end(&mut piece)
                .await
                .map_err(|e| format!("cannot read what is to be stored: {e}"))?;
            if n == 0 {
                break;
            }
            sum.update(&piece);
            (size, chunks) = (size + n, chunks + 1);
            let ack = js
                .publish(chunks_subject.clone(), piece.into())
                .await
                .map_err(|e| format!("a chunk was not sent: {e}"))?;
            acks.push_back(ack);
            if acks.len() >= IN_FLIGHT
                && let Some(a) = acks.pop_front()
            {
                acked(a).await?;
            }
        }
        for a in acks {
            acked(a).await?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let info = object_store::ObjectInfo {
            name: name.to_string(),
            description: None,
            metadata: Default::default(),
            headers: None,
            options: Some(object_store::ObjectOptions {
                max_chunk_size: Some(chunk),
                link: None,
            }),
            bucket: self.objects_bucket.clone(),
            nuid,
            size,
            chunks,
            modified: async_nats::datetime::from_nanos(now as i128).ok(),
            digest: Some(format!(
                "SHA-256={}",
                base64::engine::general_purpose::URL_SAFE.encode(sum.finalize())
            )),
            deleted: false,
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Rollup", "sub");
        let meta = serde_json::to_vec(&info).map_err(|e| e.to_string())?;
        let subject = format!(
            "$O.{}.M.{}",
            self.objects_bucket,
            base64::engine::general_purpose::URL_SAFE.encode(name)
        );
        js.publish_with_headers(subject, headers, meta.into())
            .await
            .map_err(|e| format!("the object's description was not sent: {e}"))?
            .await
            .map_err(|e| format!("the object's description was not stored: {e}"))?;
        Ok(())
    }

    /// Removes the chunks of uploads that never finished (NATS or the
    /// uploading node died between the chunks and the object's description):
    /// chunks that no object names, whose newest chunk is older than
    /// `min_age` (an upload under way on another node is never touched).
    /// Returns how many uploads' chunks were removed.
    pub async fn remove_orphan_chunks(&self, min_age: Duration) -> Result<usize, String> {
        use futures_util::{StreamExt, TryStreamExt};
        let js = jetstream::new(self.client.clone());
        let stream = js
            .get_stream(format!("OBJ_{}", self.objects_bucket))
            .await
            .map_err(|e| e.to_string())?;
        let mut named = std::collections::HashSet::new();
        let mut all = self.objects.list().await.map_err(|e| e.to_string())?;
        while let Some(o) = all.next().await {
            named.insert(o.map_err(|e| e.to_string())?.nuid);
        }
        let prefix = format!("$O.{}.C.", self.objects_bucket);
        let mut subjects = stream
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(|e| e.to_string())?;
        let mut orphans = Vec::new();
        while let Some((subject, _)) = subjects.try_next().await.map_err(|e| e.to_string())? {
            if subject
                .strip_prefix(&prefix)
                .is_some_and(|nuid| !named.contains(nuid))
            {
                orphans.push(subject);
            }
        }
        let now = crate::clock::unix_now() as i64;
        let mut removed = 0;
        for subject in orphans {
            let Ok(last) = stream.get_last_raw_message_by_subject(&subject).await else {
                continue;
            };
            if now.saturating_sub(last.time.unix_timestamp()) < min_age.as_secs() as i64 {
                continue;
            }
            stream
                .purge()
                .filter(subject.as_str())
                .await
                .map_err(|e| e.to_string())?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Whether an object is stored (a deleted object keeps its info, marked
    /// deleted, and is not).
    pub async fn has_object(&self, name: &str) -> bool {
        matches!(self.objects.info(name).await, Ok(i) if !i.deleted)
    }
}

/// `major.minor` of a server version (`2.10.22` → (2, 10)).
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut p = v.trim_start_matches('v').split('.');
    Some((p.next()?.parse().ok()?, p.next()?.parse().ok()?))
}

/// Connects; `reconnected` is notified each time the connection comes back
/// (the heads' watch is then made again: a watch on a server that went away
/// may otherwise wait long before it notices).
pub async fn connect(s: &FleetSettings, reconnected: Arc<Notify>) -> Result<Link, String> {
    let mut o = async_nats::ConnectOptions::new()
        .name(format!("callscreen {}", s.node))
        .connection_timeout(Duration::from_secs(3))
        .request_timeout(Some(Duration::from_secs(10)))
        .max_reconnects(None)
        .event_callback(move |e| {
            let reconnected = Arc::clone(&reconnected);
            async move {
                match e {
                    async_nats::Event::Disconnected => tracing::warn!(
                        "fleet: NATS connection lost; calls are screened with the lists in force, pushes get 503 until it is back"
                    ),
                    async_nats::Event::Connected => {
                        tracing::info!("fleet: NATS connection up");
                        reconnected.notify_one();
                    }
                    other => tracing::debug!("fleet: NATS {other}"),
                }
            }
        });
    if let Some(f) = &s.token_file {
        let t = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read the NATS token ({}): {e}", f.display()))?;
        o = o.token(t.trim().to_string());
    }
    if let Some(f) = &s.creds_file {
        o = o
            .credentials_file(f)
            .await
            .map_err(|e| format!("cannot read the NATS credentials ({}): {e}", f.display()))?;
    }
    if let Some(f) = &s.ca_file {
        o = o.add_root_certificates(f.clone());
    }
    let servers: Vec<async_nats::ServerAddr> =
        s.servers.iter().filter_map(|a| a.parse().ok()).collect();
    let client = o
        .connect(servers)
        .await
        .map_err(|e| format!("cannot connect to NATS ({}): {e}", s.servers.join(", ")))?;
    let version = client.server_info().version;
    match major_minor(&version) {
        Some(mm) if mm >= (2, 10) => {}
        _ => {
            return Err(format!(
                "NATS server {version} is too old: callscreen's fleet needs nats-server 2.10 or newer with JetStream (-js)"
            ));
        }
    }
    let js = jetstream::new(client.clone());
    let heads = kv_bucket(&js, &s.heads_bucket, 16, Duration::ZERO, s.replicas).await?;
    let nodes = kv_bucket(&js, &s.nodes_bucket, 1, s.heartbeat * 6, s.replicas).await?;
    let members = kv_bucket(&js, &s.members_bucket, 1, Duration::ZERO, s.replicas).await?;
    let objects = match js.get_object_store(&s.objects_bucket).await {
        Ok(o) => o,
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: s.objects_bucket.clone(),
                num_replicas: s.replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| jetstream_error(&s.objects_bucket, &e.to_string()))?,
    };
    Ok(Link {
        client,
        heads,
        nodes,
        members,
        objects,
        objects_bucket: s.objects_bucket.clone(),
    })
}

fn jetstream_error(bucket: &str, e: &str) -> String {
    format!(
        "cannot open or make the bucket {bucket:?}: {e} (is JetStream enabled: nats-server -js?)"
    )
}

async fn kv_bucket(
    js: &jetstream::Context,
    name: &str,
    history: i64,
    max_age: Duration,
    replicas: usize,
) -> Result<kv::Store, String> {
    if let Ok(b) = js.get_key_value(name).await {
        return Ok(b);
    }
    js.create_key_value(kv::Config {
        bucket: name.to_string(),
        history,
        max_age,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| jetstream_error(name, &e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_versions_are_compared_by_major_and_minor() {
        assert_eq!(super::major_minor("2.9.10"), Some((2, 9)));
        assert!(super::major_minor("2.9.10") < Some((2, 10)));
        assert!(super::major_minor("2.15.1") >= Some((2, 10)));
        assert!(super::major_minor("3.0.0") >= Some((2, 10)));
        assert_eq!(super::major_minor("x"), None);
    }
}
