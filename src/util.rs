//! Small shared helpers: atomic file writes, file references with hashes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// A file by path and SHA-256 (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// Largest model file robcert reads (ONNX's own protobuf limit is 2 GiB).
pub const MAX_MODEL_BYTES: u64 = 2 << 30;
/// Largest data file robcert reads.
pub const MAX_DATA_BYTES: u64 = 4 << 30;
/// Largest file of a dossier folder `verify` reads (rows files included).
pub const MAX_DOSSIER_FILE_BYTES: u64 = 1 << 30;
/// Largest spec file.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// Opens a regular file for reading, refusing special files (FIFOs, devices, sockets — a FIFO
/// would hang, `/dev/zero` would never end) and files larger than `max` bytes, with an error that
/// names the file and the limit.
pub fn open_regular(path: &Path, max: u64) -> Result<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > max {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            limit: max,
        });
    }
    Ok(file)
}

/// Reads a whole regular file of at most `max` bytes (see [`open_regular`]).
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = open_regular(path, max)?;
    let mut bytes = Vec::new();
    // The length was checked, but a file may grow while it is read: read at most max + 1 bytes.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: max,
        });
    }
    Ok(bytes)
}

/// Serialises float vectors whose infinite entries (unbounded valid ranges) are written as the
/// strings `"inf"` / `"-inf"`, since JSON has no infinity and canonical JSON refuses it.
pub mod serde_nonfinite {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `±inf` are written as the strings `"inf"` / `"-inf"`; finite values as numbers.
    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Number(f64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<Entry> = v
            .iter()
            .map(|&x| {
                if x == f64::INFINITY {
                    Entry::Text("inf".into())
                } else if x == f64::NEG_INFINITY {
                    Entry::Text("-inf".into())
                } else {
                    Entry::Number(x)
                }
            })
            .collect();
        entries.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        entries
            .into_iter()
            .map(|e| match e {
                Entry::Number(x) => Ok(x),
                Entry::Text(t) if t == "inf" => Ok(f64::INFINITY),
                Entry::Text(t) if t == "-inf" => Ok(f64::NEG_INFINITY),
                Entry::Text(t) => Err(serde::de::Error::custom(format!(
                    "`{t}` is neither a number nor \"inf\" / \"-inf\""
                ))),
            })
            .collect()
    }
}

/// Median of the values (mean of the middle two for an even count); NaN for none.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over the target, so readers see the old file or the new one,
/// never a half-written one. The parent directory is created if missing.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, false)
}

/// As [`atomic_write`], but on unix the file is created with permissions 0600 from the start,
/// so a secret (e.g. a private key) is never readable by others, not even briefly.
pub fn atomic_write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes, true)
}

fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/out.txt");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target file remains");
    }

    #[test]
    fn atomic_write_into_a_file_path_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = atomic_write(&blocker.join("out.txt"), b"y").unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
    }
}
