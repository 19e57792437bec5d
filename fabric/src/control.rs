//! The control block both reference NICs share (their datasheets give the same registers at
//! the same BAR0 offsets: CTRL, STATUS, FATAL_CODE, the ADMQ, EQ and CMEV ring registers,
//! INT_CAUSE and INT_MASK): its state and its register-level behaviour — reset, enable,
//! ring enables, the EQ arm and interrupt, INT_CAUSE write-1-to-clear, entering the fatal
//! state, writing events, fetching commands and writing connection records. The offsets
//! come from each device's register map ([`control_regs!`](crate::control_regs)); event,
//! command and record formats stay the device's.

use hal::ring;

use crate::cq::{HostRing, RingFetch, RingPost};
use crate::BarMemory;

/// BAR0 byte offsets of the control block's registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct ControlRegs {
    pub ctrl: usize,
    pub status: usize,
    pub fatal_code: usize,
    pub int_cause: usize,
    pub int_mask: usize,
    pub admq_base_lo: usize,
    pub admq_base_hi: usize,
    pub admq_size: usize,
    pub admq_ctrl: usize,
    pub admq_pi: usize,
    pub admq_ci: usize,
    pub admq_status: usize,
    pub eq_base_lo: usize,
    pub eq_base_hi: usize,
    pub eq_size: usize,
    pub eq_ctrl: usize,
    pub eq_pi: usize,
    pub eq_ci: usize,
    pub eq_status: usize,
    pub cmev_base_lo: usize,
    pub cmev_base_hi: usize,
    pub cmev_size: usize,
    pub cmev_ctrl: usize,
    pub cmev_pi: usize,
    pub cmev_ci: usize,
}

/// The [`ControlRegs`] of a register map `$bar0`: a `#[repr(C)]` struct with a field of each
/// register's name.
#[macro_export]
macro_rules! control_regs {
    ($bar0:ty) => {
        $crate::control_regs!(@fields $bar0; ctrl status fatal_code int_cause int_mask
            admq_base_lo admq_base_hi admq_size admq_ctrl admq_pi admq_ci admq_status
            eq_base_lo eq_base_hi eq_size eq_ctrl eq_pi eq_ci eq_status
            cmev_base_lo cmev_base_hi cmev_size cmev_ctrl cmev_pi cmev_ci)
    };
    (@fields $bar0:ty; $($f:ident)*) => {
        $crate::control::ControlRegs {
            $($f: ::core::mem::offset_of!($bar0, $f),)*
        }
    };
}

/// What [`Control::sample`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    /// CTRL.RESET is set: the device resets, then calls [`Control::ack_reset`] with `ctrl`.
    Reset {
        /// The CTRL value read.
        ctrl: u32,
    },
    /// Sampled; `work` state changes happened.
    Sampled {
        /// Work done (the device's step result).
        work: usize,
    },
}

/// What [`Control::post_event`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventPost {
    /// No EQ, or the device is fatal: nothing written.
    Skipped,
    /// The EQ overflowed (EQ_STATUS.OVERFLOW set): the device goes fatal.
    Full,
    /// The EQE could not be written: the device goes fatal.
    DmaError,
    /// Written, EQ_PI updated, the interrupt raised when armed.
    Written,
}

/// The control block's state.
pub struct Control {
    bar0: &'static BarMemory,
    regs: ControlRegs,
    /// STATUS.READY.
    pub ready: bool,
    /// CTRL.ENABLE as last sampled.
    pub enabled: bool,
    /// STATUS.FATAL: the device does nothing more until reset.
    pub fatal: bool,
    /// The admin queue, the event queue and the connection event ring while enabled.
    pub admq: Option<HostRing>,
    /// See `admq`.
    pub eq: Option<HostRing>,
    /// See `admq`.
    pub cmev: Option<HostRing>,
    /// EQ_CI.ARM latched: the next EQE raises the EQ interrupt.
    pub eq_armed: bool,
    /// INT_CAUSE.
    pub int_cause: u32,
    int_cause_written: u32,
    /// The interrupt line must be raised once the device lock is released.
    pub irq_pending: bool,
}

impl Control {
    /// The block at power-up (before the device's first reset).
    pub fn new(bar0: &'static BarMemory, regs: ControlRegs) -> Control {
        Control {
            bar0,
            regs,
            ready: false,
            enabled: false,
            fatal: false,
            admq: None,
            eq: None,
            cmev: None,
            eq_armed: false,
            int_cause: 0,
            int_cause_written: 0,
            irq_pending: false,
        }
    }

    fn w(&self, off: usize, v: u32) {
        self.bar0.write32(off, v);
    }

    fn r(&self, off: usize) -> u32 {
        self.bar0.read32(off)
    }

    /// CTRL.RESET: ready, disabled, no rings, no causes; STATUS and INT_MASK to their reset
    /// values (the device clears the other registers).
    pub fn reset(&mut self) {
        self.ready = true;
        self.enabled = false;
        self.fatal = false;
        self.admq = None;
        self.eq = None;
        self.eq_armed = false;
        self.cmev = None;
        self.int_cause = 0;
        self.int_cause_written = 0;
    }

    /// Writes STATUS (READY) and INT_MASK (all masked) after a reset.
    pub fn write_reset_values(&self) {
        self.w(self.regs.status, 1);
        self.w(self.regs.int_mask, 0xF);
    }

    /// The reset that [`Sample::Reset`] asked for is done: CTRL.RESET and ENABLE clear.
    pub fn ack_reset(&self, ctrl: u32) {
        self.w(self.regs.ctrl, ctrl & !1 & !2);
    }

    /// Sets a cause bit; the interrupt line is raised when the cause is not masked.
    pub fn set_cause(&mut self, bit: u32) {
        self.int_cause |= bit;
        self.w(self.regs.int_cause, self.int_cause);
        self.int_cause_written = self.int_cause;
        if self.r(self.regs.int_mask) & bit == 0 {
            self.irq_pending = true;
        }
    }

    fn raise_eq(&mut self) {
        self.eq_armed = false;
        let ci = self.r(self.regs.eq_ci);
        self.w(self.regs.eq_ci, ci & !(1 << 31));
        self.set_cause(1);
    }

    /// Enters the fatal state: FATAL_CODE, STATUS.FATAL, the FATAL cause. False when the
    /// device was fatal already (nothing written).
    pub fn go_fatal(&mut self, code: u32) -> bool {
        if self.fatal {
            return false;
        }
        self.fatal = true;
        self.w(self.regs.fatal_code, code);
        let st = self.r(self.regs.status);
        self.w(self.regs.status, st | 4);
        self.set_cause(1 << 3);
        true
    }

    /// Samples CTRL (reset, enable), the ring enables (base and size latch on 0 → 1), the EQ
    /// arm and INT_CAUSE (a value other than the one the device wrote is a driver's
    /// write-1-to-clear).
    pub fn sample(&mut self) -> Sample {
        let g = self.regs;
        let ctrl = self.r(g.ctrl);
        if ctrl & 1 != 0 {
            return Sample::Reset { ctrl };
        }
        let mut work = 0;
        let en = ctrl & 2 != 0;
        if en != self.enabled {
            self.enabled = en;
            let st = self.r(g.status);
            self.w(g.status, if en { st | 2 } else { st & !2 });
            work += 1;
        }
        let admq_en = self.r(g.admq_ctrl) & 1 != 0;
        if admq_en != self.admq.is_some() {
            self.admq = admq_en.then(|| self.latch(g.admq_base_lo, g.admq_base_hi, g.admq_size));
            self.w(g.admq_ci, 0);
            self.w(g.admq_status, u32::from(admq_en));
            if admq_en {
                self.w(g.admq_pi, 0);
            }
        }
        let eq_en = self.r(g.eq_ctrl) & 1 != 0;
        if eq_en != self.eq.is_some() {
            self.eq = eq_en.then(|| self.latch(g.eq_base_lo, g.eq_base_hi, g.eq_size));
            self.w(g.eq_pi, 0);
            self.w(g.eq_status, u32::from(eq_en));
        }
        let cmev_en = self.r(g.cmev_ctrl) & 1 != 0;
        if cmev_en != self.cmev.is_some() {
            self.cmev = cmev_en.then(|| self.latch(g.cmev_base_lo, g.cmev_base_hi, g.cmev_size));
            self.w(g.cmev_pi, 0);
        }
        let eq_ci = self.r(g.eq_ci);
        if eq_ci & (1 << 31) != 0 {
            self.eq_armed = true;
        }
        if self.eq_armed {
            if let Some(eq) = self.eq {
                if eq.count & ring::COUNTER24_MASK != eq_ci & ring::COUNTER24_MASK {
                    self.raise_eq();
                }
            }
        }
        let cause = self.r(g.int_cause);
        if cause != self.int_cause_written {
            self.int_cause &= !cause;
            self.w(g.int_cause, self.int_cause);
            self.int_cause_written = self.int_cause;
        }
        Sample::Sampled { work }
    }

    fn latch(&self, lo: usize, hi: usize, size: usize) -> HostRing {
        HostRing {
            base: u64::from(self.r(lo)) | u64::from(self.r(hi)) << 32,
            log2: (self.r(size) & 0x1F) as u8,
            count: 0,
        }
    }

    /// Writes the EQE `encode(owner)` (owner byte at `owner_offset`) to the EQ; the
    /// interrupt follows when armed.
    pub fn post_event<const N: usize>(
        &mut self,
        encode: impl FnOnce(bool) -> [u8; N],
        owner_offset: usize,
    ) -> EventPost {
        let Some(mut eq) = self.eq else {
            return EventPost::Skipped;
        };
        if self.fatal {
            return EventPost::Skipped;
        }
        let ci = self.r(self.regs.eq_ci) & ring::COUNTER24_MASK;
        match eq.post(ci, encode, owner_offset) {
            RingPost::Full => {
                let st = self.r(self.regs.eq_status);
                self.w(self.regs.eq_status, st | 2);
                return EventPost::Full;
            }
            RingPost::DmaError => return EventPost::DmaError,
            RingPost::Written => {}
        }
        self.eq = Some(eq);
        self.w(self.regs.eq_pi, eq.count);
        if self.eq_armed {
            self.raise_eq();
        }
        EventPost::Written
    }

    /// The admin queue's producer index when commands may be fetched (enabled, not halted).
    pub fn admin_pi(&self) -> Option<u32> {
        self.admq?;
        if self.r(self.regs.admq_status) & 2 != 0 {
            return None;
        }
        Some(self.r(self.regs.admq_pi) & 0xFFFF)
    }

    /// The next command up to `pi`, or `None` when there is none or the queue halted (an
    /// overflowing producer or an unreadable entry: ADMQ_STATUS error, the ADMIN cause).
    pub fn admin_next<const N: usize>(&mut self, pi: u32) -> Option<[u8; N]> {
        let err = match self.admq?.fetch16::<N>(pi) {
            RingFetch::Empty => return None,
            RingFetch::Entry(raw) => return Some(raw),
            RingFetch::Overflow => 2,
            RingFetch::Unreadable => 1,
        };
        self.w(self.regs.admq_status, 1 | 2 | (err << 8));
        self.set_cause(1 << 1);
        None
    }

    /// The command [`Control::admin_next`] returned was executed: ADMQ_CI advances.
    pub fn admin_consumed(&mut self) {
        if let Some(a) = self.admq.as_mut() {
            a.consumed16();
            let ci = a.count;
            self.w(self.regs.admq_ci, ci);
        }
    }

    /// Whether the connection event ring exists and has room.
    pub fn cm_room(&self) -> bool {
        let ci = self.r(self.regs.cmev_ci) & 0xFFFF;
        self.cmev.is_some_and(|c| c.has_room16(ci))
    }

    /// Writes a connection record and advances CMEV_PI; its index, or `None` when it could
    /// not be written.
    pub fn cm_push<const N: usize>(&mut self, record: &[u8; N]) -> Option<u16> {
        let c = self.cmev.as_mut()?;
        let idx = c.push16(record)?;
        let pi = c.count;
        self.w(self.regs.cmev_pi, pi);
        Some(idx)
    }
}
