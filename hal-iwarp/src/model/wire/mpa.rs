//! MPA on the byte stream (RFC 5044, RFC 6581; datasheet §9.3): whole request / reply frames
//! with their private data, and FPDUs with CRC32c (markers are never used).
//!
//! The header fields, the IRD / ORD block and the FPDU length arithmetic are the register
//! crate's ([`crate::mpa`]); this module adds what needs allocation and the CRC.

use std::vec::Vec;

use crc::{Crc, CRC_32_ISCSI};

use super::bytes::{arr, be16};
use super::WireError;
use crate::mpa::{
    fpdu_pad, FrameHeader, FrameKind, IrdOrd, FPDU_CRC_SIZE, FPDU_HEADER_SIZE, FRAME_HEADER_SIZE,
    IRD_ORD_SIZE, MAX_PRIVATE_DATA, REVISION,
};

/// CRC32c (Castagnoli, the iSCSI CRC of RFC 3385).
const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// The CRC32c of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    CRC32C.checksum(data)
}

/// A request or reply frame with its private data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MpaFrame {
    /// KEY, flags, REV and PD_LENGTH (PD_LENGTH is recomputed on encode).
    pub header: FrameHeader,
    /// The RFC 6581 IRD / ORD block: present in revision-2 frames with at least 4 bytes of
    /// private data.
    pub ird_ord: Option<IrdOrd>,
    /// The ULP private data (after the IRD / ORD block).
    pub private_data: Vec<u8>,
}

impl MpaFrame {
    /// A frame as RNIC-W1 sends it (M = 0, C = 1, REV 2) with an IRD / ORD block.
    pub fn ours(kind: FrameKind, reject: bool, ird_ord: IrdOrd, private_data: &[u8]) -> MpaFrame {
        MpaFrame {
            header: FrameHeader::ours(kind, reject, 0),
            ird_ord: Some(ird_ord),
            private_data: private_data.to_vec(),
        }
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, WireError> {
        let pd_len = self.private_data.len()
            + if self.ird_ord.is_some() {
                IRD_ORD_SIZE
            } else {
                0
            };
        if pd_len > MAX_PRIVATE_DATA {
            return Err(WireError::TooLong("MPA private data"));
        }
        let mut h = self.header;
        h.pd_length = u16::try_from(pd_len).map_err(|_| WireError::TooLong("MPA private data"))?;
        let mut out = Vec::with_capacity(FRAME_HEADER_SIZE + pd_len);
        out.extend_from_slice(&h.encode());
        if let Some(io) = self.ird_ord {
            out.extend_from_slice(&io.encode());
        }
        out.extend_from_slice(&self.private_data);
        Ok(out)
    }

    /// Parses a frame at the start of the received stream: `Ok(None)` until all of it has
    /// arrived, else the frame and the bytes it took.
    pub fn decode(stream: &[u8]) -> Result<Option<(MpaFrame, usize)>, WireError> {
        if stream.len() < FRAME_HEADER_SIZE {
            return Ok(None);
        }
        let header = FrameHeader::decode(stream).map_err(WireError::BadMpaFrame)?;
        let total = FRAME_HEADER_SIZE + usize::from(header.pd_length);
        let Some(pd) = stream.get(FRAME_HEADER_SIZE..total) else {
            return Ok(None);
        };
        let (ird_ord, ulp) = match arr::<IRD_ORD_SIZE>(pd, 0) {
            Some(b) if header.rev == REVISION => (
                Some(IrdOrd::decode(b)),
                pd.get(IRD_ORD_SIZE..).unwrap_or(&[]),
            ),
            _ => (None, pd),
        };
        Ok(Some((
            MpaFrame {
                header,
                ird_ord,
                private_data: ulp.to_vec(),
            },
            total,
        )))
    }
}

/// Appends the FPDU carrying `ulpdu`: ULPDU_LENGTH, the ULPDU, zero PAD to a multiple of 4,
/// CRC32c over all of those, least significant byte first (like an iSCSI digest, RFC 3720
/// Appendix B.4).
pub fn encode_fpdu(ulpdu: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    let len = u16::try_from(ulpdu.len()).map_err(|_| WireError::TooLong("ULPDU"))?;
    let start = out.len();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(ulpdu);
    out.resize(out.len() + fpdu_pad(ulpdu.len()), 0);
    let crc = crc32c(out.get(start..).unwrap_or(&[]));
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// The FPDU carrying `ulpdu`, as a new buffer.
pub fn fpdu(ulpdu: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(crate::mpa::fpdu_len(ulpdu.len()));
    encode_fpdu(ulpdu, &mut out)?;
    Ok(out)
}

/// Parses the FPDU at the start of the received stream: `Ok(None)` until all of it has
/// arrived, else its ULPDU and the bytes it took. A ULPDU_LENGTH above `max_ulpdu` (MULPDU of
/// our MSS, §9.3.2) or a bad CRC is an error (fatal for the stream).
pub fn decode_fpdu(stream: &[u8], max_ulpdu: usize) -> Result<Option<(&[u8], usize)>, WireError> {
    let Some(len) = be16(stream, 0) else {
        return Ok(None);
    };
    let len = usize::from(len);
    if len > max_ulpdu {
        return Err(WireError::BadLength("ULPDU_LENGTH"));
    }
    let body = FPDU_HEADER_SIZE + len + fpdu_pad(len);
    let Some(crc_bytes) = arr::<FPDU_CRC_SIZE>(stream, body) else {
        return Ok(None);
    };
    let covered = stream.get(..body).unwrap_or(&[]);
    let computed = crc32c(covered);
    let found = u32::from_le_bytes(crc_bytes);
    if computed != found {
        return Err(WireError::BadCrc { computed, found });
    }
    let ulpdu = stream
        .get(FPDU_HEADER_SIZE..FPDU_HEADER_SIZE + len)
        .unwrap_or(&[]);
    Ok(Some((ulpdu, body + FPDU_CRC_SIZE)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::mpa::RtrType;

    #[test]
    fn crc32c_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        // RFC 3720 B.4: 32 bytes of zeros have the digest bytes aa 36 91 8a.
        assert_eq!(crc32c(&[0; 32]).to_le_bytes(), [0xaa, 0x36, 0x91, 0x8a]);
    }

    #[test]
    fn request_reply_known_bytes() {
        let req = MpaFrame::ours(FrameKind::Request, false, IrdOrd::request(16, 8), b"hi");
        let b = req.encode().unwrap();
        let mut want = b"MPA ID Req Frame".to_vec();
        want.extend_from_slice(&[0x40, 2, 0, 6, 0x80, 0x10, 0x40, 0x08, b'h', b'i']);
        assert_eq!(b, want);
        assert_eq!(MpaFrame::decode(&b[..25]), Ok(None));
        let (p, used) = MpaFrame::decode(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        assert_eq!(p.ird_ord, Some(IrdOrd::request(16, 8)));
        assert_eq!(p.private_data, b"hi");
        assert_eq!(p.ird_ord.unwrap().choose_rtr(), Some(RtrType::Read));

        // A device reject: R set, no private data at all.
        let rej = MpaFrame {
            header: FrameHeader::ours(FrameKind::Reply, true, 0),
            ird_ord: None,
            private_data: Vec::new(),
        };
        let b = rej.encode().unwrap();
        assert_eq!(&b[16..], &[0x60, 2, 0, 0]);
        let (p, _) = MpaFrame::decode(&b).unwrap().unwrap();
        assert!(p.header.reject && p.ird_ord.is_none());
        let mut bad = b.clone();
        bad[0] = b'X';
        assert!(matches!(
            MpaFrame::decode(&bad),
            Err(WireError::BadMpaFrame(_))
        ));
        let big = MpaFrame::ours(FrameKind::Reply, false, IrdOrd::default(), &[0; 509]);
        assert_eq!(big.encode(), Err(WireError::TooLong("MPA private data")));
    }

    #[test]
    fn fpdu_known_bytes_and_checks() {
        // A 3-byte ULPDU: 2 + 3 = 5, three pad bytes, CRC over 00 03 'a' 'b' 'c' 00 00 00.
        let f = fpdu(b"abc").unwrap();
        assert_eq!(&f[..8], &[0, 3, b'a', b'b', b'c', 0, 0, 0]);
        assert_eq!(
            u32::from_le_bytes(f[8..12].try_into().unwrap()),
            crc32c(&[0, 3, b'a', b'b', b'c', 0, 0, 0])
        );
        assert_eq!(f.len(), crate::mpa::fpdu_len(3));
        let mut stream = f.clone();
        stream.extend_from_slice(&fpdu(&[7; 8]).unwrap());
        let (u, used) = decode_fpdu(&stream, 100).unwrap().unwrap();
        assert_eq!((u, used), (&b"abc"[..], 12));
        let (u, used) = decode_fpdu(&stream[12..], 100).unwrap().unwrap();
        assert_eq!((u, used), (&[7u8; 8][..], 2 + 8 + 2 + 4));
        assert_eq!(decode_fpdu(&stream[..11], 100), Ok(None));
        assert_eq!(decode_fpdu(&stream[..1], 100), Ok(None));
        assert_eq!(
            decode_fpdu(&stream, 2),
            Err(WireError::BadLength("ULPDU_LENGTH"))
        );
        stream[3] ^= 0x20;
        assert!(matches!(
            decode_fpdu(&stream, 100),
            Err(WireError::BadCrc { .. })
        ));
    }
}
