//! Atomic output: write to a temporary file beside the destination, then rename, so a
//! failed run never leaves a half-written report where a good one was.
//!
//! Only a regular file (or a path not there yet) is replaced that way. A symbolic link is
//! followed, so the link stays and the file it names is replaced. A device, pipe or socket
//! (`-o /dev/null`, `-o /dev/stdout`, a FIFO) is written in place: renaming over it would
//! put a regular file where the device was, and every later reader of `/dev/null` on the
//! machine would read what was written.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    write_with(path, |f| f.write_all(bytes))
}

/// Hands `fill` the file to write, so an output of any size can be written as it is
/// made; the destination is replaced only once `fill` has succeeded.
pub fn write_with(
    path: &Path,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> Result<()> {
    let werr = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    match destination(path).map_err(werr)? {
        Destination::InPlace => {
            let written = (|| {
                let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
                fill(&mut f)?;
                f.flush()
            })();
            written.map_err(werr)
        }
        Destination::Replace(target) => replace(&target, fill).map_err(werr),
    }
}

enum Destination {
    /// Not a regular file: written through, never renamed over.
    InPlace,
    /// The regular file (after following links) to replace atomically.
    Replace(PathBuf),
}

fn destination(path: &Path) -> std::io::Result<Destination> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link is replaced by the file, as `>` would through the link.
            return Ok(Destination::Replace(resolve_link(path)));
        }
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory; give a file name",
        ));
    }
    if !meta.is_file() {
        return Ok(Destination::InPlace);
    }
    Ok(Destination::Replace(std::fs::canonicalize(path)?))
}

/// Where a dangling symbolic link points, or the path itself.
fn resolve_link(path: &Path) -> PathBuf {
    match std::fs::read_link(path) {
        Ok(to) if to.is_absolute() => to,
        Ok(to) => path.parent().unwrap_or(Path::new(".")).join(to),
        Err(_) => path.to_path_buf(),
    }
}

fn replace(
    path: &Path,
    fill: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = Writeback::new(std::fs::File::create(&tmp)?);
        fill(&mut f)?;
        f.file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file, with the disk's writing of what is already in it started every
/// [`WRITEBACK_BYTES`]: the `fsync` before the rename then waits only for the last
/// stretch, not for the whole output (0.1 s of a 322 MB listing on the machine
/// `docs/performance.md` names). Starting it is a hint; the `fsync` still decides.
struct Writeback {
    file: std::fs::File,
    written: u64,
    started: u64,
}

const WRITEBACK_BYTES: u64 = 8 << 20;

impl Writeback {
    fn new(file: std::fs::File) -> Writeback {
        Writeback {
            file,
            written: 0,
            started: 0,
        }
    }

    #[cfg(target_os = "linux")]
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (from, len) = (self.started as libc::off64_t, self.written - self.started);
        // SAFETY: a plain system call on a descriptor this value owns; no memory is
        // passed. Its result is ignored: a failure to start early leaves it to `fsync`.
        unsafe {
            libc::sync_file_range(
                self.file.as_raw_fd(),
                from,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn start_writeback(&mut self) {}
}

impl Write for Writeback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_BYTES {
            self.start_writeback();
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn writeback_is_started_every_stretch_and_the_bytes_are_all_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let mut w = super::Writeback::new(std::fs::File::create(&p).unwrap());
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..20 {
            w.write_all(&chunk).unwrap();
        }
        assert_eq!(w.written, 20 << 20);
        assert_eq!(w.started, 2 * super::WRITEBACK_BYTES);
        w.file.sync_all().unwrap();
        let back = std::fs::read(&p).unwrap();
        assert_eq!(back.len(), 20 << 20);
        assert!(back.chunks(1 << 20).all(|c| c == &chunk[..]));
    }

    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        super::write(&p, b"one").unwrap();
        super::write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let bad = dir.path().join("missing-dir").join("x.json");
        assert!(super::write(&bad, b"x").is_err());
        let err = super::write(dir.path(), b"x").unwrap_err().to_string();
        assert!(err.contains("directory"), "{err}");
    }

    #[test]
    fn a_failed_fill_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("estate.jsonl");
        std::fs::write(&p, b"old").unwrap();
        let err = super::write_with(&p, |f| {
            f.write_all(b"half of the new")?;
            Err(std::io::Error::other("formatting failed"))
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("formatting failed"), "{err}");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn a_link_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        super::write(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A dangling link gets its file made.
        let gone = dir.path().join("later.json");
        let dangling = dir.path().join("dangling.json");
        std::os::unix::fs::symlink("later.json", &dangling).unwrap();
        super::write(&dangling, b"made").unwrap();
        assert_eq!(std::fs::read(&gone).unwrap(), b"made");
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    /// `-o /dev/null` once renamed a regular file over the device, and every later
    /// reader of `/dev/null` on the machine read the report. The link here keeps the test
    /// harmless if that comes back: only the link would be replaced.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_in_place_never_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        super::write(&link, b"ab").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
