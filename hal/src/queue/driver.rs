//! The [`NicHal`](crate::NicHal) impl of a register-level driver built on this queue layer.
//!
//! Such a driver keeps its control path in inherent methods, one file per object as irdma
//! does (`pd_create`, `cq_create`, `mr_register`, `listen`, ...), and its fast path in free
//! functions of its `sq`, `rq`, `srq` and `cq` modules; the trait impl only routes each
//! `NicHal` call to them. That routing is the same for every silicon, so it is written once,
//! here, and each driver names its own type and its privileged-key attribute.

/// Implements [`NicHal`](crate::NicHal) for the driver type `$nic<P>` by routing each call to
/// the driver's inherent control-path methods and its fast-path modules.
///
/// Invoked in the driver's root module, which must have in scope: the handle types `Pd`, `Cq`,
/// `CqPoller`, `Qp`, `Sq`, `Rq`, `Srq`, `SrqPoster`, `Mr`, `Mw`, `Listen`; the modules `cq`
/// (`arm`), `srq` (`queued`, `post`), `sq` (`post`, `ring`) and `rq` (`post`); and fields
/// `platform`, `caps`, `ctl` (with `addrs`), `handler`, `flush` and `attrs.$privileged_key`
/// on the driver. The fast-path functions it calls take no lock and allocate nothing.
#[macro_export]
macro_rules! impl_nic_hal {
    ($nic:ident, privileged_key: $privileged_key:ident) => {
        impl<P: $crate::Platform> $crate::NicHal for $nic<P> {
            type Platform = P;
            type Pd = Pd;
            type Cq = Cq;
            type CqPoller = CqPoller;
            type Qp = Qp;
            type Sq = Sq;
            type Rq = Rq;
            type Srq = Srq;
            type SrqPoster = SrqPoster;
            type Mr = Mr;
            type Mw = Mw;
            type Listen = Listen;

            fn platform(&self) -> &P {
                &self.platform
            }

            fn caps(&self) -> &$crate::DeviceCaps {
                &self.caps
            }

            fn is_local_address(&self, addr: &::core::net::IpAddr) -> bool {
                self.ctl.lock().addrs.contains(addr)
            }

            fn attach_interrupt(&self, handler: $crate::karc::KFn) {
                let old = self.handler.lock().replace(handler);
                // Dropped outside the lock: it may own the last reference to something that locks.
                drop(old);
                // Events that arrived before there was a handler are delivered now, as if the
                // interrupt had been pending (the mock does the same).
                self.interrupt();
            }

            fn next_event(&self) -> Option<$crate::HalEvent> {
                self.take_event()
            }

            fn create_pd(&self) -> $crate::HalResult<Pd> {
                self.pd_create()
            }

            fn destroy_pd(&self, pd: Pd) {
                self.pd_destroy(pd)
            }

            fn create_cq(
                &self,
                depth: u32,
                ctx: u64,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<($crate::CqParts<Self>, $crate::Cmd<()>)> {
                self.cq_create(depth, ctx, token)
            }

            fn resize_cq(
                &self,
                cq: &Cq,
                poller: &mut CqPoller,
                depth: u32,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<$crate::Cmd<()>> {
                self.cq_resize(cq, poller, depth, token)
            }

            fn destroy_cq(
                &self,
                cq: $crate::CqParts<Self>,
                token: $crate::CmdToken,
            ) -> $crate::Cmd<()> {
                self.cq_destroy(cq, token)
            }

            fn poll_cq(&self, poller: &mut CqPoller, out: &mut [$crate::Completion]) -> usize {
                self.poll(poller, out)
            }

            fn arm_cq(&self, poller: &mut CqPoller, solicited_only: bool) {
                cq::arm(self.doorbell(poller.db_offset), poller, solicited_only)
            }

            fn set_cq_moderation(
                &self,
                cq: &Cq,
                interval_us: u32,
                count: u32,
            ) -> $crate::HalResult<()> {
                self.cq_moderation(cq, interval_us, count)
            }

            fn create_srq(
                &self,
                pd: &Pd,
                depth: u32,
                max_sge: u32,
                ctx: u64,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<(Srq, SrqPoster, $crate::Cmd<()>)> {
                self.srq_create(pd, depth, max_sge, ctx, token)
            }

            fn modify_srq(
                &self,
                srq: &Srq,
                depth: u32,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<$crate::Cmd<()>> {
                self.srq_modify(srq, depth, token)
            }

            fn arm_srq_limit(&self, srq: &Srq, limit: u32) {
                self.srq_arm_limit(srq, limit)
            }

            fn srq_queued(&self, srq: &Srq) -> u32 {
                srq::queued(srq)
            }

            fn destroy_srq(
                &self,
                srq: Srq,
                poster: SrqPoster,
                token: $crate::CmdToken,
            ) -> $crate::Cmd<()> {
                self.srq_destroy(srq, poster, token)
            }

            fn post_srq_recv(
                &self,
                srq: &mut SrqPoster,
                wr: &$crate::RecvWr<'_>,
            ) -> $crate::HalResult<()> {
                srq::post(self.doorbell(srq.db_offset), srq, wr)
            }

            fn create_qp(
                &self,
                params: &$crate::QpParams<'_, Self>,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<($crate::QpParts<Self>, $crate::Cmd<()>)> {
                self.qp_create(params, token)
            }

            fn flush_qp(&self, qp: &Qp) {
                self.qp_flush(qp)
            }

            fn destroy_qp(
                &self,
                qp: $crate::QpParts<Self>,
                token: $crate::CmdToken,
            ) -> $crate::Cmd<()> {
                self.qp_destroy(qp, token)
            }

            fn post_send(&self, sq: &mut Sq, wr: &$crate::SendWr<'_>) -> $crate::HalResult<()> {
                sq::post(sq, wr, self.flush.tracks())
            }

            fn ring_sq(&self, sq: &mut Sq) {
                sq::ring(self.doorbell(sq.db_offset), sq)
            }

            fn post_recv(&self, rq: &mut Rq, wr: &$crate::RecvWr<'_>) -> $crate::HalResult<()> {
                rq::post(self.doorbell(rq.db_offset), rq, wr, self.flush.tracks())
            }

            fn alloc_mr(&self, pd: &Pd, kind: $crate::MrKind) -> $crate::HalResult<Mr> {
                self.mr_alloc(pd, kind)
            }

            fn register_mr(
                &self,
                mr: &Mr,
                reg: &$crate::Registration<'_>,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<$crate::Cmd<(u32, u32)>> {
                self.mr_register(mr, reg, token)
            }

            fn deregister_mr(
                &self,
                mr: &Mr,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<$crate::Cmd<()>> {
                self.mr_deregister(mr, token)
            }

            fn init_fast_register(
                &self,
                mr: &Mr,
                max_pages: u32,
                remote_access: bool,
                token: $crate::CmdToken,
            ) -> $crate::HalResult<$crate::Cmd<(u32, u32)>> {
                self.mr_init_fast_register(mr, max_pages, remote_access, token)
            }

            fn free_mr(&self, mr: Mr) {
                self.mr_free(mr)
            }

            fn alloc_mw(&self, pd: &Pd) -> $crate::HalResult<(Mw, u32)> {
                self.mw_alloc(pd)
            }

            fn free_mw(&self, mw: Mw) {
                self.mw_free(mw)
            }

            fn privileged_lkey(&self) -> u32 {
                self.attrs.$privileged_key
            }

            fn cm_listen(
                &self,
                addr: ::core::net::SocketAddr,
                ctx: u64,
            ) -> $crate::HalResult<Listen> {
                self.listen(addr, ctx)
            }

            fn cm_stop_listen(&self, listen: Listen) {
                self.stop_listen(listen)
            }

            fn cm_connect(
                &self,
                qp: &Qp,
                local: ::core::net::SocketAddr,
                remote: ::core::net::SocketAddr,
                ird: u32,
                ord: u32,
                private_data: &[u8],
                ctx: u64,
            ) -> $crate::HalResult<$crate::ConnId> {
                self.connect(qp, local, remote, ird, ord, private_data, ctx)
            }

            fn cm_attach(&self, conn: $crate::ConnId, ctx: u64) {
                self.attach(conn, ctx)
            }

            fn cm_accept(
                &self,
                conn: $crate::ConnId,
                qp: &Qp,
                ird: u32,
                ord: u32,
                private_data: &[u8],
            ) -> $crate::HalResult<()> {
                self.accept(conn, qp, ird, ord, private_data)
            }

            fn cm_reject(
                &self,
                conn: $crate::ConnId,
                private_data: &[u8],
            ) -> $crate::HalResult<()> {
                self.reject(conn, private_data)
            }

            fn cm_complete(&self, conn: $crate::ConnId) -> $crate::HalResult<()> {
                self.complete(conn)
            }

            fn cm_disconnect(&self, conn: $crate::ConnId) -> $crate::HalResult<()> {
                self.disconnect(conn)
            }

            fn cm_release(&self, conn: $crate::ConnId) {
                self.release(conn)
            }
        }
    };
}
