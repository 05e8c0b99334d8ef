//! Attachments and inline images: sizes from the [`SizeMix`], deterministic pseudo-random
//! bytes from a ChaCha stream per part (streamed through base64 and SHA-256, never held
//! decoded), and file names in every form clients meet: plain, RFC 2231, RFC 2047, and
//! hostile ones (path traversal, control characters).

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::{
    SizeMix,
    compose::stream,
    content::{pick, weighted},
    encode::{Charset, Cte, WordEncoding, base64_stream, encoded_words, quoted, rfc2231_param},
    mime::{Decoded, Entity, Meta},
};

/// Byte-stream numbers of a message's binary parts: attachments count from 0, the forwarded
/// message's attachment and the inline images have their own ranges.
pub(crate) const FORWARDED_PART: usize = 20;
const INLINE_IMAGE_PARTS: usize = 50;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Attachment sizes for one message: 1–3 of them, the first drawn from the long tail.
/// Empty when the message has none or the mix allows no binary parts.
pub(crate) fn sizes(rng: &mut ChaCha8Rng, mix: &SizeMix) -> Vec<usize> {
    if mix.max_attachment == 0 || !rng.random_bool(mix.attachment_prob.clamp(0.0, 1.0)) {
        return Vec::new();
    }
    let count = weighted(rng, &[(1, 70), (2, 20), (3, 10)]);
    (0..count)
        .map(|k| {
            let roll: f64 = rng.random();
            let size = if k > 0 || roll >= mix.huge_prob + mix.medium_prob {
                rng.random_range(20 * KIB..=200 * KIB)
            } else if roll < mix.huge_prob {
                rng.random_range(20 * MIB..=25 * MIB)
            } else {
                rng.random_range(MIB..=10 * MIB)
            };
            size.min(mix.max_attachment)
        })
        .collect()
}

/// A file type: MIME type, extension, and leading magic bytes so the data looks the part.
struct Kind {
    mime: &'static str,
    ext: &'static str,
    magic: &'static [u8],
}

const KINDS: &[Kind] = &[
    Kind {
        mime: "application/pdf",
        ext: "pdf",
        magic: b"%PDF-1.7\n",
    },
    Kind {
        mime: "image/jpeg",
        ext: "jpg",
        magic: b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00",
    },
    Kind {
        mime: "image/png",
        ext: "png",
        magic: b"\x89PNG\r\n\x1a\n",
    },
    Kind {
        mime: "application/zip",
        ext: "zip",
        magic: b"PK\x03\x04",
    },
    Kind {
        mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ext: "docx",
        magic: b"PK\x03\x04",
    },
    Kind {
        mime: "application/octet-stream",
        ext: "bin",
        magic: b"",
    },
];

const ASCII_NAMES: &[&str] = &[
    "report-Q3",
    "invoice_4821",
    "Photo 2024-05-01",
    "budget final (2)",
    "scan0001",
];
const UNICODE_NAMES: &[&str] = &[
    "Résumé – Müller",
    "Отчёт за квартал",
    "資料",
    "€ budget 2024",
    "naïve café menu",
    "Übersicht der Größen und Maße für das Lager im Erdgeschoß, Stand Oktober",
];
const CONTROL_NAMES: &[&str] = &["invoice\u{7}.pdf", "\u{1b}[2Jclear.txt", "tab\there.txt"];

/// How the file name is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameStyle {
    None,
    Ascii,
    Rfc2231,
    Rfc2047,
    Traversal,
    Control,
}

/// Attachment `k` of message `index`: `size` bytes, base64, `Content-Disposition: attachment`.
pub(crate) fn attachment(
    rng: &mut ChaCha8Rng,
    seed: u64,
    index: usize,
    k: usize,
    size: usize,
) -> Entity {
    let kind = pick(rng, KINDS);
    let style = weighted(
        rng,
        &[
            (NameStyle::None, 5),
            (NameStyle::Ascii, 45),
            (NameStyle::Rfc2231, 20),
            (NameStyle::Rfc2047, 15),
            (NameStyle::Traversal, 7),
            (NameStyle::Control, 8),
        ],
    );
    let mut meta = Meta::new(kind.mime, Cte::Base64);
    meta.disposition = Some("attachment");
    name_attachment(rng, &mut meta, style, kind.ext);
    binary(meta, seed, index, k, size, kind.magic)
}

/// An inline image for multipart/related, referenced from the HTML as `cid:<content_id>`.
pub(crate) fn inline_image(
    rng: &mut ChaCha8Rng,
    seed: u64,
    index: usize,
    k: usize,
    mix: &SizeMix,
) -> (Entity, String) {
    let png = rng.random_bool(0.7);
    let (mime, ext, magic): (_, _, &[u8]) = if png {
        ("image/png", "png", b"\x89PNG\r\n\x1a\n")
    } else {
        ("image/gif", "gif", b"GIF89a")
    };
    let content_id = format!("image{:03}.{:08x}@anvert.test", k + 1, rng.random::<u32>());
    let mut meta = Meta::new(mime, Cte::Base64);
    meta.content_id = Some(content_id.clone());
    let name = format!("image{:03}.{ext}", k + 1);
    meta.type_params.push(format!("name={}", quoted(&name)));
    if rng.random_bool(0.6) {
        meta.disposition = Some("inline");
        meta.disposition_params
            .push(format!("filename={}", quoted(&name)));
    }
    // The Content-Type name is the part's file name when no disposition names it.
    meta.filename = Some(name);
    let size = rng.random_range(KIB..=30 * KIB).min(mix.max_attachment);
    (
        binary(meta, seed, index, INLINE_IMAGE_PARTS + k, size, magic),
        content_id,
    )
}

/// A small CSV attachment: a text/* part with a disposition (its text is in the truth).
pub(crate) fn csv_attachment(rng: &mut ChaCha8Rng) -> Entity {
    let mut text = String::from("date,item,amount\r\n");
    for row in 0..rng.random_range(3..=20) {
        text.push_str(&format!(
            "2024-{:02}-{:02},Posten {row} – Büro,{}.{:02}\r\n",
            row % 12 + 1,
            row % 28 + 1,
            rng.random_range(1..900),
            rng.random_range(0..100)
        ));
    }
    let cte = if rng.random_bool(0.5) {
        Cte::Base64
    } else {
        Cte::QuotedPrintable
    };
    let mut meta = Meta::new("text/csv", cte);
    meta.charset = Some(Charset::Utf8);
    meta.disposition = Some("attachment");
    meta.disposition_params
        .push("filename=\"export.csv\"".to_string());
    meta.filename = Some("export.csv".to_string());
    Entity::text(meta, &text)
}

fn name_attachment(rng: &mut ChaCha8Rng, meta: &mut Meta, style: NameStyle, ext: &str) {
    let name = match style {
        NameStyle::None => return,
        NameStyle::Ascii => format!("{}.{ext}", pick(rng, ASCII_NAMES)),
        NameStyle::Rfc2231 | NameStyle::Rfc2047 => format!("{}.{ext}", pick(rng, UNICODE_NAMES)),
        NameStyle::Traversal => "../../etc/passwd".to_string(),
        NameStyle::Control => pick(rng, CONTROL_NAMES).to_string(),
    };
    let single_word = |enc| encoded_words(&name, Charset::Utf8, enc).replace("\r\n ", "");
    let (type_param, disposition_param) = match style {
        NameStyle::Ascii | NameStyle::Traversal => (
            Some(format!("name={}", quoted(&name))),
            format!("filename={}", quoted(&name)),
        ),
        NameStyle::Rfc2231 => {
            // Outlook style: an RFC 2047 name= for old readers beside the RFC 2231 filename*.
            let legacy = rng
                .random_bool(0.5)
                .then(|| format!("name=\"{}\"", single_word(WordEncoding::B)));
            (legacy, rfc2231_param("filename", &name))
        }
        NameStyle::Rfc2047 => {
            let enc = if rng.random_bool(0.5) {
                WordEncoding::B
            } else {
                WordEncoding::Q
            };
            let word = single_word(enc);
            (
                Some(format!("name=\"{word}\"")),
                format!("filename=\"{word}\""),
            )
        }
        NameStyle::Control if rng.random_bool(0.5) => (None, rfc2231_param("filename", &name)),
        NameStyle::Control => (
            None,
            format!("filename=\"{}\"", single_word(WordEncoding::Q)),
        ),
        NameStyle::None => unreachable!("returned above"),
    };
    meta.type_params.extend(type_param);
    meta.disposition_params.push(disposition_param);
    meta.filename = Some(name);
}

/// A base64 leaf of `size` deterministic bytes (`magic` first), from its own ChaCha stream.
fn binary(meta: Meta, seed: u64, index: usize, part: usize, size: usize, magic: &[u8]) -> Entity {
    let mut bytes = stream(seed, index, 1000 + part as u64);
    let mut magic = &magic[..magic.len().min(size)];
    let (encoded, sha256) = base64_stream(size, |chunk| {
        bytes.fill_bytes(chunk);
        let n = magic.len().min(chunk.len());
        chunk[..n].copy_from_slice(&magic[..n]);
        magic = &magic[n..];
    });
    Entity::encoded(meta, encoded, Decoded { size, sha256 })
}
