//! Pipes that carry secrets and payloads to and from the daemon as file descriptors (DESIGN §6:
//! never as message arguments).
//!
//! Each pipe gets its own thread that copies between the pipe and a local file, stdin, stdout or
//! a zeroized buffer while the D-Bus call is in flight, so a payload larger than the pipe's
//! buffer never deadlocks the call and memory stays bounded by one copy buffer. Our end of the
//! pipe is owned by that thread, so it is closed as soon as the copy is done: the daemon sees
//! end of file on an input, and we see it on an output once the daemon and the finished call
//! have dropped theirs.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::thread::{self, JoinHandle};

use zbus::Fd;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::progress::Bar;
use crate::secret::Secret;

/// Size of the copy buffer of a payload transfer.
const CHUNK: usize = 64 * 1024;

fn new_pipe() -> Result<(PipeReader, PipeWriter), Error> {
    io::pipe().map_err(|err| Error::io("creating a pipe", err))
}

fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<JoinHandle<io::Result<T>>, Error> {
    thread::Builder::new()
        .name("plog-pipe".to_owned())
        .spawn(f)
        .map_err(|err| Error::io("starting a copy thread", err))
}

fn join<T>(thread: JoinHandle<io::Result<T>>) -> io::Result<T> {
    thread
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the copy thread panicked")))
}

/// The thread feeding one pipe that the daemon reads.
#[derive(Debug)]
pub(crate) struct Feeder {
    thread: JoinHandle<io::Result<u64>>,
}

impl Feeder {
    /// Waits until everything was written and returns the number of bytes. Call it only after
    /// the daemon answered successfully (it read to end of file); after a failure the daemon
    /// may not have read at all.
    pub(crate) fn finish(self) -> io::Result<u64> {
        join(self.thread)
    }
}

/// A pipe whose read end goes to the daemon and into which `secret` is written. The secret
/// is written straight from its zeroized buffer, without intermediate copies.
pub(crate) fn feed_secret(secret: Secret) -> Result<(Fd<'static>, Feeder), Error> {
    let (reader, mut writer) = new_pipe()?;
    let thread = spawn(move || {
        writer.write_all(&secret)?;
        Ok(secret.len() as u64)
    })?;
    Ok((Fd::from(OwnedFd::from(reader)), Feeder { thread }))
}

/// A pipe whose read end goes to the daemon and into which all of `source` is copied.
pub(crate) fn feed_from(
    mut source: impl Read + Send + 'static,
    bar: Bar,
) -> Result<(Fd<'static>, Feeder), Error> {
    let (reader, mut writer) = new_pipe()?;
    let thread = spawn(move || copy(&mut source, &mut writer, &bar))?;
    Ok((Fd::from(OwnedFd::from(reader)), Feeder { thread }))
}

/// The thread draining one pipe that the daemon writes.
#[derive(Debug)]
pub(crate) struct Drain<T> {
    thread: JoinHandle<io::Result<T>>,
}

impl<T> Drain<T> {
    /// Waits for end of file. Call it only after the D-Bus call returned (until then the call
    /// holds a copy of the write end, so end of file cannot come).
    pub(crate) fn finish(self) -> io::Result<T> {
        join(self.thread)
    }

    /// Waits for the copy after the D-Bus call returned `called` and combines the two: the
    /// copy's failure is reported as a failure of `context` (a sink that failed, say stdout
    /// closed early or a full disk, also makes the daemon's writes fail, and the local cause is
    /// the one worth reporting), otherwise the call's. Waiting even after a failed call lets
    /// the sink (an unfinished output file) be cleaned up; it cannot hang, because the daemon
    /// has answered and so has let go of its copy of the write end.
    pub(crate) fn settle<R>(
        self,
        called: Result<R, Error>,
        context: impl FnOnce() -> String,
    ) -> Result<(R, T), Error> {
        let copied = join(self.thread);
        match (called, copied) {
            (_, Err(err)) => Err(Error::io(context(), err)),
            (Err(err), Ok(_)) => Err(err),
            (Ok(answer), Ok(sink)) => Ok((answer, sink)),
        }
    }
}

/// A pipe whose write end goes to the daemon; everything it writes is copied to `sink`, which
/// is handed back with the byte count.
pub(crate) fn drain_into<W: Write + Send + 'static>(
    mut sink: W,
    bar: Bar,
) -> Result<(Fd<'static>, Drain<(W, u64)>), Error> {
    let (mut reader, writer) = new_pipe()?;
    let thread = spawn(move || {
        let copied = copy(&mut reader, &mut sink, &bar)?;
        sink.flush()?;
        Ok((sink, copied))
    })?;
    Ok((Fd::from(OwnedFd::from(writer)), Drain { thread }))
}

/// A pipe whose write end goes to the daemon, read into a zeroized buffer of at most `max`
/// bytes (a recovery phrase). More than `max` bytes is an error.
pub(crate) fn drain_secret(max: usize) -> Result<(Fd<'static>, Drain<Secret>), Error> {
    let (mut reader, writer) = new_pipe()?;
    let thread = spawn(move || {
        crate::secret::read_bounded(&mut reader, max)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {max} bytes arrived"),
            )
        })
    })?;
    Ok((Fd::from(OwnedFd::from(writer)), Drain { thread }))
}

/// Copies `source` to `sink` until end of file, counting on `bar`.
fn copy(source: &mut impl Read, sink: &mut impl Write, bar: &Bar) -> io::Result<u64> {
    let mut buffer = Zeroizing::new(vec![0_u8; CHUNK]);
    let mut total = 0_u64;
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let chunk = buffer.get(..n).unwrap_or_default();
        sink.write_all(chunk)?;
        total += n as u64;
        bar.advance(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    fn into_file(fd: Fd<'static>) -> File {
        File::from(OwnedFd::try_from(fd).expect("owned fd"))
    }

    /// More than a pipe buffer holds, so the copy must run while the other side reads.
    fn payload() -> Vec<u8> {
        (0..300_000_u32).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn fed_bytes_arrive_unchanged_and_end_with_eof() {
        let data = payload();
        let (fd, feeder) =
            feed_from(std::io::Cursor::new(data.clone()), Bar::hidden()).expect("pipe");
        let mut received = Vec::new();
        into_file(fd).read_to_end(&mut received).expect("read");
        assert_eq!(received, data);
        assert_eq!(feeder.finish().expect("fed"), data.len() as u64);
    }

    #[test]
    fn secrets_are_fed_whole() {
        let (fd, feeder) = feed_secret(Zeroizing::new(b"pass phrase\n".to_vec())).expect("pipe");
        let mut received = Vec::new();
        into_file(fd).read_to_end(&mut received).expect("read");
        assert_eq!(received, b"pass phrase\n");
        assert_eq!(feeder.finish().expect("fed"), 12);
    }

    #[test]
    fn drained_bytes_arrive_unchanged() {
        let data = payload();
        let (fd, drain) = drain_into(Vec::new(), Bar::hidden()).expect("pipe");
        let mut file = into_file(fd);
        file.write_all(&data).expect("write");
        drop(file);
        let (sink, count) = drain.finish().expect("drained");
        assert_eq!(count, data.len() as u64);
        assert_eq!(sink, data);
    }

    /// A sink that refuses every write, like a full disk.
    #[derive(Debug)]
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn settling_prefers_the_local_failure() {
        let context = || "writing out".to_owned();
        let (fd, drain) = drain_into(Vec::new(), Bar::hidden()).expect("pipe");
        drop(fd);
        let err = drain
            .settle::<()>(Err(Error::Declined), context)
            .expect_err("call failed");
        assert!(matches!(err, Error::Declined), "{err:?}");

        let (fd, drain) = drain_into(Full, Bar::hidden()).expect("pipe");
        into_file(fd).write_all(b"data").expect("write");
        let err = drain
            .settle::<()>(Err(Error::Declined), context)
            .expect_err("sink failed");
        assert_eq!(err.to_string(), "writing out: disk full");

        let (fd, drain) = drain_into(Vec::new(), Bar::hidden()).expect("pipe");
        into_file(fd).write_all(b"data").expect("write");
        let (answer, (sink, count)) = drain.settle(Ok(7), context).expect("both fine");
        assert_eq!((answer, sink.as_slice(), count), (7, &b"data"[..], 4));
    }

    #[test]
    fn drained_secrets_are_bounded() {
        let (fd, drain) = drain_secret(8).expect("pipe");
        let mut file = into_file(fd);
        file.write_all(b"12345678").expect("write");
        drop(file);
        assert_eq!(drain.finish().expect("drained").as_slice(), b"12345678");

        let (fd, drain) = drain_secret(8).expect("pipe");
        let mut file = into_file(fd);
        file.write_all(b"123456789").expect("write");
        drop(file);
        let err = drain.finish().expect_err("too long");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn a_reader_that_goes_away_ends_the_feed_with_an_error() {
        let (fd, feeder) = feed_from(std::io::Cursor::new(payload()), Bar::hidden()).expect("pipe");
        drop(fd);
        let err = feeder.finish().expect_err("broken pipe");
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
