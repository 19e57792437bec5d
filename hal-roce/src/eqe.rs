//! Event queue entries (docs/silicon/rocev2.md §5.7).
//!
//! An EQE is 32 bytes; the owner bit in its last byte follows [`crate::ring::owner_bit`]. The
//! device writes the body first and the owner byte last.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use crate::admin::CmdStatus;
use crate::bytes::{put_u32, put_u64, put_u8, u32_at, u64_at, u8_at};
use crate::cm::CmEventType;
use crate::cqe::syndrome;

/// Size of an EQE.
pub const EQE_SIZE: usize = 32;
/// Offset of the byte holding the owner bit.
pub const EQE_OWNER_OFFSET: usize = 0x1F;
/// Smallest EQ, log2 entries (`EQ_SIZE.LOG2_ENTRIES`).
pub const MIN_EQ_LOG2: u8 = 4;

/// EVENT_TYPE (§5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventType {
    /// An admin command completed.
    CmdComplete = 0x01,
    /// An armed CQ has a completion that satisfies the arm.
    CqNotify = 0x02,
    /// A CQ failed.
    CqError = 0x03,
    /// An SRQ fell below its armed limit.
    SrqLimit = 0x04,
    /// An SRQ failed.
    SrqError = 0x05,
    /// A QP entered ERR on its own.
    QpError = 0x06,
    /// A connection event; the CM record is in the CM event ring.
    CmEvent = 0x07,
    /// The link changed.
    PortChange = 0x08,
    /// The device is fatal.
    DeviceFatal = 0x09,
    /// An armed raw queue has a completion (§14.5).
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

/// SUBTYPE of CQ_ERROR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CqErrorKind {
    /// More completions than the ring holds.
    Overrun = 1,
    /// The device could not write the ring.
    Fatal = 2,
}

impl CqErrorKind {
    /// Decodes a SUBTYPE byte.
    pub const fn from_u8(v: u8) -> Option<CqErrorKind> {
        match v {
            1 => Some(CqErrorKind::Overrun),
            2 => Some(CqErrorKind::Fatal),
            _ => None,
        }
    }
}

impl From<CqErrorKind> for hal::CqErrorKind {
    fn from(k: CqErrorKind) -> hal::CqErrorKind {
        match k {
            CqErrorKind::Overrun => hal::CqErrorKind::Overrun,
            CqErrorKind::Fatal => hal::CqErrorKind::Fatal,
        }
    }
}

/// SUBTYPE of QP_ERROR (§10.2: follows the syndrome class).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum QpErrorKind {
    /// A local check failed.
    Local = 1,
    /// The peer NAKed.
    Remote = 2,
    /// Retries ran out.
    Transport = 3,
    /// The QP's CQ failed.
    Cq = 4,
}

impl QpErrorKind {
    /// Decodes a SUBTYPE byte.
    pub const fn from_u8(v: u8) -> Option<QpErrorKind> {
        Some(match v {
            1 => QpErrorKind::Local,
            2 => QpErrorKind::Remote,
            3 => QpErrorKind::Transport,
            4 => QpErrorKind::Cq,
            _ => return None,
        })
    }

    /// The kind a syndrome reports (§10.2).
    pub const fn of_syndrome(s: u32) -> QpErrorKind {
        if s == syndrome::CQ_ERROR {
            return QpErrorKind::Cq;
        }
        match s >> 8 {
            0x04 => QpErrorKind::Remote,
            0x05 => QpErrorKind::Transport,
            _ => QpErrorKind::Local,
        }
    }
}

/// Why an EQE could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EqeError {
    /// EVENT_TYPE is reserved.
    BadType(u8),
    /// SUBTYPE or STATUS is not valid for the type.
    BadSubtype(u8),
}

/// A decoded EQE (§5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eqe {
    /// CMD_COMPLETE.
    CmdComplete {
        /// TOKEN of the command (CONTEXT).
        token: u64,
        /// OPCODE of the command (SUBTYPE); raw, since an unknown opcode completes too.
        opcode: u8,
        /// STATUS.
        status: CmdStatus,
        /// OBJECT of the command.
        object: u32,
        /// Outputs DATA0, DATA1 (keys: lkey, rkey).
        output: [u32; 2],
        /// SYNDROME: detail of a failure.
        syndrome: u32,
    },
    /// CQ_NOTIFY.
    CqNotify {
        /// CQN.
        cqn: u32,
        /// CQ context.
        cq_context: u64,
        /// SN of the arm it answers.
        arm_sn: u8,
    },
    /// CQ_ERROR.
    CqError {
        /// CQN.
        cqn: u32,
        /// CQ context.
        cq_context: u64,
        /// What happened.
        kind: CqErrorKind,
        /// Detail.
        syndrome: u32,
    },
    /// SRQ_LIMIT.
    SrqLimit {
        /// SRQN.
        srqn: u32,
        /// SRQ context.
        srq_context: u64,
        /// Queued WQEs when it fired.
        queued: u32,
    },
    /// SRQ_ERROR.
    SrqError {
        /// SRQN.
        srqn: u32,
        /// SRQ context.
        srq_context: u64,
        /// Detail.
        syndrome: u32,
    },
    /// QP_ERROR.
    QpError {
        /// QPN.
        qpn: u32,
        /// QP context.
        qp_context: u64,
        /// Class of the error.
        kind: QpErrorKind,
        /// The syndrome of the error CQE.
        syndrome: u32,
    },
    /// CM_EVENT.
    Cm {
        /// Connection id.
        conn_id: u32,
        /// Connection or listen context.
        context: u64,
        /// Event type.
        event: CmEventType,
        /// CMEV producer counter of the record (its slot is `record_index mod 2^CMEV_SIZE`).
        record_index: u16,
    },
    /// PORT_CHANGE.
    PortChange {
        /// PORT_STATUS value.
        port_status: u32,
    },
    /// DEVICE_FATAL.
    DeviceFatal {
        /// FATAL_CODE.
        fatal_code: u32,
    },
    /// RAW_NOTIFY.
    RawNotify {
        /// Raw queue number.
        rawqn: u32,
        /// RAWQ_CONTEXT.
        context: u64,
        /// SN of the arm.
        arm_sn: u8,
    },
}

impl Eqe {
    /// The EVENT_TYPE of the entry.
    pub const fn event_type(&self) -> EventType {
        match self {
            Eqe::CmdComplete { .. } => EventType::CmdComplete,
            Eqe::CqNotify { .. } => EventType::CqNotify,
            Eqe::CqError { .. } => EventType::CqError,
            Eqe::SrqLimit { .. } => EventType::SrqLimit,
            Eqe::SrqError { .. } => EventType::SrqError,
            Eqe::QpError { .. } => EventType::QpError,
            Eqe::Cm { .. } => EventType::CmEvent,
            Eqe::PortChange { .. } => EventType::PortChange,
            Eqe::DeviceFatal { .. } => EventType::DeviceFatal,
            Eqe::RawNotify { .. } => EventType::RawNotify,
        }
    }

    /// The EQE as the device writes it, with `owner` in the last byte.
    pub fn encode(&self, owner: bool) -> [u8; EQE_SIZE] {
        let mut b = [0u8; EQE_SIZE];
        // (SUBTYPE, STATUS, OBJECT, CONTEXT, DATA0, DATA1, SYNDROME)
        let (sub, status, object, context, d0, d1, syn) = match *self {
            Eqe::CmdComplete {
                token,
                opcode,
                status,
                object,
                output,
                syndrome,
            } => (
                opcode,
                status as u8,
                object,
                token,
                output[0],
                output[1],
                syndrome,
            ),
            Eqe::CqNotify {
                cqn,
                cq_context,
                arm_sn,
            } => (0, 0, cqn, cq_context, u32::from(arm_sn & 3), 0, 0),
            Eqe::CqError {
                cqn,
                cq_context,
                kind,
                syndrome,
            } => (kind as u8, 0, cqn, cq_context, 0, 0, syndrome),
            Eqe::SrqLimit {
                srqn,
                srq_context,
                queued,
            } => (0, 0, srqn, srq_context, queued, 0, 0),
            Eqe::SrqError {
                srqn,
                srq_context,
                syndrome,
            } => (0, 0, srqn, srq_context, 0, 0, syndrome),
            Eqe::QpError {
                qpn,
                qp_context,
                kind,
                syndrome,
            } => (kind as u8, 0, qpn, qp_context, 0, 0, syndrome),
            Eqe::Cm {
                conn_id,
                context,
                event,
                record_index,
            } => (
                event as u8,
                0,
                conn_id,
                context,
                u32::from(record_index),
                0,
                0,
            ),
            Eqe::PortChange { port_status } => (0, 0, 0, 0, port_status, 0, 0),
            Eqe::DeviceFatal { fatal_code } => (0, 0, 0, 0, 0, 0, fatal_code),
            Eqe::RawNotify {
                rawqn,
                context,
                arm_sn,
            } => (0, 0, rawqn, context, u32::from(arm_sn & 3), 0, 0),
        };
        put_u8(&mut b, 0x00, self.event_type() as u8);
        put_u8(&mut b, 0x01, sub);
        put_u8(&mut b, 0x02, status);
        put_u32(&mut b, 0x04, object);
        put_u64(&mut b, 0x08, context);
        put_u32(&mut b, 0x10, d0);
        put_u32(&mut b, 0x14, d1);
        put_u32(&mut b, 0x18, syn);
        put_u8(&mut b, EQE_OWNER_OFFSET, u8::from(owner));
        b
    }

    /// The owner bit of a raw EQE.
    pub fn owner(raw: &[u8; EQE_SIZE]) -> bool {
        u8_at(raw, EQE_OWNER_OFFSET) & 1 != 0
    }

    /// Decodes an EQE (the owner bit is not part of the result).
    pub fn decode(raw: &[u8; EQE_SIZE]) -> Result<Eqe, EqeError> {
        let ty = u8_at(raw, 0x00);
        let sub = u8_at(raw, 0x01);
        let object = u32_at(raw, 0x04);
        let context = u64_at(raw, 0x08);
        let d0 = u32_at(raw, 0x10);
        let d1 = u32_at(raw, 0x14);
        let syndrome = u32_at(raw, 0x18);
        let bad = EqeError::BadSubtype(sub);
        Ok(match EventType::from_u8(ty).ok_or(EqeError::BadType(ty))? {
            EventType::CmdComplete => {
                let st = u8_at(raw, 0x02);
                Eqe::CmdComplete {
                    token: context,
                    opcode: sub,
                    status: CmdStatus::from_u8(st).ok_or(EqeError::BadSubtype(st))?,
                    object,
                    output: [d0, d1],
                    syndrome,
                }
            }
            EventType::CqNotify => Eqe::CqNotify {
                cqn: object,
                cq_context: context,
                arm_sn: (d0 & 3) as u8,
            },
            EventType::CqError => Eqe::CqError {
                cqn: object,
                cq_context: context,
                kind: CqErrorKind::from_u8(sub).ok_or(bad)?,
                syndrome,
            },
            EventType::SrqLimit => Eqe::SrqLimit {
                srqn: object,
                srq_context: context,
                queued: d0,
            },
            EventType::SrqError => Eqe::SrqError {
                srqn: object,
                srq_context: context,
                syndrome,
            },
            EventType::QpError => Eqe::QpError {
                qpn: object,
                qp_context: context,
                kind: QpErrorKind::from_u8(sub).ok_or(bad)?,
                syndrome,
            },
            EventType::CmEvent => Eqe::Cm {
                conn_id: object,
                context,
                event: CmEventType::from_u8(sub).ok_or(bad)?,
                record_index: (d0 & 0xFFFF) as u16,
            },
            EventType::PortChange => Eqe::PortChange { port_status: d0 },
            EventType::DeviceFatal => Eqe::DeviceFatal {
                fatal_code: syndrome,
            },
            EventType::RawNotify => Eqe::RawNotify {
                rawqn: object,
                context,
                arm_sn: (d0 & 3) as u8,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Opcode;
    use crate::ring::owner_bit;

    fn samples() -> [Eqe; 10] {
        [
            Eqe::CmdComplete {
                token: 0x8000_0000_0000_0001,
                opcode: Opcode::RegisterMr as u8,
                status: CmdStatus::Ok,
                object: 0x1205,
                output: [0x1205, 0x1205],
                syndrome: 0,
            },
            Eqe::CqNotify {
                cqn: 9,
                cq_context: 0xC0,
                arm_sn: 3,
            },
            Eqe::CqError {
                cqn: 9,
                cq_context: 0xC0,
                kind: CqErrorKind::Overrun,
                syndrome: 0,
            },
            Eqe::SrqLimit {
                srqn: 4,
                srq_context: 0x50,
                queued: 3,
            },
            Eqe::SrqError {
                srqn: 4,
                srq_context: 0x50,
                syndrome: syndrome::DMA_ERROR,
            },
            Eqe::QpError {
                qpn: 2,
                qp_context: 0x90,
                kind: QpErrorKind::Transport,
                syndrome: syndrome::ACK_TIMEOUT,
            },
            Eqe::Cm {
                conn_id: 0x8000_0001,
                context: 0x11,
                event: CmEventType::ConnectRequest,
                record_index: 0xFFFF,
            },
            Eqe::PortChange {
                port_status: 0x05DC_0501,
            },
            Eqe::DeviceFatal { fatal_code: 2 },
            Eqe::RawNotify {
                rawqn: 0,
                context: 0xE7,
                arm_sn: 2,
            },
        ]
    }

    #[test]
    fn every_event_round_trips_with_either_owner() {
        for e in samples() {
            for owner in [false, true] {
                let raw = e.encode(owner);
                assert_eq!(Eqe::owner(&raw), owner);
                assert_eq!(Eqe::decode(&raw), Ok(e));
                assert_eq!(EventType::from_u8(raw[0]), Some(e.event_type()));
            }
        }
    }

    #[test]
    fn command_completion_layout_matches_the_manual() {
        let raw = samples()[0].encode(true);
        assert_eq!(raw[0x00], 0x01);
        assert_eq!(raw[0x01], 0x52);
        assert_eq!(raw[0x02], 0x00);
        assert_eq!(&raw[0x08..0x10], &0x8000_0000_0000_0001u64.to_le_bytes());
        assert_eq!(&raw[0x10..0x14], &0x1205u32.to_le_bytes());
        assert_eq!(raw[0x1F], 1);
    }

    #[test]
    fn decode_rejects_reserved_types_and_subtypes() {
        let mut raw = samples()[2].encode(true);
        raw[0x01] = 3;
        assert_eq!(Eqe::decode(&raw), Err(EqeError::BadSubtype(3)));
        raw[0x00] = 0x0B;
        assert_eq!(Eqe::decode(&raw), Err(EqeError::BadType(0x0B)));
        let mut raw = samples()[0].encode(true);
        raw[0x02] = 0x20;
        assert_eq!(Eqe::decode(&raw), Err(EqeError::BadSubtype(0x20)));
    }

    #[test]
    fn qp_error_kind_follows_the_syndrome_class() {
        assert_eq!(
            QpErrorKind::of_syndrome(syndrome::NAK_REMOTE_ACCESS),
            QpErrorKind::Remote
        );
        assert_eq!(
            QpErrorKind::of_syndrome(syndrome::RNR_RETRIES),
            QpErrorKind::Transport
        );
        assert_eq!(
            QpErrorKind::of_syndrome(syndrome::CQ_ERROR),
            QpErrorKind::Cq
        );
        assert_eq!(
            QpErrorKind::of_syndrome(syndrome::LKEY_STALE),
            QpErrorKind::Local
        );
        assert_eq!(
            hal::CqErrorKind::from(CqErrorKind::Overrun),
            hal::CqErrorKind::Overrun
        );
    }

    #[test]
    fn eq_phase_bit_flips_per_wrap() {
        let k = MIN_EQ_LOG2;
        let e = samples()[1];
        let first = e.encode(owner_bit(0, k));
        let second = e.encode(owner_bit(1 << k, k));
        assert!(Eqe::owner(&first));
        assert!(!Eqe::owner(&second));
    }
}
