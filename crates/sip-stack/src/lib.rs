//! Sans-IO SIP transactions, dialogs and digest authentication.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
