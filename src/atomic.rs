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
        let mut f = Temp::new(std::fs::File::create(&tmp)?);
        fill(&mut f)?;
        f.finish()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The temporary file. A large output is written around the page cache (`O_DIRECT`,
/// where the system and file system allow it), from whole blocks gathered in a staging
/// buffer: copying 322 MB of listing into the page cache, then having the rename over
/// the next run's output free it, took 0.2–0.4 s of a million-resource scan on the
/// machine `docs/performance.md` names, against 0.15 s written direct. An output smaller
/// than the staging buffer, or one the file system will not write direct, goes through
/// the page cache, with the disk's writing of what is already there started every
/// [`WRITEBACK_BYTES`], so that the `fsync` before the rename waits only for the last
/// stretch. The `fsync` decides either way.
struct Temp {
    file: std::fs::File,
    /// The staging buffer: up to [`STAGE`] bytes from `at`, which is block-aligned in
    /// memory; its length is `at` plus the bytes staged.
    mem: Vec<u8>,
    at: usize,
    /// Bytes staged, from `at`.
    staged: usize,
    mode: Mode,
    /// Bytes written through the page cache, and where the last writeback started.
    written: u64,
    started: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Staging: not yet known whether the output is large enough to write direct.
    Staging,
    Direct,
    Buffered,
}

/// What direct writes are aligned to, in memory, length and file offset: a multiple of
/// every device's logical block.
const BLOCK: usize = 4096;
/// Bytes gathered before each direct write; an output smaller than this is written
/// through the page cache in one write.
const STAGE: usize = 4 << 20;
const WRITEBACK_BYTES: u64 = 8 << 20;

impl Temp {
    fn new(file: std::fs::File) -> Temp {
        Temp {
            file,
            mem: Vec::new(),
            at: 0,
            staged: 0,
            mode: if cfg!(target_os = "linux") {
                Mode::Staging
            } else {
                Mode::Buffered
            },
            written: 0,
            started: 0,
        }
    }

    /// Writes what is staged, closes the temporary file's writing and waits for the disk.
    fn finish(mut self) -> std::io::Result<()> {
        // The whole blocks direct; the tail, not a whole block, through the page cache.
        let whole = if self.mode == Mode::Direct {
            self.staged / BLOCK * BLOCK
        } else {
            0
        };
        self.write_staged(whole)?;
        self.buffered();
        let tail = self.at..self.at + self.staged;
        if !tail.is_empty() {
            let rest = std::mem::take(&mut self.mem);
            self.write_buffered(&rest[tail])?;
        }
        self.file.sync_all()
    }

    /// Writes the first `len` staged bytes (direct unless the mode has fallen back to the
    /// page cache) and moves the rest to the front.
    fn write_staged(&mut self, len: usize) -> std::io::Result<()> {
        let mut done = 0;
        while done < len && self.mode == Mode::Direct {
            let from = self.at + done;
            match self.file.write(&self.mem[from..self.at + len]) {
                Ok(n) if n > 0 && n % BLOCK == 0 => done += n,
                // A short write off a block, or a file system that takes the flag but
                // not the write: the rest goes through the page cache.
                Ok(n) if n > 0 => {
                    done += n;
                    self.buffered();
                }
                Ok(_) => return Err(std::io::ErrorKind::WriteZero.into()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // `EINVAL`: the file system does not take this write direct.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => self.buffered(),
                Err(e) => return Err(e),
            }
        }
        if done < len {
            let rest = std::mem::take(&mut self.mem);
            let written = self.write_buffered(&rest[self.at + done..self.at + len]);
            self.mem = rest;
            written?;
        }
        self.mem
            .copy_within(self.at + len..self.at + self.staged, self.at);
        self.staged -= len;
        self.mem.truncate(self.at + self.staged);
        Ok(())
    }

    fn write_buffered(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if self.written - self.started >= WRITEBACK_BYTES {
            self.start_writeback();
            self.started = self.written;
        }
        Ok(())
    }

    /// From here on, through the page cache.
    fn buffered(&mut self) {
        if self.mode == Mode::Direct {
            set_direct(&self.file, false);
        }
        self.mode = Mode::Buffered;
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

/// Turns direct writing of `file` on or off; whether it is now as asked.
#[cfg(target_os = "linux")]
fn set_direct(file: &std::fs::File, on: bool) -> bool {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: plain system calls on a descriptor `file` owns; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return false;
        }
        let want = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        libc::fcntl(fd, libc::F_SETFL, want) == 0
    }
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_: &std::fs::File, _: bool) -> bool {
    false
}

impl Write for Temp {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.mode == Mode::Buffered {
            self.write_buffered(buf)?;
            return Ok(buf.len());
        }
        if self.mem.capacity() == 0 {
            // Reserved, not filled: only what is staged is ever touched, so a small output
            // costs the memory it needs. It is never grown, so it never moves.
            self.mem = Vec::with_capacity(STAGE + BLOCK);
            self.at = self.mem.as_ptr().align_offset(BLOCK).min(BLOCK);
            self.mem.resize(self.at, 0);
        }
        let n = buf.len().min(STAGE - self.staged);
        self.mem.extend_from_slice(&buf[..n]);
        self.staged += n;
        if self.staged == STAGE {
            if self.mode == Mode::Staging {
                // Large enough to be worth it, if the file system agrees.
                self.mode = if set_direct(&self.file, true) {
                    Mode::Direct
                } else {
                    Mode::Buffered
                };
            }
            self.write_staged(STAGE)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    /// Bytes 0, 1, … 250 over and over, `len` of them.
    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn writeback_is_started_every_stretch_and_the_bytes_are_all_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let mut w = super::Temp::new(std::fs::File::create(&p).unwrap());
        w.mode = super::Mode::Buffered;
        let chunk = pattern(1 << 20);
        for _ in 0..20 {
            w.write_all(&chunk).unwrap();
        }
        assert_eq!(w.written, 20 << 20);
        assert_eq!(w.started, 2 * super::WRITEBACK_BYTES);
        w.finish().unwrap();
        let back = std::fs::read(&p).unwrap();
        assert_eq!(back.len(), 20 << 20);
        assert!(back.chunks(1 << 20).all(|c| c == &chunk[..]));
    }

    /// Several staging buffers' worth in uneven writes, then a tail that is not a whole
    /// block: written direct where the file system allows it, and whole either way.
    #[test]
    fn a_large_output_is_written_whole_and_direct_where_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("listing.json");
        let all = pattern(3 * super::STAGE + 5 * super::BLOCK + 123);
        let mut w = super::Temp::new(std::fs::File::create(&p).unwrap());
        for piece in all.chunks(1_000_003) {
            w.write_all(piece).unwrap();
        }
        let probe = std::fs::File::create(dir.path().join("probe")).unwrap();
        if cfg!(target_os = "linux") && super::set_direct(&probe, true) {
            assert_eq!(w.mode, super::Mode::Direct);
            assert_eq!(w.written, 0, "nothing went through the page cache yet");
        }
        w.finish().unwrap();
        assert!(std::fs::read(&p).unwrap() == all);
        // A small output is one write through the page cache.
        let mut w = super::Temp::new(std::fs::File::create(&p).unwrap());
        w.write_all(b"small").unwrap();
        assert_ne!(w.mode, super::Mode::Direct);
        w.finish().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"small");
    }

    /// A direct write the system refuses (here one that is not a whole number of blocks)
    /// is written through the page cache instead, and so is everything after it.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_refused_direct_write_goes_through_the_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out");
        let mut w = super::Temp::new(std::fs::File::create(&p).unwrap());
        let first = pattern(super::BLOCK + 7);
        w.write_all(&first).unwrap();
        if !super::set_direct(&w.file, true) {
            return;
        }
        w.mode = super::Mode::Direct;
        w.write_staged(first.len()).unwrap();
        assert_eq!(w.mode, super::Mode::Buffered);
        assert_eq!(w.written, first.len() as u64);
        w.write_all(b"after").unwrap();
        w.finish().unwrap();
        let mut all = first;
        all.extend_from_slice(b"after");
        assert!(std::fs::read(&p).unwrap() == all);
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
