//! A small MIME tree and its serializer. The composer builds [`Entity`] values (leaf parts,
//! multiparts, encapsulated messages), and [`render`] writes them in wire form (CRLF) while
//! recording a [`PartTruth`] for every leaf and message/rfc822 part, numbered the way IMAP
//! BODYSTRUCTURE numbers sections.
//!
//! Every body written here ends with CRLF, and each multipart delimiter is preceded by its own
//! CRLF, so a part's body is exactly the bytes the constructor encoded and `encoded_size` is
//! what a server reports.

use sha2::{Digest, Sha256};

use super::{
    PartTruth,
    encode::{Charset, Cte, folded_list},
};

/// A header block plus a body: a whole message or one MIME part.
pub(crate) struct Entity {
    /// Complete header fields (folded with CRLF SP where long), without the final CRLF.
    pub headers: Vec<String>,
    pub body: Body,
}

pub(crate) enum Body {
    /// A leaf, already transfer-encoded, with its truth (section filled in by [`render`]).
    Leaf { encoded: Vec<u8>, truth: PartTruth },
    Multipart {
        boundary: String,
        preamble: Option<&'static str>,
        children: Vec<Entity>,
    },
    /// A message/rfc822 part: the encapsulated message, already rendered.
    Message { inner: Rendered, truth: PartTruth },
}

/// A serialized message and the truth of its parts, in document order.
pub(crate) struct Rendered {
    pub raw: Vec<u8>,
    pub parts: Vec<PartTruth>,
}

/// What a leaf part's MIME headers say; turns into both the header lines and the truth.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub mime_type: String,
    pub charset: Option<Charset>,
    /// Extra Content-Type parameters, rendered (e.g. `name="a.pdf"`).
    pub type_params: Vec<String>,
    pub cte: Cte,
    /// Write `Content-Transfer-Encoding` even when it is the 7bit default.
    pub cte_header: bool,
    pub disposition: Option<&'static str>,
    /// Content-Disposition parameters, rendered (e.g. `filename*=utf-8''%C3%A9.pdf`).
    pub disposition_params: Vec<String>,
    /// The decoded file name the parameters above encode.
    pub filename: Option<String>,
    pub content_id: Option<String>,
}

impl Meta {
    pub(crate) fn new(mime_type: &str, cte: Cte) -> Meta {
        Meta {
            mime_type: mime_type.to_string(),
            charset: None,
            type_params: Vec::new(),
            cte,
            cte_header: true,
            disposition: None,
            disposition_params: Vec::new(),
            filename: None,
            content_id: None,
        }
    }

    fn headers(&self) -> Vec<String> {
        let mut content_type = vec![self.mime_type.clone()];
        if let Some(charset) = self.charset {
            content_type.push(format!("charset=\"{}\"", charset.name()));
        }
        content_type.extend(self.type_params.iter().cloned());
        let mut headers = vec![folded_list("Content-Type", &content_type, ";")];
        if self.cte_header || self.cte != Cte::SevenBit {
            headers.push(format!("Content-Transfer-Encoding: {}", self.cte.name()));
        }
        if let Some(id) = &self.content_id {
            headers.push(format!("Content-ID: <{id}>"));
        }
        if let Some(disposition) = self.disposition {
            let mut value = vec![disposition.to_string()];
            value.extend(self.disposition_params.iter().cloned());
            headers.push(folded_list("Content-Disposition", &value, ";"));
        }
        headers
    }

    fn truth(&self, encoded_size: usize, decoded: Decoded, text: Option<String>) -> PartTruth {
        PartTruth {
            section: String::new(),
            mime_type: self.mime_type.to_ascii_lowercase(),
            charset: self.charset.map(|c| c.name().to_string()),
            encoding: self.cte.name().to_string(),
            disposition: self.disposition.map(str::to_string),
            filename: self.filename.clone(),
            content_id: self.content_id.clone(),
            encoded_size,
            decoded_size: decoded.size,
            sha256: decoded.sha256,
            text,
        }
    }
}

/// Size and SHA-256 (hex) of decoded bytes.
pub(crate) struct Decoded {
    pub size: usize,
    pub sha256: String,
}

impl Decoded {
    pub(crate) fn of(bytes: &[u8]) -> Decoded {
        Decoded {
            size: bytes.len(),
            sha256: hex::encode(Sha256::digest(bytes)),
        }
    }
}

impl Entity {
    /// A text/* leaf: `text` (CRLF line endings) in `meta.charset` (UTF-8 when unset),
    /// transfer-encoded with `meta.cte`.
    pub(crate) fn text(meta: Meta, text: &str) -> Entity {
        let bytes = meta.charset.unwrap_or(Charset::Utf8).encode(text);
        let encoded = meta.cte.encode(&bytes);
        let truth = meta.truth(encoded.len(), Decoded::of(&bytes), Some(text.to_string()));
        Entity {
            headers: meta.headers(),
            body: Body::Leaf { encoded, truth },
        }
    }

    /// A leaf whose body was encoded elsewhere (streamed attachments).
    pub(crate) fn encoded(meta: Meta, encoded: Vec<u8>, decoded: Decoded) -> Entity {
        let truth = meta.truth(encoded.len(), decoded, None);
        Entity {
            headers: meta.headers(),
            body: Body::Leaf { encoded, truth },
        }
    }

    pub(crate) fn multipart(
        subtype: &str,
        boundary: String,
        preamble: Option<&'static str>,
        children: Vec<Entity>,
    ) -> Entity {
        let header = folded_list(
            "Content-Type",
            &[
                format!("multipart/{subtype}"),
                format!("boundary=\"{boundary}\""),
            ],
            ";",
        );
        Entity {
            headers: vec![header],
            body: Body::Multipart {
                boundary,
                preamble,
                children,
            },
        }
    }

    /// A message/rfc822 part holding `inner`; 8bit when the inner message has 8-bit bytes.
    pub(crate) fn message(inner: Rendered, disposition: Option<&'static str>) -> Entity {
        let cte = if inner.raw.is_ascii() {
            Cte::SevenBit
        } else {
            Cte::EightBit
        };
        let mut meta = Meta::new("message/rfc822", cte);
        meta.cte_header = cte != Cte::SevenBit;
        meta.disposition = disposition;
        let truth = meta.truth(inner.raw.len(), Decoded::of(&inner.raw), None);
        Entity {
            headers: meta.headers(),
            body: Body::Message { inner, truth },
        }
    }
}

/// Where an entity sits, for section numbering.
enum Place {
    /// The message's own top-level entity: a leaf there is section "1", multipart children
    /// are "1", "2", ...
    Root,
    /// A body part with its section number.
    Child(String),
}

/// Serializes a whole message.
pub(crate) fn render(entity: Entity) -> Rendered {
    let mut rendered = Rendered {
        raw: Vec::new(),
        parts: Vec::new(),
    };
    write_entity(&mut rendered, entity, Place::Root);
    rendered
}

fn write_entity(out: &mut Rendered, entity: Entity, place: Place) {
    for header in &entity.headers {
        out.raw.extend_from_slice(header.as_bytes());
        out.raw.extend_from_slice(b"\r\n");
    }
    out.raw.extend_from_slice(b"\r\n");
    let leaf_section = || match &place {
        Place::Root => "1".to_string(),
        Place::Child(section) => section.clone(),
    };
    match entity.body {
        Body::Leaf { encoded, mut truth } => {
            truth.section = leaf_section();
            out.parts.push(truth);
            out.raw.extend_from_slice(&encoded);
        }
        Body::Message { inner, mut truth } => {
            let section = leaf_section();
            truth.section = section.clone();
            out.parts.push(truth);
            out.parts.extend(inner.parts.into_iter().map(|mut p| {
                p.section = format!("{section}.{}", p.section);
                p
            }));
            out.raw.extend_from_slice(&inner.raw);
        }
        Body::Multipart {
            boundary,
            preamble,
            children,
        } => {
            if let Some(preamble) = preamble {
                out.raw.extend_from_slice(preamble.as_bytes());
                out.raw.extend_from_slice(b"\r\n");
            }
            for (k, child) in children.into_iter().enumerate() {
                let section = match &place {
                    Place::Root => (k + 1).to_string(),
                    Place::Child(parent) => format!("{parent}.{}", k + 1),
                };
                out.raw
                    .extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                write_entity(out, child, Place::Child(section));
                out.raw.extend_from_slice(b"\r\n");
            }
            out.raw
                .extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        }
    }
}
