//! pcap capture of the frames sent on a fabric.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crate::CAPTURE_SNAPLEN;

type BoxedWriter = Box<dyn Write + Send>;

/// The writer under the pcap writer, shared so that the fabric can flush it
/// ([`PcapWriter`] only gives its writer back by value).
#[derive(Clone)]
struct SharedSink(Arc<Mutex<BoxedWriter>>);

impl SharedSink {
    fn with<T>(&self, f: impl FnOnce(&mut BoxedWriter) -> T) -> T {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }
}

impl Write for SharedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with(|w| w.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.with(|w| w.write_all(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.with(|w| w.flush())
    }
}

/// An active capture: a pcap writer with nanosecond timestamps and `LINKTYPE_ETHERNET`.
pub(crate) struct Capture {
    writer: PcapWriter<SharedSink>,
    sink: SharedSink,
}

fn pcap_to_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other),
    }
}

impl Capture {
    /// Writes the pcap global header to `writer` and returns the capture.
    pub(crate) fn start(writer: BoxedWriter) -> io::Result<Capture> {
        let sink = SharedSink(Arc::new(Mutex::new(writer)));
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: CAPTURE_SNAPLEN,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::native(),
        };
        let writer = PcapWriter::with_header(sink.clone(), header).map_err(pcap_to_io)?;
        Ok(Capture { writer, sink })
    }

    /// Writes one record for `frame` at virtual time `now_ns`, truncated to the snaplen.
    ///
    /// A truncated record also has its original length clamped to the snaplen: pcap-file's
    /// reader rejects records whose original length exceeds the snaplen.
    pub(crate) fn write(&mut self, frame: &[u8], now_ns: u64) -> io::Result<()> {
        let snap = usize::try_from(CAPTURE_SNAPLEN).unwrap_or(usize::MAX);
        let included = frame.get(..snap).unwrap_or(frame);
        let packet = PcapPacket {
            timestamp: Duration::from_nanos(now_ns),
            orig_len: u32::try_from(included.len()).unwrap_or(CAPTURE_SNAPLEN),
            data: Cow::Borrowed(included),
        };
        self.writer
            .write_packet(&packet)
            .map(|_| ())
            .map_err(pcap_to_io)
    }

    /// Flushes the underlying writer.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}
