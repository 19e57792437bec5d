//! Event queue entries (docs/silicon/iwarp.md §5.7).
//!
//! An EQE is 32 bytes with the owner bit in its last byte (§5.1). The meaning of SUBTYPE,
//! OBJECT, CONTEXT, DATA0, DATA1 and SYNDROME depends on the event type; [`Eqe`] keeps them raw
//! and the accessors name them per type.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::admin::CmdStatus;
use crate::cm::CmEventType;
use crate::cqe::TermInfo;

/// Size of an EQE.
pub const EQE_SIZE: usize = 32;
/// Offset of the byte holding the owner bit.
pub const EQE_OWNER_OFFSET: usize = 0x1F;
/// Smallest EQ, log2 entries (`EQ_SIZE.LOG2_ENTRIES` ≥ 4).
pub const MIN_EQ_LOG2: u8 = 4;

/// The EQE exactly as in host memory (§5.7), one field per row.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct EqeRaw {
    /// 0x00 EVENT_TYPE.
    pub event_type: u8,
    /// 0x01 SUBTYPE.
    pub subtype: u8,
    /// 0x02 STATUS.
    pub status: u8,
    /// 0x03 reserved.
    pub reserved0: u8,
    /// 0x04 OBJECT.
    pub object: U32,
    /// 0x08 CONTEXT.
    pub context: U64,
    /// 0x10 DATA0.
    pub data0: U32,
    /// 0x14 DATA1.
    pub data1: U32,
    /// 0x18 SYNDROME.
    pub syndrome: U32,
    /// 0x1C reserved.
    pub reserved1: [u8; 3],
    /// 0x1F OWNER (bit 0).
    pub owner: u8,
}

const _: () = assert!(core::mem::size_of::<EqeRaw>() == EQE_SIZE);

/// EVENT_TYPE (§5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventType {
    /// An admin command finished.
    CmdComplete = 0x01,
    /// An armed CQ has a matching CQE.
    CqNotify = 0x02,
    /// A CQ failed (SUBTYPE 1 OVERRUN, 2 FATAL).
    CqError = 0x03,
    /// Queued SRQ WQEs fell below the armed limit.
    SrqLimit = 0x04,
    /// An SRQ failed.
    SrqError = 0x05,
    /// A QP entered ERR on its own (SUBTYPE 1 LOCAL, 2 REMOTE, 3 TRANSPORT, 4 CQ).
    QpError = 0x06,
    /// A connection event; DATA0 names the CMEV record.
    CmEvent = 0x07,
    /// The link changed; DATA0 is PORT_STATUS.
    PortChange = 0x08,
    /// The device is fatal; SYNDROME is FATAL_CODE.
    DeviceFatal = 0x09,
    /// The armed raw queue has a completion.
    RawNotify = 0x0A,
}

impl EventType {
    /// Decodes an EVENT_TYPE byte.
    pub const fn from_u8(v: u8) -> Option<EventType> {
        Some(match v {
            0x01 => EventType::CmdComplete,
            0x02 => EventType::CqNotify,
            0x03 => EventType::CqError,
            0x04 => EventType::SrqLimit,
            0x05 => EventType::SrqError,
            0x06 => EventType::QpError,
            0x07 => EventType::CmEvent,
            0x08 => EventType::PortChange,
            0x09 => EventType::DeviceFatal,
            0x0A => EventType::RawNotify,
            _ => return None,
        })
    }
}

/// `CQ_ERROR` SUBTYPE: the ring overran.
pub const CQ_ERROR_OVERRUN: u8 = 1;
/// `CQ_ERROR` SUBTYPE: the CQ failed.
pub const CQ_ERROR_FATAL: u8 = 2;

/// Why an EQE could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EqeError {
    /// EVENT_TYPE is reserved.
    BadEventType(u8),
}

/// An event queue entry (§5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Eqe {
    /// EVENT_TYPE.
    pub event_type: EventType,
    /// SUBTYPE (per type).
    pub subtype: u8,
    /// STATUS (CMD_COMPLETE).
    pub status: u8,
    /// OBJECT (per type).
    pub object: u32,
    /// CONTEXT (per type).
    pub context: u64,
    /// DATA0 (per type).
    pub data0: u32,
    /// DATA1 (per type).
    pub data1: u32,
    /// SYNDROME (per type).
    pub syndrome: u32,
}

impl Eqe {
    /// A CMD_COMPLETE event.
    pub const fn cmd_complete(
        opcode: u8,
        status: CmdStatus,
        object: u32,
        token: u64,
        out: (u32, u32),
    ) -> Eqe {
        Eqe {
            event_type: EventType::CmdComplete,
            subtype: opcode,
            status: status as u8,
            object,
            context: token,
            data0: out.0,
            data1: out.1,
            syndrome: 0,
        }
    }

    /// A CM_EVENT naming CMEV record `index`.
    pub const fn cm_event(ty: CmEventType, conn_id: u32, context: u64, index: u16) -> Eqe {
        Eqe {
            event_type: EventType::CmEvent,
            subtype: ty as u8,
            status: 0,
            object: conn_id,
            context,
            data0: index as u32,
            data1: 0,
            syndrome: 0,
        }
    }

    /// A QP_ERROR event with the error CQE's syndrome and the TERM word.
    pub const fn qp_error(qpn: u32, qp_context: u64, syndrome: u32, term: Option<TermInfo>) -> Eqe {
        Eqe {
            event_type: EventType::QpError,
            subtype: crate::cqe::syndrome::qp_error_subtype(syndrome),
            status: 0,
            object: qpn,
            context: qp_context,
            data0: TermInfo::encode(term),
            data1: 0,
            syndrome,
        }
    }

    /// The EQE bytes as the device writes them, `owner` in the last byte.
    pub fn encode(&self, owner: bool) -> [u8; EQE_SIZE] {
        let r = EqeRaw {
            event_type: self.event_type as u8,
            subtype: self.subtype,
            status: self.status,
            reserved0: 0,
            object: U32::new(self.object),
            context: U64::new(self.context),
            data0: U32::new(self.data0),
            data1: U32::new(self.data1),
            syndrome: U32::new(self.syndrome),
            reserved1: [0; 3],
            owner: u8::from(owner),
        };
        zerocopy::transmute!(r)
    }

    /// The owner bit of a raw EQE.
    pub fn owner(raw: &[u8; EQE_SIZE]) -> bool {
        raw.last().is_some_and(|b| b & 1 != 0)
    }

    /// Decodes an EQE (the owner bit is not part of the result).
    pub fn decode(raw: &[u8; EQE_SIZE]) -> Result<Eqe, EqeError> {
        let r: EqeRaw = zerocopy::transmute!(*raw);
        Ok(Eqe {
            event_type: EventType::from_u8(r.event_type)
                .ok_or(EqeError::BadEventType(r.event_type))?,
            subtype: r.subtype,
            status: r.status,
            object: r.object.get(),
            context: r.context.get(),
            data0: r.data0.get(),
            data1: r.data1.get(),
            syndrome: r.syndrome.get(),
        })
    }

    /// CMD_COMPLETE: the command status (`None` if reserved).
    pub const fn cmd_status(&self) -> Option<CmdStatus> {
        CmdStatus::from_u8(self.status)
    }

    /// CM_EVENT: the connection event type (`None` if reserved).
    pub const fn cm_event_type(&self) -> Option<CmEventType> {
        CmEventType::from_u8(self.subtype)
    }

    /// CM_EVENT: the CMEV record index (the producer counter of the record, 16 bits).
    pub const fn cmev_index(&self) -> u16 {
        (self.data0 & 0xFFFF) as u16
    }

    /// CQ_NOTIFY / RAW_NOTIFY: the SN of the arm answered.
    pub const fn arm_sn(&self) -> u8 {
        (self.data0 & 0x3) as u8
    }

    /// QP_ERROR: the Terminate that ended the QP, if any.
    pub const fn term(&self) -> Option<TermInfo> {
        TermInfo::decode(self.data0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cqe::{syndrome, term};
    use core::mem::offset_of;

    #[test]
    fn raw_offsets_match_the_manual() {
        assert_eq!(offset_of!(EqeRaw, event_type), 0x00);
        assert_eq!(offset_of!(EqeRaw, subtype), 0x01);
        assert_eq!(offset_of!(EqeRaw, status), 0x02);
        assert_eq!(offset_of!(EqeRaw, object), 0x04);
        assert_eq!(offset_of!(EqeRaw, context), 0x08);
        assert_eq!(offset_of!(EqeRaw, data0), 0x10);
        assert_eq!(offset_of!(EqeRaw, data1), 0x14);
        assert_eq!(offset_of!(EqeRaw, syndrome), 0x18);
        assert_eq!(offset_of!(EqeRaw, owner), EQE_OWNER_OFFSET);
    }

    #[test]
    fn a_cmd_complete_image_built_from_the_manual_decodes() {
        let mut raw = [0u8; EQE_SIZE];
        raw[0x00] = 0x01;
        raw[0x01] = 0x62; // CM_CONNECT
        raw[0x02] = 0x08; // ADDRESS_IN_USE
        raw[0x04..0x08].copy_from_slice(&42u32.to_le_bytes());
        raw[0x08..0x10].copy_from_slice(&0xDEAD_BEEF_0000_0001u64.to_le_bytes());
        raw[0x10..0x14].copy_from_slice(&0xC001u32.to_le_bytes());
        raw[0x1F] = 1;
        let e = Eqe::decode(&raw).unwrap();
        assert_eq!(e.event_type, EventType::CmdComplete);
        assert_eq!(e.subtype, 0x62);
        assert_eq!(e.cmd_status(), Some(CmdStatus::AddressInUse));
        assert_eq!(
            (e.object, e.context, e.data0),
            (42, 0xDEAD_BEEF_0000_0001, 0xC001)
        );
        assert!(Eqe::owner(&raw));
        assert_eq!(
            Eqe::cmd_complete(
                0x62,
                CmdStatus::AddressInUse,
                42,
                0xDEAD_BEEF_0000_0001,
                (0xC001, 0)
            )
            .encode(true),
            raw
        );
    }

    #[test]
    fn cm_event_and_qp_error_round_trip() {
        let e = Eqe::cm_event(CmEventType::ConnectRequest, 0x8000_0003, 77, 0xFFFF);
        for owner in [false, true] {
            let raw = e.encode(owner);
            assert_eq!(Eqe::owner(&raw), owner);
            let d = Eqe::decode(&raw).unwrap();
            assert_eq!(d, e);
            assert_eq!(d.cm_event_type(), Some(CmEventType::ConnectRequest));
            assert_eq!(d.cmev_index(), 0xFFFF);
        }
        let t = TermInfo {
            layer: term::LAYER_RDMAP,
            etype: term::RDMAP_PROTECTION,
            code: term::INVALID_STAG,
            received: true,
        };
        let q = Eqe::qp_error(9, 10, syndrome::TERM_REMOTE_ACCESS, Some(t));
        let d = Eqe::decode(&q.encode(true)).unwrap();
        assert_eq!(d.subtype, 2, "REMOTE");
        assert_eq!(d.term(), Some(t));
        assert_eq!(d.syndrome, syndrome::TERM_REMOTE_ACCESS);
    }

    #[test]
    fn decode_rejects_reserved_event_types() {
        let mut raw = [0u8; EQE_SIZE];
        assert_eq!(Eqe::decode(&raw), Err(EqeError::BadEventType(0)));
        raw[0] = 0x0B;
        assert_eq!(Eqe::decode(&raw), Err(EqeError::BadEventType(0x0B)));
        raw[0] = 0x0A;
        raw[0x10] = 0x07;
        let e = Eqe::decode(&raw).unwrap();
        assert_eq!(e.event_type, EventType::RawNotify);
        assert_eq!(e.arm_sn(), 3);
    }
}
