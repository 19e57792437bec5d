//! Capturing the virtual wire to a pcap file (LINKTYPE_ETHERNET), for Wireshark.

use core::time::Duration;
use std::io::Write;

use pcap_file::pcap::{PcapPacket, PcapWriter};
pub use pcap_file::PcapError;

/// A pcap writer for Ethernet frames (without FCS).
pub struct PcapCapture<W: Write> {
    writer: PcapWriter<W>,
}

impl<W: Write> PcapCapture<W> {
    /// Writes the pcap file header (LINKTYPE_ETHERNET, microsecond timestamps, snap length
    /// 65535) to `sink`.
    pub fn new(sink: W) -> Result<PcapCapture<W>, PcapError> {
        Ok(PcapCapture {
            writer: PcapWriter::new(sink)?,
        })
    }

    /// Appends one frame with timestamp `ts` (time since the epoch, or since the model's
    /// start).
    pub fn write_frame(&mut self, ts: Duration, frame: &[u8]) -> Result<(), PcapError> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        self.writer
            .write_packet(&PcapPacket::new(ts, len, frame))
            .map(|_| ())
    }

    /// The underlying sink.
    pub fn into_inner(self) -> W {
        self.writer.into_writer()
    }
}
