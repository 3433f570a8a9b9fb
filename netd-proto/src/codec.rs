//! The control protocol's framing, and the only place that knows bincode:
//! each frame is a little-endian u32 length followed by that many bytes of
//! bincode (standard config) encoding one message.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest frame accepted: big enough for a full `ss` dump of many sockets,
/// small enough that a hostile length cannot make netd allocate much.
pub const MAX_FRAME: usize = 16 << 20;

/// Largest request frame netd reads: every request is small (the largest,
/// a sysctl write or a Hello, is a few hundred bytes), so a client cannot
/// make netd hold more than this of its input.
pub const MAX_REQUEST: usize = 64 << 10;

#[derive(Debug, PartialEq, Eq)]
pub enum CodecError {
    /// The length prefix exceeds the limit.
    TooLarge { len: usize, limit: usize },
    /// The payload is not a valid message.
    Malformed(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::TooLarge { len, limit } => {
                write!(f, "frame of {len} bytes exceeds the {limit}-byte limit")
            }
            CodecError::Malformed(e) => write!(f, "malformed frame: {e}"),
        }
    }
}

impl std::error::Error for CodecError {}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Append one framed message to `out`.
pub fn encode<T: Serialize>(msg: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let body = bincode::serde::encode_to_vec(msg, config())
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if body.len() > MAX_FRAME {
        return Err(CodecError::TooLarge {
            len: body.len(),
            limit: MAX_FRAME,
        });
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(())
}

/// Take one message off the front of `buf` if a whole frame is there.
/// `Ok(None)` means "need more bytes"; errors mean the stream is unusable.
pub fn decode<T: DeserializeOwned>(buf: &mut Vec<u8>) -> Result<Option<T>, CodecError> {
    decode_limited(buf, MAX_FRAME)
}

/// As [`decode`], refusing a frame longer than `limit` as soon as its
/// length is known (netd reads requests with [`MAX_REQUEST`]).
pub fn decode_limited<T: DeserializeOwned>(
    buf: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<T>, CodecError> {
    let Some(len) = buf
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    else {
        return Ok(None);
    };
    if len > limit.min(MAX_FRAME) {
        return Err(CodecError::TooLarge {
            len,
            limit: limit.min(MAX_FRAME),
        });
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let result = bincode::serde::decode_from_slice::<T, _>(&buf[4..4 + len], config());
    buf.drain(..4 + len);
    match result {
        Ok((msg, used)) if used == len => Ok(Some(msg)),
        Ok(_) => Err(CodecError::Malformed("trailing bytes in frame".into())),
        Err(e) => Err(CodecError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let mut buf = Vec::new();
        encode(
            &Request::SysctlGet {
                name: "net.ipv4.tcp_sack".into(),
            },
            &mut buf,
        )
        .unwrap();
        encode(&Response::Value("1".into()), &mut buf).unwrap();
        let mut partial = buf[..3].to_vec();
        assert_eq!(decode::<Request>(&mut partial), Ok(None));
        let req: Request = decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            req,
            Request::SysctlGet {
                name: "net.ipv4.tcp_sack".into()
            }
        );
        let resp: Response = decode(&mut buf).unwrap().unwrap();
        assert_eq!(resp, Response::Value("1".into()));
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_and_garbage_frames_are_errors() {
        let mut huge = (u32::MAX).to_le_bytes().to_vec();
        assert!(matches!(
            decode::<Request>(&mut huge),
            Err(CodecError::TooLarge { .. })
        ));
        let mut junk = vec![3, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode::<Request>(&mut junk),
            Err(CodecError::Malformed(_))
        ));
    }
}
