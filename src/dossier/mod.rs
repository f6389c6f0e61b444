//! Signed dossiers: the bytes a regulator receives and how they are authenticated.
//!
//! - [`canonical`]: one byte-exact JSON rendering per value (sorted keys, fixed layout), so the
//!   same result always hashes and signs to the same bytes.
//! - [`sign`]: Ed25519 keys and signatures that interoperate with OpenSSL 3.0, so a signature can
//!   be checked without robcert (`openssl pkeyutl -verify -pubin -inkey pub.pem -rawin ...`).

pub mod canonical;
pub mod criteria;
pub mod document;
pub mod folder;
pub mod metrics;
pub mod sign;
pub mod verify;
