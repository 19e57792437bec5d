//! RDMAP (RFC 5040, §9.4 of the datasheet): the control byte, the RDMA Read Request header,
//! the Terminate header, and whole DDP segments (the ULPDU of one FPDU) with the
//! segmentation of a message into them.

use std::vec::Vec;

use super::bytes::{arr, be16, be32, be64, u8_at};
use super::ddp::{
    DdpHeader, TaggedHeader, UntaggedHeader, QN_READ_REQUEST, QN_SEND, QN_TERMINATE,
    TAGGED_HEADER_LEN, UNTAGGED_HEADER_LEN,
};
use super::WireError;

/// The RDMAP version (RV) RFC 5040 defines.
pub const RDMAP_VERSION: u8 = 1;
/// Bytes of the RDMA Read Request header.
pub const READ_REQUEST_LEN: usize = 28;
/// Bytes of the Terminate control field.
pub const TERMINATE_CONTROL_LEN: usize = 4;

/// RDMAP message opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// RDMA Write (tagged).
    Write = 0,
    /// RDMA Read Request (untagged queue 1).
    ReadRequest = 1,
    /// RDMA Read Response (tagged).
    ReadResponse = 2,
    /// Send (untagged queue 0).
    Send = 3,
    /// Send with Invalidate.
    SendInvalidate = 4,
    /// Send with Solicited Event.
    SendSe = 5,
    /// Send with Solicited Event and Invalidate.
    SendSeInvalidate = 6,
    /// Terminate (untagged queue 2).
    Terminate = 7,
}

impl Opcode {
    /// Decodes the 4-bit opcode; 8..15 (atomics and reserved) are not supported.
    pub fn from_u8(v: u8) -> Option<Opcode> {
        Some(match v {
            0 => Opcode::Write,
            1 => Opcode::ReadRequest,
            2 => Opcode::ReadResponse,
            3 => Opcode::Send,
            4 => Opcode::SendInvalidate,
            5 => Opcode::SendSe,
            6 => Opcode::SendSeInvalidate,
            7 => Opcode::Terminate,
            _ => return None,
        })
    }

    /// Whether the message uses the tagged buffer model.
    pub fn is_tagged(self) -> bool {
        matches!(self, Opcode::Write | Opcode::ReadResponse)
    }

    /// The untagged queue of an untagged message.
    pub fn queue(self) -> Option<u32> {
        match self {
            Opcode::Write | Opcode::ReadResponse => None,
            Opcode::ReadRequest => Some(QN_READ_REQUEST),
            Opcode::Terminate => Some(QN_TERMINATE),
            Opcode::Send | Opcode::SendInvalidate | Opcode::SendSe | Opcode::SendSeInvalidate => {
                Some(QN_SEND)
            }
        }
    }

    /// Whether the message carries an STag to invalidate in the DDP reserved field.
    pub fn invalidates(self) -> bool {
        matches!(self, Opcode::SendInvalidate | Opcode::SendSeInvalidate)
    }

    /// Whether the message asks for a solicited event.
    pub fn solicited(self) -> bool {
        matches!(self, Opcode::SendSe | Opcode::SendSeInvalidate)
    }

    /// The RDMAP control byte: RV = 1 in bits 7–6, the opcode in bits 3–0.
    pub fn control(self) -> u8 {
        (RDMAP_VERSION << 6) | self as u8
    }

    /// Decodes a control byte (RV must be 1, the opcode known; reserved bits ignored).
    pub fn from_control(ctrl: u8) -> Result<Opcode, WireError> {
        if ctrl >> 6 != RDMAP_VERSION {
            return Err(WireError::BadRdmapVersion(ctrl >> 6));
        }
        Opcode::from_u8(ctrl & 0x0F).ok_or(WireError::UnknownOpcode(ctrl & 0x0F))
    }
}

/// The RDMA Read Request header (RFC 5040 §4.4): the payload of an untagged queue-1 message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ReadRequest {
    /// Data Sink STag (the requester's buffer).
    pub sink_stag: u32,
    /// Data Sink tagged offset.
    pub sink_to: u64,
    /// RDMA Read Message Size.
    pub size: u32,
    /// Data Source STag (the responder's buffer).
    pub src_stag: u32,
    /// Data Source tagged offset.
    pub src_to: u64,
}

impl ReadRequest {
    /// The 28 wire bytes.
    pub fn encode(&self) -> [u8; READ_REQUEST_LEN] {
        let mut b = [0u8; READ_REQUEST_LEN];
        b[0..4].copy_from_slice(&self.sink_stag.to_be_bytes());
        b[4..12].copy_from_slice(&self.sink_to.to_be_bytes());
        b[12..16].copy_from_slice(&self.size.to_be_bytes());
        b[16..20].copy_from_slice(&self.src_stag.to_be_bytes());
        b[20..28].copy_from_slice(&self.src_to.to_be_bytes());
        b
    }

    /// Parses the header at the start of `b` (trailing bytes are the caller's to reject).
    pub fn parse(b: &[u8]) -> Result<ReadRequest, WireError> {
        const T: WireError = WireError::Truncated("RDMA Read Request");
        Ok(ReadRequest {
            sink_stag: be32(b, 0).ok_or(T)?,
            sink_to: be64(b, 4).ok_or(T)?,
            size: be32(b, 12).ok_or(T)?,
            src_stag: be32(b, 16).ok_or(T)?,
            src_to: be64(b, 20).ok_or(T)?,
        })
    }
}

/// The Terminate control field (RFC 5040 §4.8, datasheet §9.6): layer, error type and code
/// (`hal_iwarp::cqe::term`) and which headers follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TerminateControl {
    /// Layer (4 bits): RDMAP 0, DDP 1, LLP 2.
    pub layer: u8,
    /// Error type (4 bits).
    pub etype: u8,
    /// Error code.
    pub ecode: u8,
    /// M: the DDP segment length field is valid.
    pub m: bool,
    /// D: the terminated DDP header follows.
    pub d: bool,
    /// R: the terminated RDMAP header (a Read Request's) follows.
    pub r: bool,
}

impl TerminateControl {
    /// The 32-bit control word (the TERM word of the datasheet).
    pub fn word(&self) -> u32 {
        (u32::from(self.layer & 0xF) << 28)
            | (u32::from(self.etype & 0xF) << 24)
            | (u32::from(self.ecode) << 16)
            | (u32::from(self.m) << 15)
            | (u32::from(self.d) << 14)
            | (u32::from(self.r) << 13)
    }

    /// Decodes a control word (reserved bits ignored).
    pub fn from_word(w: u32) -> TerminateControl {
        let [a, b, c, _reserved] = w.to_be_bytes();
        TerminateControl {
            layer: a >> 4,
            etype: a & 0xF,
            ecode: b,
            m: c & 0x80 != 0,
            d: c & 0x40 != 0,
            r: c & 0x20 != 0,
        }
    }
}

/// A Terminate message's payload: the control field, then (as its bits say) the DDP segment
/// length, the terminated DDP header and the terminated RDMAP header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Terminate {
    /// Layer, type, code and header flags (M, D, R are recomputed from the fields below on
    /// encode).
    pub control: TerminateControl,
    /// The terminated segment's ULPDU_LENGTH (sets M).
    pub segment_len: Option<u16>,
    /// The terminated DDP header, 14 or 18 bytes as received (sets D).
    pub ddp_header: Option<Vec<u8>>,
    /// The terminated RDMA Read Request header, 28 bytes (sets R).
    pub rdmap_header: Option<[u8; READ_REQUEST_LEN]>,
}

impl Terminate {
    /// A Terminate with only the control field (layer, etype, code); what an LLP error sends.
    pub fn new(layer: u8, etype: u8, ecode: u8) -> Terminate {
        Terminate {
            control: TerminateControl {
                layer,
                etype,
                ecode,
                ..TerminateControl::default()
            },
            ..Terminate::default()
        }
    }

    /// Appends the payload bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut c = self.control;
        c.m = self.segment_len.is_some();
        c.d = self.ddp_header.is_some();
        c.r = self.rdmap_header.is_some();
        out.extend_from_slice(&c.word().to_be_bytes());
        if let Some(len) = self.segment_len {
            out.extend_from_slice(&len.to_be_bytes());
        }
        if let Some(h) = &self.ddp_header {
            out.extend_from_slice(h);
        }
        if let Some(h) = &self.rdmap_header {
            out.extend_from_slice(h);
        }
    }

    /// Parses a Terminate payload; the DDP header's length follows its T bit.
    pub fn parse(b: &[u8]) -> Result<Terminate, WireError> {
        const T: WireError = WireError::Truncated("Terminate");
        let control = TerminateControl::from_word(be32(b, 0).ok_or(T)?);
        let mut off = TERMINATE_CONTROL_LEN;
        let mut t = Terminate {
            control,
            ..Terminate::default()
        };
        if control.m {
            t.segment_len = Some(be16(b, off).ok_or(T)?);
            off += 2;
        }
        if control.d {
            let len = if u8_at(b, off).ok_or(T)? & 0x80 != 0 {
                TAGGED_HEADER_LEN
            } else {
                UNTAGGED_HEADER_LEN
            };
            t.ddp_header = Some(b.get(off..off + len).ok_or(T)?.to_vec());
            off += len;
        }
        if control.r {
            t.rdmap_header = Some(arr(b, off).ok_or(T)?);
        }
        Ok(t)
    }
}

/// A whole DDP segment: the ULPDU of one FPDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The DDP header (with the RDMAP control byte).
    pub ddp: DdpHeader,
    /// The decoded RDMAP opcode.
    pub opcode: Opcode,
    /// The segment's payload.
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Parses a ULPDU: DV = 1, RV = 1, a known opcode on the DDP header kind it goes with.
    pub fn parse(ulpdu: &'a [u8]) -> Result<Segment<'a>, WireError> {
        let (ddp, payload) = DdpHeader::parse(ulpdu)?;
        let opcode = Opcode::from_control(ddp.rdmap_ctrl())?;
        if opcode.is_tagged() != matches!(ddp, DdpHeader::Tagged(_)) {
            return Err(WireError::OpcodeMismatch(opcode as u8));
        }
        Ok(Segment {
            ddp,
            opcode,
            payload,
        })
    }

    /// The ULPDU bytes: header and payload.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ddp.len() + self.payload.len());
        self.ddp.write(&mut out);
        out.extend_from_slice(self.payload);
        out
    }
}

/// Where a message goes: the tagged buffer or the untagged queue and message number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Tagged: the sink STag and the tagged offset of the message's first byte.
    Tagged {
        /// STag.
        stag: u32,
        /// Tagged offset of the first byte.
        to: u64,
    },
    /// Untagged: MSN of the message on the opcode's queue, and the Invalidate STag (0 unless
    /// the opcode invalidates).
    Untagged {
        /// Message sequence number.
        msn: u32,
        /// STag to invalidate (Send with Invalidate).
        inval_stag: u32,
    },
}

/// Splits a message into the ULPDUs that carry it, each at most `max_ulpdu` bytes (MULPDU,
/// `hal_iwarp::mpa::mulpdu`): every segment gets the header of its offset (TO or MO), the
/// last one L = 1. A zero-length message is one segment.
pub fn segment_message(
    opcode: Opcode,
    target: Target,
    payload: &[u8],
    max_ulpdu: usize,
) -> Result<Vec<Vec<u8>>, WireError> {
    let hdr = match target {
        Target::Tagged { .. } => TAGGED_HEADER_LEN,
        Target::Untagged { .. } => UNTAGGED_HEADER_LEN,
    };
    if opcode.is_tagged() != matches!(target, Target::Tagged { .. }) {
        return Err(WireError::OpcodeMismatch(opcode as u8));
    }
    let room = max_ulpdu
        .checked_sub(hdr)
        .filter(|r| *r > 0)
        .ok_or(WireError::InvalidField("MULPDU below the DDP header"))?;
    let mut out = Vec::new();
    let mut off = 0usize;
    loop {
        let n = room.min(payload.len() - off);
        let last = off + n == payload.len();
        let ddp = match target {
            Target::Tagged { stag, to } => DdpHeader::Tagged(TaggedHeader {
                last,
                rdmap_ctrl: opcode.control(),
                stag,
                to: to.wrapping_add(off as u64),
            }),
            Target::Untagged { msn, inval_stag } => DdpHeader::Untagged(UntaggedHeader {
                last,
                rdmap_ctrl: opcode.control(),
                ulp_reserved: if opcode.invalidates() { inval_stag } else { 0 },
                qn: opcode.queue().unwrap_or(QN_SEND),
                msn,
                mo: u32::try_from(off).map_err(|_| WireError::TooLong("untagged message"))?,
            }),
        };
        let seg = Segment {
            ddp,
            opcode,
            payload: payload.get(off..off + n).unwrap_or(&[]),
        };
        out.push(seg.to_vec());
        off += n;
        if last {
            return Ok(out);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn control_byte() {
        assert_eq!(Opcode::Write.control(), 0x40);
        assert_eq!(Opcode::Terminate.control(), 0x47);
        assert_eq!(Opcode::from_control(0x45), Ok(Opcode::SendSe));
        assert_eq!(
            Opcode::from_control(0x75),
            Ok(Opcode::SendSe),
            "reserved bits"
        );
        assert_eq!(
            Opcode::from_control(0x83),
            Err(WireError::BadRdmapVersion(2))
        );
        assert_eq!(Opcode::from_control(0x48), Err(WireError::UnknownOpcode(8)));
        for v in 0..8 {
            let op = Opcode::from_u8(v).unwrap();
            assert_eq!(op as u8, v);
            assert_eq!(op.queue().is_none(), op.is_tagged());
        }
        assert_eq!(Opcode::Terminate.queue(), Some(QN_TERMINATE));
        assert!(Opcode::SendSeInvalidate.invalidates() && Opcode::SendSeInvalidate.solicited());
    }

    #[test]
    fn read_request_known_bytes() {
        let r = ReadRequest {
            sink_stag: 0x0A0B_0C0D,
            sink_to: 0x1000,
            size: 0x2000,
            src_stag: 0x0102_0304,
            src_to: 0xFFFF_0000_0000_0001,
        };
        let b = r.encode();
        assert_eq!(
            b,
            [
                0x0A, 0x0B, 0x0C, 0x0D, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x20, 0, 1, 2, 3, 4, 0xFF,
                0xFF, 0, 0, 0, 0, 0, 1
            ]
        );
        assert_eq!(ReadRequest::parse(&b), Ok(r));
        assert!(ReadRequest::parse(&b[..27]).is_err());
    }

    #[test]
    fn terminate_known_bytes() {
        // DDP untagged buffer error, no buffer (1/2/2) with the offending untagged header.
        let ddp = DdpHeader::Untagged(UntaggedHeader {
            last: true,
            rdmap_ctrl: Opcode::Send.control(),
            qn: 0,
            msn: 5,
            mo: 0,
            ulp_reserved: 0,
        });
        let mut h = Vec::new();
        ddp.write(&mut h);
        let t = Terminate {
            control: TerminateControl {
                layer: 1,
                etype: 2,
                ecode: 2,
                ..TerminateControl::default()
            },
            segment_len: Some(0x40),
            ddp_header: Some(h.clone()),
            rdmap_header: None,
        };
        let mut b = Vec::new();
        t.write(&mut b);
        assert_eq!(&b[..6], &[0x12, 0x02, 0xC0, 0x00, 0x00, 0x40]);
        assert_eq!(&b[6..], &h[..]);
        let p = Terminate::parse(&b).unwrap();
        assert!(p.control.m && p.control.d && !p.control.r);
        assert_eq!(p.ddp_header, Some(h));
        let llp = Terminate::new(2, 0, 2);
        let mut b = Vec::new();
        llp.write(&mut b);
        assert_eq!(b, [0x20, 0x02, 0x00, 0x00]);
        assert_eq!(TerminateControl::from_word(0x2002_0000).layer, 2);
        assert!(Terminate::parse(&[0x12, 0x02, 0x40]).is_err());
    }

    #[test]
    fn segmentation_headers_and_offsets() {
        let data: Vec<u8> = (0..100u8).collect();
        let segs = segment_message(
            Opcode::SendInvalidate,
            Target::Untagged {
                msn: 7,
                inval_stag: 0xABCD,
            },
            &data,
            18 + 40,
        )
        .unwrap();
        assert_eq!(segs.len(), 3);
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let seg = Segment::parse(s).unwrap();
            assert_eq!(seg.opcode, Opcode::SendInvalidate);
            let DdpHeader::Untagged(h) = seg.ddp else {
                panic!("untagged")
            };
            assert_eq!(
                (h.msn, h.mo, h.qn, h.ulp_reserved),
                (7, 40 * i as u32, 0, 0xABCD)
            );
            assert_eq!(h.last, i == 2);
            joined.extend_from_slice(seg.payload);
        }
        assert_eq!(joined, data);
        let w = segment_message(
            Opcode::Write,
            Target::Tagged { stag: 9, to: 100 },
            &data,
            64,
        )
        .unwrap();
        let DdpHeader::Tagged(h) = Segment::parse(&w[1]).unwrap().ddp else {
            panic!("tagged")
        };
        assert_eq!(h.to, 150);
        let empty =
            segment_message(Opcode::Write, Target::Tagged { stag: 0, to: 0 }, &[], 64).unwrap();
        assert_eq!(empty.len(), 1);
        assert_eq!(empty[0], [0xC1, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(segment_message(Opcode::Send, Target::Tagged { stag: 0, to: 0 }, &[], 64).is_err());
        // Write on an untagged header is rejected on parse.
        let mut bad = Vec::new();
        DdpHeader::Untagged(UntaggedHeader {
            rdmap_ctrl: 0x40,
            ..UntaggedHeader::default()
        })
        .write(&mut bad);
        assert_eq!(Segment::parse(&bad), Err(WireError::OpcodeMismatch(0)));
    }
}
