//! Message bodies at rest: decoded UTF-8 text compressed with zstd (level 3) for the store's
//! `bodies` table, and read back with a hard bound on the output. Decompression must never
//! allocate past the caller's limit, whatever the frame claims (a zstd bomb, a corrupt row).

use std::io::Read;

use crate::{Error, Result};

/// zstd's level for bodies: fast, and text shrinks well at it.
const LEVEL: i32 = 3;

/// Largest match window a body frame may ask for (8 MiB). Level 3 asks for far less; a
/// frame asking for more is refused instead of allocating up to zstd's default 128 MiB.
const WINDOW_LOG_MAX: u32 = 23;

/// How much is read from the decoder at a time.
const STEP: usize = 64 * 1024;

/// Compresses a body's text (one zstd frame, with its size recorded).
pub fn compress(text: &str) -> Result<Vec<u8>> {
    zstd::bulk::compress(text.as_bytes(), LEVEL).map_err(|_| Error::Decode {
        reason: "could not compress a body",
    })
}

/// Decompresses a body written by [`compress`]. Fails with `TooLarge` as soon as the text
/// would exceed `limit` bytes (nothing past `limit` is allocated) and with `Decode` when
/// the bytes are not a zstd frame or not UTF-8.
pub fn decompress(bytes: &[u8], limit: usize) -> Result<String> {
    let corrupt = |_| Error::Decode {
        reason: "a stored body is not valid zstd",
    };
    let mut decoder = zstd::stream::read::Decoder::new(bytes).map_err(corrupt)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(corrupt)?;

    // The frame's own size claim only sets the first allocation, and never above `limit`.
    let claimed = zstd::zstd_safe::get_frame_content_size(bytes)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(STEP);
    let mut out: Vec<u8> = Vec::with_capacity(claimed.min(limit));
    let mut buf = vec![0u8; STEP.min(limit.saturating_add(1))];
    loop {
        let n = decoder.read(&mut buf).map_err(corrupt)?;
        if n == 0 {
            break;
        }
        let new_len = out.len().saturating_add(n);
        if new_len > limit {
            return Err(Error::TooLarge {
                limit: u64::try_from(limit).unwrap_or(u64::MAX),
            });
        }
        if new_len > out.capacity() {
            // Grow geometrically, but never past `limit`.
            let target = out.capacity().saturating_mul(2).max(new_len).min(limit);
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    String::from_utf8(out).map_err(|_| Error::Decode {
        reason: "a stored body is not UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shrinks_text() {
        let text = "Grüße aus Köln! ".repeat(1_000);
        let packed = compress(&text).unwrap();
        assert!(packed.len() < text.len() / 10, "{}", packed.len());
        assert_eq!(decompress(&packed, text.len()).unwrap(), text);
        assert_eq!(decompress(&compress("").unwrap(), 0).unwrap(), "");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to a few KiB.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap();
        assert!(bomb.len() < 64 * 1024);
        let err = decompress(&bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit } if limit == 1 << 20));
        // A limit of one byte short of the text fails as well.
        let packed = compress("hello").unwrap();
        assert!(matches!(
            decompress(&packed, 4),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn a_lying_size_header_does_not_raise_the_allocation() {
        // A frame without a content size, streamed: the output is still bounded.
        let mut streamed = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
        std::io::Write::write_all(&mut encoder, &vec![b'a'; 3 << 20]).unwrap();
        encoder.finish().unwrap();
        assert!(matches!(
            decompress(&streamed, 1 << 20),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(decompress(&streamed, 3 << 20).unwrap().len(), 3 << 20);
    }

    #[test]
    fn garbage_and_non_utf8_are_decode_errors() {
        assert!(matches!(
            decompress(b"not zstd at all", 100),
            Err(Error::Decode { .. })
        ));
        let latin1 = zstd::bulk::compress(b"caf\xe9", 3).unwrap();
        assert!(matches!(
            decompress(&latin1, 100),
            Err(Error::Decode { .. })
        ));
        let mut truncated = compress(&"abc".repeat(1_000)).unwrap();
        truncated.truncate(truncated.len() / 2);
        assert!(decompress(&truncated, 10_000).is_err());
    }
}
