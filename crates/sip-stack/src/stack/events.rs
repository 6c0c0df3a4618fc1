//! What the stack hands back to its driver: transmissions and events.

use std::net::SocketAddr;

use sip::{Request, Response};

use crate::dialog::DialogId;
use crate::transport::{ConnectionId, Destination, Transport};

/// Handle of a client transaction (a request we sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTransactionId(pub(crate) u64);

/// Handle of a server transaction (a request we received); answer it with
/// [`SipStack::respond`](crate::SipStack::respond).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTransactionId(pub(crate) u64);

/// Either kind of transaction handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionId {
    /// A request we sent.
    Client(ClientTransactionId),
    /// A request we received.
    Server(ServerTransactionId),
}

/// Bytes to send. For reliable transports, `connection` names the connection
/// to use when known; otherwise the driver reuses or opens one to `destination`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Remote address.
    pub destination: SocketAddr,
    /// Transport to send over.
    pub transport: Transport,
    /// Connection to send on, if bound to one.
    pub connection: Option<ConnectionId>,
    /// One complete SIP message.
    pub bytes: Vec<u8>,
}

impl Transmit {
    pub(crate) fn new(destination: Destination, bytes: Vec<u8>) -> Transmit {
        Transmit {
            destination: destination.address,
            transport: destination.transport,
            connection: destination.connection,
            bytes,
        }
    }
}

/// Why the stack ended a dialog on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogEndReason {
    /// Our 2xx to the INVITE was never acknowledged within 64·T1; the stack sent BYE.
    AckTimeout,
}

/// Something the user of the stack must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StackEvent {
    /// A new request (not a retransmission); answer it with `respond`.
    /// For INVITE, 100 Trying has already been sent.
    Request {
        /// The server transaction to answer on.
        transaction: ServerTransactionId,
        /// The request, with `received`/`rport` stamped into its top Via.
        request: Request,
        /// Where it came from.
        source: SocketAddr,
        /// Transport it arrived on.
        transport: Transport,
        /// Connection it arrived on (reliable transports).
        connection: Option<ConnectionId>,
        /// The dialog it belongs to, for in-dialog requests. After a BYE the
        /// dialog is already gone.
        dialog: Option<DialogId>,
    },
    /// The ACK for our 2xx arrived: the dialog is confirmed (carries the answer
    /// SDP when the INVITE had no offer).
    Ack {
        /// The dialog.
        dialog: DialogId,
        /// The ACK request.
        request: Request,
    },
    /// The caller cancelled a pending INVITE. The stack has already answered
    /// the CANCEL with 200 and the INVITE with 487.
    Cancelled {
        /// The INVITE's server transaction (now answered).
        transaction: ServerTransactionId,
        /// The CANCEL request.
        cancel: Request,
    },
    /// A response to a request we sent (retransmissions are not repeated).
    Response {
        /// The client transaction.
        transaction: ClientTransactionId,
        /// The response.
        response: Response,
        /// The dialog a 2xx to INVITE created or belongs to.
        dialog: Option<DialogId>,
    },
    /// A transaction gave up: no final response (client, Timers B/F), no ACK
    /// for our non-2xx final (server, Timer H), or the user never answered
    /// (server; the stack answered 408 to an INVITE).
    Timeout {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The driver reported that the transport failed for this transaction.
    TransportError {
        /// The transaction.
        transaction: TransactionId,
    },
    /// The stack ended a dialog on its own.
    DialogTerminated {
        /// The dialog.
        dialog: DialogId,
        /// Why.
        reason: DialogEndReason,
    },
}

/// One output of [`SipStack::poll_output`](crate::SipStack::poll_output).
// Events carry whole messages; boxing them would add an allocation per event
// for no gain, since outputs are moved out of the queue once.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send bytes.
    Transmit(Transmit),
    /// Tell the user.
    Event(StackEvent),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    /// The transaction handle is unknown (never existed or already terminated).
    #[error("unknown transaction")]
    UnknownTransaction,
    /// The dialog is unknown (never existed or already ended).
    #[error("unknown dialog")]
    UnknownDialog,
    /// The transaction already has a final response.
    #[error("transaction already answered")]
    AlreadyAnswered,
    /// The transaction table is full; try later.
    #[error("too many transactions")]
    Overloaded,
    /// The request or response lacks a header the stack needs.
    #[error("missing or malformed {0} header")]
    BadHeader(&'static str),
    /// The status code is not 100–699.
    #[error("invalid status code {0}")]
    InvalidStatus(u16),
    /// ACK and CANCEL are generated by the stack ([`send_ack`](crate::SipStack::send_ack), [`cancel`](crate::SipStack::cancel)).
    #[error("{0} is sent with its own command")]
    WrongCommand(&'static str),
    /// CANCEL applies only to an INVITE without final response.
    #[error("transaction cannot be cancelled")]
    NotCancellable,
    /// No ACK is owed in this dialog (it was sent automatically or already).
    #[error("no ACK owed in this dialog")]
    NoAckOwed,
}
