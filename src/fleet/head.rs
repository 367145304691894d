//! A list's head in the fleet: which version of the list every node must
//! serve, where its body is, who pushed it. One key per list in the heads
//! bucket; heads are ordered by the key-value revision, not by version, so
//! a rollback is a new head that points at an earlier body.
//!
//! Every head is sealed: an Ed25519 signature, by the publishing node's
//! fleet key, over the head itself (its JSON without the seal), which names
//! the sha256 of every object it points at (body, snapshot, delta). A node
//! applies only a head whose seal verifies under a key it trusts, and uses
//! an object only when its bytes have the sha256 the sealed head names: a
//! writer to NATS without a fleet key can neither make a head nor swap an
//! object under one.

use serde::{Deserialize, Serialize};

use crate::keys::SealKey;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub list: String,
    pub version: u64,
    /// The head's sequence number for its list: one above the head it
    /// replaces (and above any a node applied), whatever the version, so it
    /// never goes down, through rollbacks and a wiped bucket too. A node
    /// applies a head only when its sequence number is above the last it
    /// applied: an old sealed head written again (an old rollback replayed
    /// by a writer to NATS) is refused.
    #[serde(default)]
    pub seq: u64,
    /// SHA-256 (hex) of the list's text: the body as pushed.
    pub sha256: String,
    /// The object holding that body.
    pub object: String,
    /// The push's content type (`text/plain`, `application/json`, `application/toml`).
    pub content_type: String,
    /// `X-Callscreen-Signature` of the push (Ed25519 over the body), when
    /// its client signs: every node checks it again.
    #[serde(default)]
    pub signature: Option<String>,
    /// The API client that pushed it (or rolled it back).
    pub client: String,
    /// The node the push arrived at.
    pub node: String,
    /// Unix seconds.
    pub at: u64,
    /// A rollback: the version it rolled back from.
    #[serde(default)]
    pub rollback_of: Option<u64>,
    /// A patch: the delta travels alone; a node at its base applies it, any
    /// other fetches `object` (the whole version).
    #[serde(default)]
    pub patch: Option<PatchRef>,
    /// A number list's binary snapshot, made by the node the push arrived
    /// at: other nodes load it instead of parsing the body (whose sha256
    /// and signature they check first, and which they parse afterwards,
    /// in the background, to confirm the snapshot is its list).
    #[serde(default)]
    pub snapshot: Option<String>,
    /// The snapshot object's sha256: checked before it is decoded.
    #[serde(default)]
    pub snapshot_sha256: Option<String>,
    /// A patch stored as a patch: the last whole version (its objects) and
    /// the deltas after it up to this head's base; this head's own delta is
    /// `patch`. Such a head has no whole object (`object` is empty): a node
    /// not at its base rebuilds it from the anchor and the deltas.
    #[serde(default)]
    pub chain: Option<Chain>,
    /// The publishing node's seal over this head (see the module's comment).
    #[serde(default)]
    pub seal: Option<Seal>,
}

/// The way from the last whole version to a patch head's base.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    pub anchor: Anchor,
    /// The deltas after the anchor, in order, up to the head's base.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// A whole version's objects, named by a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub version: u64,
    pub object: String,
    /// SHA-256 of its text (the object).
    pub sha256: String,
    #[serde(default)]
    pub snapshot: Option<String>,
    #[serde(default)]
    pub snapshot_sha256: Option<String>,
    /// Its pusher's signature and name, checked again where it is used.
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub client: String,
}

/// One delta of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub version: u64,
    pub base_version: u64,
    /// The delta's object and its sha256.
    pub object: String,
    pub sha256: String,
    /// SHA-256 of the text the delta makes.
    pub text_sha256: String,
    /// Size of the delta object (for when to store a whole version again).
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub client: String,
}

/// A head's seal: the public key (hex) and its signature (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub key: String,
    pub signature: String,
}

/// Why a value in the heads bucket is not applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not a callscreen head ({0})")]
    NotAHead(String),
    #[error("not sealed: heads carry their publishing node's seal")]
    Unsealed,
    #[error("sealed by key {0}, which this node does not trust ([fleet] trusted_keys)")]
    Untrusted(String),
    #[error("its seal does not verify: the head was changed after it was sealed")]
    BadSeal,
    #[error("the head under key {key:?} names list {list:?}")]
    WrongKey { key: String, list: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchRef {
    /// The delta's object (the PATCH body as sent).
    pub object: String,
    pub base_version: u64,
    /// The delta's signature, when its client signs.
    #[serde(default)]
    pub signature: Option<String>,
    /// The base version's object and sha256: a node whose whole-version
    /// object is not there (it is stored just after the head) rebuilds the
    /// version from the base and the delta.
    #[serde(default)]
    pub base_object: Option<String>,
    #[serde(default)]
    pub base_sha256: Option<String>,
    /// The delta object's sha256: checked before it is read.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The delta object's size.
    #[serde(default)]
    pub size: u64,
}

impl Head {
    /// What the seal signs: the head's JSON without its seal.
    fn sealed_bytes(&self) -> Vec<u8> {
        let mut h = self.clone();
        h.seal = None;
        serde_json::to_vec(&h).unwrap_or_default()
    }

    /// This head with `key`'s seal.
    pub fn sealed(mut self, key: &SealKey) -> Head {
        self.seal = None;
        let signature = key.sign(&self.sealed_bytes());
        self.seal = Some(Seal {
            key: crate::keys::public_hex(key.public()),
            signature,
        });
        self
    }

    /// A value read from the heads bucket under `key`: a head, when it is
    /// one, for that list, sealed by a trusted key.
    pub fn open(key: &str, value: &[u8], trusted: &[[u8; 32]]) -> Result<Head, Refused> {
        let head: Head =
            serde_json::from_slice(value).map_err(|e| Refused::NotAHead(e.to_string()))?;
        let seal = head.seal.as_ref().ok_or(Refused::Unsealed)?;
        let public = crate::keys::public_key(&seal.key)
            .filter(|k| trusted.contains(k))
            .ok_or_else(|| Refused::Untrusted(seal.key.chars().take(16).collect()))?;
        if !crate::keys::verify(&public, &head.sealed_bytes(), &seal.signature) {
            return Err(Refused::BadSeal);
        }
        if head.list != key {
            return Err(Refused::WrongKey {
                key: key.to_string(),
                list: head.list.clone(),
            });
        }
        Ok(head)
    }

    /// The object name of a version's body: list, version, a prefix of its
    /// hash (so two bodies of one version never share a name).
    pub fn object_name(list: &str, version: u64, sha256: &str) -> String {
        format!("{list}.{version}.{}", &sha256[..sha256.len().min(16)])
    }

    /// The object name of a patch's delta.
    pub fn patch_name(list: &str, version: u64, sha256: &str) -> String {
        format!("{list}.{version}.patch.{}", &sha256[..sha256.len().min(16)])
    }

    /// The object name of a version's snapshot.
    pub fn snapshot_name(list: &str, version: u64, sha256: &str) -> String {
        format!("{list}.{version}.snap.{}", &sha256[..sha256.len().min(16)])
    }

    /// The objects a head points at (a chain's included).
    pub fn objects(&self) -> impl Iterator<Item = &str> {
        let chain = self.chain.iter().flat_map(|c| {
            std::iter::once(c.anchor.object.as_str())
                .chain(c.anchor.snapshot.as_deref())
                .chain(c.steps.iter().map(|s| s.object.as_str()))
        });
        std::iter::once(self.object.as_str())
            .filter(|o| !o.is_empty())
            .chain(self.patch.as_ref().map(|p| p.object.as_str()))
            .chain(self.snapshot.as_deref())
            .chain(chain)
    }

    /// This head's whole version: its object, snapshot and signature.
    pub fn as_anchor(&self) -> Anchor {
        Anchor {
            version: self.version,
            object: self.object.clone(),
            sha256: self.sha256.clone(),
            snapshot: self.snapshot.clone(),
            snapshot_sha256: self.snapshot_sha256.clone(),
            signature: self.signature.clone(),
            client: self.client.clone(),
        }
    }

    /// This head as the anchor of a chain (a whole version), or its chain
    /// with this head's own delta as the last step: what a patch on this
    /// head builds on. `None` for a head that is neither (a patch head of
    /// the format before chains).
    pub fn as_base(&self) -> Option<Chain> {
        match (&self.chain, &self.patch) {
            (None, _) if !self.object.is_empty() => Some(Chain {
                anchor: self.as_anchor(),
                steps: Vec::new(),
            }),
            (Some(c), Some(p)) => {
                let mut c = c.clone();
                c.steps.push(Step {
                    version: self.version,
                    base_version: p.base_version,
                    object: p.object.clone(),
                    sha256: p.sha256.clone().unwrap_or_default(),
                    text_sha256: self.sha256.clone(),
                    size: p.size,
                    signature: p.signature.clone(),
                    client: self.client.clone(),
                });
                Some(c)
            }
            _ => None,
        }
    }

    /// The list and version an object name belongs to.
    pub fn object_version(object: &str) -> Option<(&str, u64)> {
        let mut parts = object.rsplitn(3, '.');
        let _hash = parts.next()?;
        let second = parts.next()?;
        let rest = parts.next()?;
        if second == "patch" || second == "snap" {
            let (list, v) = rest.rsplit_once('.')?;
            return Some((list, v.parse().ok()?));
        }
        Some((rest, second.parse().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: u64, sha: &str) -> Head {
        Head {
            list: "acm".into(),
            version,
            sha256: sha.into(),
            object: Head::object_name("acm", version, sha),
            content_type: "text/plain".into(),
            client: "acm".into(),
            node: "a".into(),
            ..Head::default()
        }
    }

    #[test]
    fn a_head_opens_only_sealed_by_a_trusted_key_and_unchanged() {
        let (secret, _) = crate::keys::keygen().expect("a key");
        let key = SealKey::from_secret_hex(&secret).expect("a key");
        let (other, _) = crate::keys::keygen().expect("a key");
        let other = SealKey::from_secret_hex(&other).expect("a key");
        let trusted = [*key.public()];
        let sealed = head(7, "aa").sealed(&key);
        let json = serde_json::to_vec(&sealed).expect("json");
        assert_eq!(Head::open("acm", &json, &trusted), Ok(sealed.clone()));
        assert_eq!(
            Head::open("other", &json, &trusted),
            Err(Refused::WrongKey {
                key: "other".into(),
                list: "acm".into()
            })
        );
        let unsealed = serde_json::to_vec(&head(7, "aa")).expect("json");
        assert_eq!(
            Head::open("acm", &unsealed, &trusted),
            Err(Refused::Unsealed)
        );
        let foreign = serde_json::to_vec(&head(7, "aa").sealed(&other)).expect("json");
        assert!(matches!(
            Head::open("acm", &foreign, &trusted),
            Err(Refused::Untrusted(_))
        ));
        let mut changed = sealed.clone();
        changed.snapshot = Some("acm.7.snap.forged".into());
        let changed = serde_json::to_vec(&changed).expect("json");
        assert_eq!(Head::open("acm", &changed, &trusted), Err(Refused::BadSeal));
        assert!(matches!(
            Head::open("acm", b"this is not a head", &trusted),
            Err(Refused::NotAHead(_))
        ));
    }

    #[test]
    fn object_names_say_their_list_and_version() {
        let sha = "0123456789abcdef0123";
        let o = Head::object_name("acm-withdrawn", 42, sha);
        assert_eq!(o, "acm-withdrawn.42.0123456789abcdef");
        assert_eq!(Head::object_version(&o), Some(("acm-withdrawn", 42)));
        let p = Head::patch_name("acm-withdrawn", 43, sha);
        assert_eq!(Head::object_version(&p), Some(("acm-withdrawn", 43)));
        let s = Head::snapshot_name("acm-withdrawn", 44, sha);
        assert_eq!(Head::object_version(&s), Some(("acm-withdrawn", 44)));
        assert_eq!(Head::object_version("junk"), None);
    }
}
