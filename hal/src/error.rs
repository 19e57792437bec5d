//! One error type for the HAL layer; the provider converts it to NTSTATUS in one place.

/// Why a HAL call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalError {
    /// Out of device or host resources (queue entries, keys, DMA memory).
    NoResources,
    /// A send or receive queue has no free slot for this work request.
    QueueFull,
    /// A parameter exceeds what the device supports.
    InvalidParameter,
    /// A page count or size the device cannot handle for this object.
    ImplementationLimit,
    /// The device does not implement this operation.
    NotSupported,
    /// The object is not in a state that allows the operation.
    InvalidState,
    /// An access right or protection domain check failed.
    AccessViolation,
    /// Local address is already in use.
    AddressInUse,
    /// No route to the remote network.
    NetworkUnreachable,
    /// The remote host does not answer.
    HostUnreachable,
    /// The peer refused or rejected the connection.
    ConnectionRefused,
    /// The peer abandoned connection establishment.
    ConnectionAborted,
    /// A protocol timer ran out.
    Timeout,
    /// The device hit an unrecoverable error.
    Fatal,
    /// The device has been surprise-removed.
    DeviceRemoved,
}

/// Result of a HAL call.
pub type HalResult<T> = Result<T, HalError>;
