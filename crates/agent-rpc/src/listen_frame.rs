//! The binary frame that carries the audio of a `listen`.
//!
//! Layout: byte 0 is `0x01`; bytes 1–4 the length N of the request id,
//! unsigned 32-bit big-endian; then the id (UTF-8, N bytes); then the audio
//! to the end of the frame (raw s16le mono, or a whole WAV file).

/// First byte of a listen frame.
pub const LISTEN_FRAME_TAG: u8 = 0x01;

const HEADER_LEN: usize = 5;

/// A decoded listen frame, borrowing from the received bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenFrame<'a> {
    /// Id of the `listen` request this audio answers.
    pub id: &'a str,
    /// The captured audio.
    pub audio: &'a [u8],
}

/// Why bytes are not a listen frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenFrameError {
    /// Fewer than the 5 header bytes.
    #[error("listen frame shorter than its 5-byte header")]
    TooShort,
    /// Byte 0 is not [`LISTEN_FRAME_TAG`].
    #[error("listen frame tag is {0:#04x}, expected 0x01")]
    BadTag(u8),
    /// The id length runs past the end of the frame.
    #[error("listen frame id length {0} runs past the frame")]
    IdPastEnd(u32),
    /// The id is not UTF-8.
    #[error("listen frame id is not UTF-8")]
    IdNotUtf8,
    /// The id is longer than a u32 can count (encoding only).
    #[error("request id too long for a listen frame")]
    IdTooLong,
}

impl<'a> ListenFrame<'a> {
    /// A frame for request `id` carrying `audio`.
    pub fn new(id: &'a str, audio: &'a [u8]) -> Self {
        ListenFrame { id, audio }
    }

    /// The bytes to send as one binary WebSocket message.
    pub fn encode(&self) -> Result<Vec<u8>, ListenFrameError> {
        let id_len = u32::try_from(self.id.len()).map_err(|_| ListenFrameError::IdTooLong)?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + self.id.len() + self.audio.len());
        bytes.push(LISTEN_FRAME_TAG);
        bytes.extend_from_slice(&id_len.to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.extend_from_slice(self.audio);
        Ok(bytes)
    }

    /// Reads a binary WebSocket message.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ListenFrameError> {
        let Some((&tag, rest)) = bytes.split_first() else {
            return Err(ListenFrameError::TooShort);
        };
        if rest.len() < HEADER_LEN - 1 {
            return Err(ListenFrameError::TooShort);
        }
        if tag != LISTEN_FRAME_TAG {
            return Err(ListenFrameError::BadTag(tag));
        }
        let (len, rest) = rest.split_at(4);
        let id_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let Some((id, audio)) = usize::try_from(id_len)
            .ok()
            .and_then(|n| rest.split_at_checked(n))
        else {
            return Err(ListenFrameError::IdPastEnd(id_len));
        };
        let id = std::str::from_utf8(id).map_err(|_| ListenFrameError::IdNotUtf8)?;
        Ok(ListenFrame { id, audio })
    }
}
