//! Output folders that lose nothing, and dossier folders read without trusting them.
//!
//! Writing ([`write_folder`]): every robcert output folder (dossiers, `smooth`, `bounds`,
//! `compare` outputs) carries a marker file, [`MARKER`]. An existing folder is replaced only if
//! it carries the marker (so a user's folder is never emptied), never a regular file. The new
//! contents are written to a temporary sibling `.NAME.tmp-PID` and swapped into place in one
//! atomic `renameat2(RENAME_EXCHANGE)` (Linux), so a reader — or a run killed at any moment —
//! finds either the old folder or the new one. Leftovers of killed runs (`.NAME.tmp-PID`,
//! `.NAME.old-PID` of processes that no longer exist) are removed, or restored if the final
//! folder is missing, by the next run.
//!
//! Reading ([`read_folder`]): every entry must be a regular file or folder (no symlinks, FIFOs or
//! devices), at most [`MAX_FOLDER_FILES`] files of at most `MAX_DOSSIER_FILE_BYTES` each, with
//! plain relative names ([`check_name`]).

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The marker file of robcert output folders.
pub const MARKER: &str = ".robcert-output";
/// Content of the marker.
const MARKER_TEXT: &[u8] = b"This folder was written by robcert; robcert may replace it.\n";
/// Most files a dossier folder may hold.
pub const MAX_FOLDER_FILES: usize = 10_000;

fn dossier_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Dossier {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Whether `dir` is an existing robcert output folder (it holds the marker).
pub fn is_robcert_output(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file())
}

/// Checks that `out` may receive a robcert output: absent, or a robcert output folder and
/// `replace` is allowed. Runs before any work so nothing is computed for nothing.
pub fn check_destination(out: &Path, replace: bool) -> Result<()> {
    match std::fs::symlink_metadata(out) {
        Err(_) => Ok(()),
        Ok(meta) if !meta.is_dir() => Err(dossier_error(
            out,
            "exists and is not a folder; robcert does not replace files (choose another --out)",
        )),
        Ok(_) if !is_robcert_output(out) && !is_empty_dir(out) => Err(dossier_error(
            out,
            format!(
                "exists and is not a robcert output folder (no {MARKER} marker): robcert will not \
                 replace it, with or without --force; choose another --out"
            ),
        )),
        Ok(_) if !replace && !is_empty_dir(out) => Err(dossier_error(
            out,
            "the output folder exists; choose another --out or pass --force to replace it",
        )),
        Ok(_) => Ok(()),
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none())
}

/// Whether a process with this id is running (Linux `/proc`).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Cleans up after killed runs that wrote `out`: a `.NAME.old-PID` is put back when `out` is
/// missing (the run died between two renames), any other leftover of a dead process is removed.
fn recover_leftovers(parent: &Path, name: &str) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let out = parent.join(name);
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let (kind, pid) = match rest.split_once('-') {
            Some((k @ ("tmp" | "old"), p)) => (k, p.parse::<u32>().ok()),
            _ => continue,
        };
        if pid.is_none_or(alive) {
            continue;
        }
        let path = e.path();
        if kind == "old" && std::fs::symlink_metadata(&out).is_err() && is_robcert_output(&path) {
            let _ = std::fs::rename(&path, &out);
        } else {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// Exchanges two paths atomically (both must exist).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both strings are NUL-terminated and outlive the call; renameat2 does not retain them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// Writes `files` (relative name → bytes) as the folder `out`, plus the marker, replacing an
/// existing robcert output folder only when `replace` (see the module docs).
pub fn write_folder(out: &Path, replace: bool, files: &BTreeMap<String, Vec<u8>>) -> Result<()> {
    check_destination(out, replace)?;
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| dossier_error(out, "the output path has no folder name"))?;
    recover_leftovers(&parent, &name);
    let pid = std::process::id();
    let tmp = parent.join(format!(".{name}.tmp-{pid}"));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> Result<()> {
        for (rel, bytes) in files {
            check_name(rel).map_err(|m| dossier_error(out, m))?;
            let p = tmp.join(rel);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            crate::util::atomic_write(&p, bytes)?;
        }
        crate::util::atomic_write(&tmp.join(MARKER), MARKER_TEXT)?;
        // Make the new contents durable before they become visible.
        if let Ok(d) = std::fs::File::open(&tmp) {
            let _ = d.sync_all();
        }
        if std::fs::symlink_metadata(out).is_ok() {
            match exchange(&tmp, out) {
                Ok(()) => {
                    // `tmp` now holds the old folder.
                    let _ = std::fs::remove_dir_all(&tmp);
                }
                Err(_) => {
                    // No atomic exchange here: two renames, recovered by the next run if killed.
                    let old = parent.join(format!(".{name}.old-{pid}"));
                    std::fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
                    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
                    let _ = std::fs::remove_dir_all(&old);
                }
            }
        } else {
            std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
        }
        if let Ok(d) = std::fs::File::open(&parent) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// A name a dossier may list: relative, made of plain components (`plots/x.png`), each of
/// `[A-Za-z0-9._-]` not starting with a dot, at most 200 bytes in all.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let plain = |c: &str| {
        !c.is_empty()
            && !c.starts_with('.')
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let path = Path::new(name);
    let ok = name.len() <= 200
        && !name.contains('\\')
        && path.components().all(|c| match c {
            Component::Normal(s) => s.to_str().is_some_and(plain),
            _ => false,
        })
        && name.split('/').all(plain);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a plain relative file name inside the dossier folder"
        ))
    }
}

/// Reads every file of a dossier folder (name relative to `dir` with `/` separators → bytes),
/// refusing symlinks, special files, names outside [`check_name`] (the marker excepted), too
/// many files and files beyond the size limit.
pub fn read_folder(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::io(dir, e))?;
    if !meta.is_dir() {
        return Err(dossier_error(dir, "is not a folder"));
    }
    let mut out = BTreeMap::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let entries = std::fs::read_dir(&path).map_err(|e| Error::io(&path, e))?;
        for e in entries {
            let e = e.map_err(|e| Error::io(&path, e))?;
            let file = e.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                file.clone()
            } else {
                format!("{prefix}/{file}")
            };
            let kind = e.file_type().map_err(|err| Error::io(e.path(), err))?;
            if kind.is_symlink() {
                return Err(dossier_error(
                    dir,
                    format!(
                        "`{rel}` is a symbolic link; a dossier folder holds regular files only"
                    ),
                ));
            }
            if kind.is_dir() {
                check_name(&rel).map_err(|m| dossier_error(dir, m))?;
                stack.push((e.path(), rel));
                continue;
            }
            if !kind.is_file() {
                return Err(dossier_error(
                    dir,
                    format!("`{rel}` is a special file (FIFO, device or socket)"),
                ));
            }
            if rel != MARKER {
                check_name(&rel).map_err(|m| dossier_error(dir, m))?;
            }
            if out.len() >= MAX_FOLDER_FILES {
                return Err(dossier_error(
                    dir,
                    format!("holds more than {MAX_FOLDER_FILES} files"),
                ));
            }
            let bytes = crate::util::read_limited(&e.path(), crate::util::MAX_DOSSIER_FILE_BYTES)?;
            out.insert(rel, bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_names_must_be_plain_relative_names() {
        for ok in ["report.html", "plots/a_b-1.png", "spec.toml"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x",
            "/etc/hostname",
            "a/../b",
            ".hidden",
            "a\\b",
            "",
            "a//b",
            "sp ace",
            "plots/",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_user_folder_is_never_replaced_and_a_file_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("mine");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("notes.txt"), b"precious").unwrap();
        let files: BTreeMap<String, Vec<u8>> = [("a.txt".to_string(), b"x".to_vec())].into();
        assert!(write_folder(&user, true, &files).is_err());
        assert_eq!(std::fs::read(user.join("notes.txt")).unwrap(), b"precious");
        let file = dir.path().join("f");
        std::fs::write(&file, b"keep").unwrap();
        assert!(write_folder(&file, true, &files).is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
        // A robcert output is replaced atomically, with --force only.
        let out = dir.path().join("out");
        write_folder(&out, false, &files).unwrap();
        let files2: BTreeMap<String, Vec<u8>> = [("b.txt".to_string(), b"y".to_vec())].into();
        assert!(write_folder(&out, false, &files2).is_err());
        write_folder(&out, true, &files2).unwrap();
        assert!(!out.join("a.txt").exists() && out.join("b.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn leftovers_of_dead_runs_are_restored_or_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A run killed between its two renames: the old folder sits at .out.old-PID.
        let old = dir.path().join(".out.old-999999999");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join(MARKER), MARKER_TEXT).unwrap();
        let tmp = dir.path().join(".out.tmp-999999998");
        std::fs::create_dir(&tmp).unwrap();
        recover_leftovers(dir.path(), "out");
        assert!(is_robcert_output(&dir.path().join("out")));
        assert!(!old.exists() && !tmp.exists());
    }
}
