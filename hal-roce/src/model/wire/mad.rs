//! Management datagrams on QP1, the General Services Interface (IBA vol 1 §13.4, §13.5):
//! 256-byte MADs carried in UD SEND ONLY packets with Q_Key 0x80010000.

use super::bth::{Bth, Opcode, DEFAULT_PKEY};
use super::bytes::{arr, be16, be32, be64, u8_at};
use super::ext::{Deth, ExtHeaders};
use super::packet::RocePacket;
use super::WireError;

/// Length of a MAD.
pub const MAD_LEN: usize = 256;
/// Length of the common MAD header.
pub const MAD_HEADER_LEN: usize = 24;
/// Length of the class-specific data after the common header.
pub const MAD_DATA_LEN: usize = MAD_LEN - MAD_HEADER_LEN;
/// The GSI's QP number.
pub const GSI_QP: u32 = 1;
/// The well-known Q_Key of QP1 (IBA §13.5.1: 0x80010000).
pub const GSI_QKEY: u32 = 0x8001_0000;
/// MAD base version (§13.4.2).
pub const BASE_VERSION: u8 = 1;
/// Management class of Communication Management (§13.4.4, Table 147).
pub const MGMT_CLASS_CM: u8 = 0x07;
/// Class version of CM MADs (IBA 1.2 onwards).
pub const CM_CLASS_VERSION: u8 = 2;

/// MAD methods (§13.4.5, Table 148); bit 7 (R) marks a response.
pub mod method {
    /// Get.
    pub const GET: u8 = 0x01;
    /// Set.
    pub const SET: u8 = 0x02;
    /// Send: what every CM message uses (ComMgt "Send", §12.6.1).
    pub const SEND: u8 = 0x03;
    /// Trap.
    pub const TRAP: u8 = 0x05;
    /// Report.
    pub const REPORT: u8 = 0x06;
    /// Response bit.
    pub const RESPONSE: u8 = 0x80;
    /// GetResp.
    pub const GET_RESP: u8 = 0x81;
}

/// The common MAD header (§13.4.2, Figure 144).
///
/// ```text
/// byte 0  BaseVersion      byte 1  MgmtClass   byte 2  ClassVersion   byte 3  R | Method
/// 4-5     Status           6-7     ClassSpecific
/// 8-15    TransactionID
/// 16-17   AttributeID      18-19   Reserved
/// 20-23   AttributeModifier
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MadHeader {
    /// Base version ([`BASE_VERSION`]).
    pub base_version: u8,
    /// Management class.
    pub mgmt_class: u8,
    /// Class version.
    pub class_version: u8,
    /// Method, including the R bit.
    pub method: u8,
    /// Status.
    pub status: u16,
    /// Class-specific field.
    pub class_specific: u16,
    /// Transaction ID.
    pub tid: u64,
    /// Attribute ID.
    pub attr_id: u16,
    /// Attribute modifier.
    pub attr_mod: u32,
}

impl MadHeader {
    /// A CM Send header for `attr_id` (base version 1, class 0x07 version 2, method Send).
    pub fn cm(attr_id: u16, tid: u64) -> MadHeader {
        MadHeader {
            base_version: BASE_VERSION,
            mgmt_class: MGMT_CLASS_CM,
            class_version: CM_CLASS_VERSION,
            method: method::SEND,
            status: 0,
            class_specific: 0,
            tid,
            attr_id,
            attr_mod: 0,
        }
    }

    /// The header's 24 bytes.
    pub fn to_bytes(&self) -> [u8; MAD_HEADER_LEN] {
        let mut b = [0u8; MAD_HEADER_LEN];
        b[0] = self.base_version;
        b[1] = self.mgmt_class;
        b[2] = self.class_version;
        b[3] = self.method;
        b[4..6].copy_from_slice(&self.status.to_be_bytes());
        b[6..8].copy_from_slice(&self.class_specific.to_be_bytes());
        b[8..16].copy_from_slice(&self.tid.to_be_bytes());
        b[16..18].copy_from_slice(&self.attr_id.to_be_bytes());
        b[20..24].copy_from_slice(&self.attr_mod.to_be_bytes());
        b
    }

    /// Parses a common MAD header.
    pub fn parse(buf: &[u8]) -> Result<MadHeader, WireError> {
        const T: WireError = WireError::Truncated("MAD header");
        Ok(MadHeader {
            base_version: u8_at(buf, 0).ok_or(T)?,
            mgmt_class: u8_at(buf, 1).ok_or(T)?,
            class_version: u8_at(buf, 2).ok_or(T)?,
            method: u8_at(buf, 3).ok_or(T)?,
            status: be16(buf, 4).ok_or(T)?,
            class_specific: be16(buf, 6).ok_or(T)?,
            tid: be64(buf, 8).ok_or(T)?,
            attr_id: be16(buf, 16).ok_or(T)?,
            attr_mod: be32(buf, 20).ok_or(T)?,
        })
    }
}

/// A whole 256-byte MAD: common header and class data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mad {
    /// Common header.
    pub header: MadHeader,
    /// The 232 bytes after it.
    pub data: [u8; MAD_DATA_LEN],
}

impl Mad {
    /// The MAD's 256 bytes.
    pub fn to_bytes(&self) -> [u8; MAD_LEN] {
        let mut b = [0u8; MAD_LEN];
        b[..MAD_HEADER_LEN].copy_from_slice(&self.header.to_bytes());
        b[MAD_HEADER_LEN..].copy_from_slice(&self.data);
        b
    }

    /// Parses a MAD from the payload of a QP1 packet (at least 256 bytes; more is an
    /// error, the GSI payload is exactly one MAD).
    pub fn parse(buf: &[u8]) -> Result<Mad, WireError> {
        if buf.len() > MAD_LEN {
            return Err(WireError::BadLength("MAD"));
        }
        Ok(Mad {
            header: MadHeader::parse(buf)?,
            data: arr(buf, MAD_HEADER_LEN).ok_or(WireError::Truncated("MAD"))?,
        })
    }
}

/// The UD SEND ONLY packet that carries `mad` from QP1 to QP1 (IBA §13.5.1): P_Key
/// 0xFFFF, DETH with the GSI Q_Key and source QP 1.
pub fn gsi_packet(mad: &[u8; MAD_LEN], psn: u32) -> RocePacket<'_> {
    let mut bth = Bth::new(Opcode::UdSendOnly, GSI_QP, psn);
    bth.pkey = DEFAULT_PKEY;
    RocePacket {
        bth,
        ext: ExtHeaders {
            deth: Some(Deth {
                qkey: GSI_QKEY,
                src_qp: GSI_QP,
            }),
            ..ExtHeaders::default()
        },
        payload: mad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_layout() {
        let h = MadHeader {
            attr_mod: 0x0102_0304,
            status: 0x0C00,
            ..MadHeader::cm(0x0010, 0x1122_3344_5566_7788)
        };
        let b = h.to_bytes();
        assert_eq!(&b[..4], &[1, 7, 2, 3]);
        assert_eq!(&b[4..6], &[0x0C, 0]);
        assert_eq!(&b[8..16], &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(&b[16..20], &[0, 0x10, 0, 0]);
        assert_eq!(&b[20..], &[1, 2, 3, 4]);
        assert_eq!(MadHeader::parse(&b), Ok(h));
        assert!(MadHeader::parse(&b[..23]).is_err());
    }

    #[test]
    fn mad_round_trip() {
        let mut data = [0u8; MAD_DATA_LEN];
        data[0] = 0xAA;
        data[MAD_DATA_LEN - 1] = 0xBB;
        let m = Mad {
            header: MadHeader::cm(0x0014, 9),
            data,
        };
        let b = m.to_bytes();
        assert_eq!(b[24], 0xAA);
        assert_eq!(b[255], 0xBB);
        assert_eq!(Mad::parse(&b), Ok(m));
        assert!(Mad::parse(&b[..255]).is_err());
        let p = gsi_packet(&b, 7);
        assert_eq!(p.bth.dest_qp, 1);
        assert_eq!(p.ext.deth.map(|d| d.qkey), Some(0x8001_0000));
        p.ext.check(Opcode::UdSendOnly).unwrap();
    }
}
