//! The one place HAL outcomes become NTSTATUS values.

use hal::{HalError, WcOpcode, WcStatus};

use crate::abi::*;

/// NTSTATUS for a failed HAL call made on behalf of an NDK request.
pub fn from_hal(e: HalError) -> NTSTATUS {
    match e {
        HalError::NoResources | HalError::QueueFull => STATUS_INSUFFICIENT_RESOURCES,
        HalError::InvalidParameter => STATUS_INVALID_PARAMETER,
        HalError::ImplementationLimit => STATUS_IMPLEMENTATION_LIMIT,
        HalError::NotSupported => STATUS_NOT_SUPPORTED,
        HalError::InvalidState => STATUS_INVALID_DEVICE_STATE,
        HalError::AccessViolation => STATUS_ACCESS_VIOLATION,
        HalError::AddressInUse => STATUS_SHARING_VIOLATION,
        HalError::NetworkUnreachable => STATUS_NETWORK_UNREACHABLE,
        HalError::HostUnreachable => STATUS_HOST_UNREACHABLE,
        HalError::ConnectionRefused => STATUS_CONNECTION_REFUSED,
        HalError::ConnectionAborted => STATUS_CONNECTION_ABORTED,
        HalError::Timeout => STATUS_IO_TIMEOUT,
        HalError::Fatal => STATUS_INTERNAL_ERROR,
        HalError::DeviceRemoved => STATUS_DEVICE_REMOVED,
    }
}

/// `NDK_RESULT.Status` for a completion (ndkpi.md §6, work-request completion table).
///
/// UNCONFIRMED (ndkpi.md §12 item 6): NDK does not list completion statuses; this follows
/// the NDSPI v2 table. A peer's access check failure is `STATUS_REMOTE_RESOURCES`, as the
/// NdkRead page names it for a read beyond the remote region; local key, bound or right
/// failures are `STATUS_ACCESS_VIOLATION`.
pub fn from_wc(s: WcStatus) -> NTSTATUS {
    match s {
        WcStatus::Success => STATUS_SUCCESS,
        WcStatus::Flushed => STATUS_CANCELLED,
        WcStatus::LocalLength => STATUS_DATA_OVERRUN,
        WcStatus::LocalProtection => STATUS_ACCESS_VIOLATION,
        WcStatus::ReceiveOverflow => STATUS_BUFFER_OVERFLOW,
        WcStatus::RemoteAccess | WcStatus::RemoteInvalidRequest | WcStatus::RemoteOperation => {
            STATUS_REMOTE_RESOURCES
        }
        WcStatus::RetryExceeded => STATUS_IO_TIMEOUT,
        WcStatus::BadRequest => STATUS_INVALID_DEVICE_REQUEST,
        WcStatus::Fatal => STATUS_INTERNAL_ERROR,
    }
}

/// `NDK_RESULT_EX.Type` for a completion (ndkpi.md §5.5).
pub fn op_type(op: WcOpcode) -> NDK_OPERATION_TYPE {
    match op {
        WcOpcode::Send => NdkOperationTypeSend,
        WcOpcode::Write => NdkOperationTypeWrite,
        WcOpcode::Read => NdkOperationTypeRead,
        WcOpcode::FastRegister => NdkOperationTypeFastRegister,
        WcOpcode::Bind => NdkOperationTypeBind,
        WcOpcode::Invalidate => NdkOperationTypeInvalidate,
        WcOpcode::Receive => NdkOperationTypeReceive,
        WcOpcode::ReceiveInvalidate => NdkOperationTypeReceiveAndInvalidate,
    }
}
