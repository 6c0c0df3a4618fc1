//! Rayo call control on the wire (XEP-0327, and the wiki dialect on input).
//!
//! Pure functions between [`xmpp::Element`] trees and typed values, no I/O
//! and no clock: the adapter in `switchboard` owns streams, calls and time.
//!
//! * **Commands**: the first child of an `<iq type='set'>`, parsed by what
//!   the IQ was addressed to ([`Target`]) into a [`Command`], or refused with
//!   a [`CommandError`] the adapter renders as the IQ's `<error>`.
//! * **Events**: a [`CallEvent`] (or a component's [`complete`]) rendered
//!   into the children of a `<presence>`, in the configured [`Dialect`].
//! * **Mixers**: a [`MixerEvent`] rendered into the children of a presence
//!   from the mixer's JID, its first one carrying the mixer's caps.
//! * **References**: [`ref_element`] for IQ results, call URIs and JIDs in
//!   [`uri`].
//! * **Media components**: output, Tropo say, input (with CPA), prompt,
//!   Tropo ask and record start as [`CallCommand::Start`]; their commands
//!   are [`ComponentCommand`]s; [`ssml`] flattens documents into segments;
//!   [`OutputCompletion`], [`InputCompletion`], [`RecordCompletion`] and
//!   [`ComponentEvent`] render what they report.
//!
//! ```
//! use rayo::{parse_command, CallCommand, CallEvent, Command, Dialect, EventContext, Target};
//! use xmpp::Element;
//!
//! // An IQ set to a call JID carried this payload:
//! let payload = Element::new("reject", rayo::ns::RAYO).child(Element::new("busy", rayo::ns::RAYO));
//! match parse_command(Target::Call, &payload, "rayo.example") {
//!     Ok(Command::Call(CallCommand::Reject { reason, .. })) => assert_eq!(reason.sip_status(), 486),
//!     other => panic!("{other:?}"),
//! }
//!
//! // Later the call ends; the adapter wraps this in a presence.
//! let cx = EventContext { dialect: Dialect::Xep, domain: "rayo.example", legacy_ids: true };
//! let end = CallEvent::End {
//!     reason: rayo::EndReason::HangupCommand,
//!     platform_code: Some(486),
//!     text: None,
//!     headers: vec![],
//! };
//! assert!(end.is_unavailable(cx.dialect));
//! assert_eq!(
//!     end.to_element(&cx).to_xml("jabber:client"),
//!     "<end xmlns='urn:xmpp:rayo:1'><hangup-command platform-code='486'/></end>"
//! );
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attrs;
mod body;
pub mod caps;
mod command;
mod completion;
mod component;
pub mod cpa;
mod dial;
mod dialect;
pub mod error;
mod event;
mod fragment;
#[doc(hidden)]
pub mod fuzz;
mod header;
mod input;
mod join;
mod mixer;
pub mod nlsml;
pub mod ns;
mod output;
mod prompt;
mod record;
pub mod srgs;
pub mod ssml;
pub mod stamp;
pub mod uri;
mod write;

pub use attrs::Permille;
pub use command::{
    parse_call_command, parse_command, parse_component_command, parse_domain_command, CallCommand,
    Command, ComponentCommand, RejectReason, Target, REDIRECT_ENDPOINT,
};
pub use completion::{
    ComponentEvent, InputCompletion, InputMatch, MatchMode, OutputCompletion, RecordCompletion,
    Recording,
};
pub use component::{MediaComponent, OutputCommand, PauseCommand, SeekDirection};
pub use cpa::{CpaGrammar, CpaSignal, SignalEvent};
pub use dial::{parse_dial_target, Dial, DialTarget};
pub use dialect::{Dialect, EventContext};
pub use error::{xep_error_type, CommandError, ErrorType, StanzaCondition};
pub use event::{complete, ref_element, CallEvent, CoreCompleteReason, EndReason};
pub use header::{header_elements, parse_headers, Headers};
pub use input::{GrammarSource, Input, InputMode, MAX_GRAMMARS};
pub use join::{Join, JoinDirection, JoinMedia, JoinTarget, Unjoin};
pub use mixer::MixerEvent;
pub use output::{Document, DocumentType, InterruptOn, Output, OutputForm};
pub use prompt::{Prompt, PromptForm};
pub use record::{Record, RecordDirection, RecordFormat};
