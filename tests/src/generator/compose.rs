//! Composes message `i` from `(config, i)`: its identity and thread, date, addresses,
//! subject, flags and MIME shape, then renders it and assembles the ground truth.
//!
//! Randomness comes from independent ChaCha streams keyed by (seed, index, purpose), so a
//! message's identity (Message-ID, subject, thread parent) can be recomputed cheaply when a
//! later message replies to it, without generating its body.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    Addr, Flag, GenConfig, GeneratedMessage, MessageTruth, attach,
    content::{self, Lang, PEOPLE, Person, pick, weighted},
    encode::{Charset, Cte, WordEncoding, encoded_words, folded_header, folded_list, quoted},
    mime::{Entity, Meta, Rendered, render},
};

const IDENTITY: u64 = 1;
const CONTENT: u64 = 2;
const DATE: u64 = 3;
const FLAGS: u64 = 4;

/// The random stream for one purpose of one message.
pub(crate) fn stream(seed: u64, index: usize, purpose: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    key[16..24].copy_from_slice(&purpose.to_le_bytes());
    key[24..].copy_from_slice(b"anvert-g");
    ChaCha8Rng::from_seed(key)
}

/// What a reply needs to know about a message: cheap to recompute.
struct Identity {
    message_id: String,
    parent: Option<usize>,
    lang: Lang,
    subject: &'static str,
}

fn identity(cfg: &GenConfig, index: usize) -> Identity {
    let mut rng = stream(cfg.seed, index, IDENTITY);
    let parent = (index > 0 && rng.random_bool(cfg.reply_prob.clamp(0.0, 1.0)))
        .then(|| index - 1 - rng.random_range(0..index.min(40)));
    let lang = Lang::pick(&mut rng);
    let subject = *pick(&mut rng, lang.subjects());
    let domain = pick(
        &mut rng,
        &[
            "mail.example.com",
            "mx.example.org",
            "example.ru",
            "smtp.example.jp",
        ],
    );
    let message_id = format!("{:016x}.{index}@{domain}", rng.random::<u64>());
    Identity {
        message_id,
        parent,
        lang,
        subject,
    }
}

/// Message ids of the thread's ancestors (root first), plus the root's language and subject.
fn thread(cfg: &GenConfig, own: &Identity) -> (Vec<String>, Lang, &'static str) {
    let (mut ancestors, mut lang, mut subject) = (Vec::new(), own.lang, own.subject);
    let mut next = own.parent;
    while let Some(j) = next {
        let parent = identity(cfg, j);
        ancestors.push(parent.message_id);
        (lang, subject, next) = (parent.lang, parent.subject, parent.parent);
    }
    ancestors.reverse();
    (ancestors, lang, subject)
}

/// Strictly increasing with the index: evenly spaced slots with jitter inside each slot.
fn date_of(cfg: &GenConfig, index: usize) -> i64 {
    let span = cfg.span_secs.max(1);
    let step = (span / cfg.count.max(1) as i64).max(1);
    let jitter = stream(cfg.seed, index, DATE).random_range(0..step);
    cfg.start_date - span + index as i64 * step + jitter
}

fn flags_of(cfg: &GenConfig, index: usize) -> Vec<Flag> {
    let mut rng = stream(cfg.seed, index, FLAGS);
    let recent = index * 10 >= cfg.count * 9;
    let mut flags = Vec::new();
    if rng.random_bool(0.02) {
        flags.push(Flag::Draft);
    }
    if rng.random_bool(0.05) {
        flags.push(Flag::Flagged);
    }
    if rng.random_bool(0.12) {
        flags.push(Flag::Answered);
    }
    if rng.random_bool(if recent { 0.35 } else { 0.96 }) {
        flags.push(Flag::Seen);
    }
    flags
}

/// The body's overall structure (attachments are added around it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Plain,
    /// No MIME headers at all: a bare ASCII message, as scripts send.
    NoMime,
    Alternative,
    Related,
    Forward,
}

pub(crate) fn compose(cfg: &GenConfig, index: usize) -> GeneratedMessage {
    let own = identity(cfg, index);
    let (references, lang, base_subject) = thread(cfg, &own);
    let date = date_of(cfg, index);
    let mut c = Composer {
        cfg,
        index,
        rng: stream(cfg.seed, index, CONTENT),
    };

    let attachment_sizes = attach::sizes(&mut c.rng, &cfg.mix);
    let mut shape = weighted(
        &mut c.rng,
        &[
            (Shape::Plain, 34),
            (Shape::NoMime, 4),
            (Shape::Alternative, 36),
            (Shape::Related, 14),
            (Shape::Forward, 12),
        ],
    );
    if shape == Shape::NoMime && !attachment_sizes.is_empty() {
        shape = Shape::Plain;
    }
    if shape == Shape::Related && cfg.mix.max_attachment == 0 {
        shape = Shape::Alternative;
    }
    let lang = if shape == Shape::NoMime {
        Lang::English
    } else {
        lang
    };
    let prefix = match (references.is_empty(), shape) {
        (false, _) => "Re: ",
        (true, Shape::Forward) => "Fwd: ",
        (true, _) => "",
    };

    let from = *pick(&mut c.rng, PEOPLE);
    let mut envelope = Envelope::new(&mut c.rng, cfg, from, date);
    envelope
        .headers
        .push(subject_header(&mut c.rng, prefix, base_subject));
    envelope
        .headers
        .push(format!("Message-ID: <{}>", own.message_id));
    if let Some(parent) = references.last() {
        envelope.headers.push(format!("In-Reply-To: <{parent}>"));
        let ids: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
        envelope.headers.push(folded_list("References", &ids, ""));
    }
    if shape != Shape::NoMime {
        envelope.headers.push("MIME-Version: 1.0".to_string());
    }
    if c.rng.random_bool(0.5) {
        envelope
            .headers
            .push(format!("User-Agent: {}", pick(&mut c.rng, USER_AGENTS)));
    }

    let quoted: Vec<String> = if references.is_empty() {
        Vec::new()
    } else {
        (0..c.rng.random_range(1..=3))
            .map(|_| format!("> {}", content::quote(&mut c.rng, lang)))
            .collect()
    };
    let mut children = c.body(shape, lang, base_subject, &quoted, from, date);
    for (k, size) in attachment_sizes.into_iter().enumerate() {
        children.push(attach::attachment(&mut c.rng, cfg.seed, index, k, size));
    }
    if children.len() > 1 && c.rng.random_bool(0.15) {
        children.push(attach::csv_attachment(&mut c.rng));
    }
    let mut entity = match children.len() {
        1 => children.remove(0),
        _ => c.multipart("mixed", children),
    };
    entity.headers.splice(0..0, envelope.headers);
    let rendered = render(entity);

    let truth = MessageTruth {
        index,
        message_id: own.message_id,
        in_reply_to: references.last().cloned(),
        references,
        subject: format!("{prefix}{base_subject}"),
        from: envelope.from,
        to: envelope.to,
        cc: envelope.cc,
        bcc: envelope.bcc,
        reply_to: envelope.reply_to,
        date,
        flags: flags_of(cfg, index),
        size: rendered.raw.len(),
        parts: rendered.parts,
    };
    GeneratedMessage {
        raw: rendered.raw,
        truth,
    }
}

/// The Date and address headers, and the decoded addresses they carry.
struct Envelope {
    headers: Vec<String>,
    from: Vec<Addr>,
    to: Vec<Addr>,
    cc: Vec<Addr>,
    bcc: Vec<Addr>,
    reply_to: Vec<Addr>,
}

impl Envelope {
    /// The owner is in To most of the time, else in Cc or Bcc; lists hold distinct people.
    fn new(rng: &mut ChaCha8Rng, cfg: &GenConfig, from: Person, date: i64) -> Envelope {
        let owner = Person {
            name: None,
            email: &cfg.owner_email,
        };
        let owner_in = weighted(rng, &[("to", 80), ("cc", 15), ("bcc", 5)]);
        let to = match owner_in {
            "to" if rng.random_bool(0.5) => vec![owner],
            "to" => distinct(rng, 3, Some(owner)),
            _ => distinct(rng, 3, None),
        };
        let cc = match owner_in {
            "cc" => distinct(rng, 2, Some(owner)),
            _ if rng.random_bool(0.35) => distinct(rng, 3, None),
            _ => Vec::new(),
        };
        let bcc = match owner_in {
            "bcc" => vec![owner],
            _ if rng.random_bool(0.05) => distinct(rng, 2, None),
            _ => Vec::new(),
        };
        let reply_to = if rng.random_bool(0.1) {
            distinct(rng, 2, None)
        } else {
            Vec::new()
        };

        let mut headers = vec![format!(
            "Date: {}",
            rfc5322_date(date, *pick(rng, &TIME_ZONES))
        )];
        let mut add =
            |name: &str, people: &[Person]| address_header(rng, &mut headers, name, people);
        let (from, to, cc, bcc, reply_to) = (
            add("From", &[from]),
            add("To", &to),
            add("Cc", &cc),
            add("Bcc", &bcc),
            add("Reply-To", &reply_to),
        );
        Envelope {
            headers,
            from,
            to,
            cc,
            bcc,
            reply_to,
        }
    }
}

const USER_AGENTS: &[&str] = &[
    "Anvert/0.1",
    "Mozilla Thunderbird 128.3",
    "Apple Mail (2.3774)",
    "Microsoft Outlook 16.0",
];

/// `first` (when given) and then up to `max` more distinct people.
fn distinct<'a>(rng: &mut ChaCha8Rng, max: usize, first: Option<Person<'a>>) -> Vec<Person<'a>> {
    let mut people: Vec<Person> = first.into_iter().collect();
    for _ in 0..rng.random_range(1..=max) {
        let person = *pick(rng, PEOPLE);
        if people.iter().all(|p| p.email != person.email) {
            people.push(person);
        }
    }
    people
}

/// Appends an address header (unless `people` is empty) and returns its truth.
fn address_header(
    rng: &mut ChaCha8Rng,
    headers: &mut Vec<String>,
    name: &str,
    people: &[Person],
) -> Vec<Addr> {
    if people.is_empty() {
        return Vec::new();
    }
    let rendered: Vec<String> = people.iter().map(|p| mailbox(rng, p)).collect();
    headers.push(folded_list(name, &rendered, ","));
    people
        .iter()
        .map(|p| Addr {
            name: p.name.map(str::to_string),
            email: p.email.to_string(),
        })
        .collect()
}

/// `name <email>` with the display name as an atom phrase, quoted string or encoded words.
fn mailbox(rng: &mut ChaCha8Rng, person: &Person) -> String {
    let Some(name) = person.name else {
        return if rng.random_bool(0.5) {
            person.email.to_string()
        } else {
            format!("<{}>", person.email)
        };
    };
    let phrase = if !name.is_ascii() {
        let (charset, enc) = header_encoding(rng, name);
        encoded_words(name, charset, enc)
    } else if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c))
    {
        name.to_string()
    } else {
        quoted(name)
    };
    format!("{phrase} <{}>", person.email)
}

/// A charset (UTF-8 half the time, else a legacy one that can hold `text`) and B or Q.
fn header_encoding(rng: &mut ChaCha8Rng, text: &str) -> (Charset, WordEncoding) {
    let legacy: Vec<Charset> = [Charset::Latin1, Charset::Windows1252, Charset::Koi8R]
        .into_iter()
        .filter(|c| c.can_encode(text))
        .collect();
    let charset = if legacy.is_empty() || rng.random_bool(0.5) {
        Charset::Utf8
    } else {
        *pick(rng, &legacy)
    };
    let enc = if rng.random_bool(0.5) {
        WordEncoding::B
    } else {
        WordEncoding::Q
    };
    (charset, enc)
}

fn subject_header(rng: &mut ChaCha8Rng, prefix: &str, base: &str) -> String {
    if base.is_ascii() {
        return folded_header("Subject", &format!("{prefix}{base}"));
    }
    let (charset, enc) = header_encoding(rng, base);
    format!("Subject: {prefix}{}", encoded_words(base, charset, enc))
}

/// Builds the MIME body of one message from its content stream.
struct Composer<'a> {
    cfg: &'a GenConfig,
    index: usize,
    rng: ChaCha8Rng,
}

impl Composer<'_> {
    /// The top-level parts for `shape`: one entity, or for a forward the parts of its
    /// multipart/mixed (so attachments join them rather than nest another level).
    fn body(
        &mut self,
        shape: Shape,
        lang: Lang,
        subject: &str,
        quoted: &[String],
        from: Person,
        date: i64,
    ) -> Vec<Entity> {
        let paragraphs = content::paragraphs(&mut self.rng, lang);
        let charset = if shape == Shape::NoMime {
            Charset::UsAscii
        } else {
            body_charset(&mut self.rng, lang)
        };
        let signature = from
            .name
            .filter(|n| charset.can_encode(n))
            .unwrap_or(from.email);
        let text = content::plain_text(lang, &paragraphs, quoted, signature);
        let cte = transfer_encoding(&mut self.rng, charset, &text, false);
        let mut plain_meta = Meta {
            charset: Some(charset),
            ..Meta::new("text/plain", cte)
        };
        plain_meta.cte_header = cte != Cte::SevenBit || self.rng.random_bool(0.5);
        let plain = Entity::text(plain_meta, &text);
        let single = match shape {
            Shape::NoMime => {
                let meta = Meta {
                    cte_header: false,
                    ..Meta::new("text/plain", Cte::SevenBit)
                };
                let mut entity = Entity::text(meta, &text);
                entity.headers.clear();
                entity
            }
            Shape::Plain => plain,
            Shape::Alternative => {
                let html = self.html(lang, &paragraphs, charset, &[]);
                self.multipart("alternative", vec![plain, html])
            }
            Shape::Related => {
                let mut parts = Vec::new();
                let mut cids = Vec::new();
                for k in 0..self.rng.random_range(1..=3) {
                    let (image, cid) = attach::inline_image(
                        &mut self.rng,
                        self.cfg.seed,
                        self.index,
                        k,
                        &self.cfg.mix,
                    );
                    parts.push(image);
                    cids.push(cid);
                }
                parts.insert(0, self.html(lang, &paragraphs, charset, &cids));
                let related = self.multipart("related", parts);
                if self.rng.random_bool(0.3) {
                    related
                } else {
                    self.multipart("alternative", vec![plain, related])
                }
            }
            Shape::Forward => {
                let inner = self.forwarded(lang, subject, date);
                let disposition = if self.rng.random_bool(0.5) {
                    "attachment"
                } else {
                    "inline"
                };
                return vec![plain, Entity::message(inner, Some(disposition))];
            }
        };
        vec![single]
    }

    fn html(
        &mut self,
        lang: Lang,
        paragraphs: &[String],
        charset: Charset,
        cids: &[String],
    ) -> Entity {
        let html = content::html(lang, paragraphs, cids, charset);
        let cte = transfer_encoding(&mut self.rng, charset, &html, true);
        Entity::text(
            Meta {
                charset: Some(charset),
                ..Meta::new("text/html", cte)
            },
            &html,
        )
    }

    /// The encapsulated message of a forward: its own headers, itself multipart.
    fn forwarded(&mut self, lang: Lang, subject: &str, date: i64) -> Rendered {
        let rng = &mut self.rng;
        let paragraphs = content::paragraphs(rng, lang);
        let charset = body_charset(rng, lang);
        let from = *pick(rng, PEOPLE);
        let text = content::plain_text(lang, &paragraphs, &[], from.email);
        let cte = transfer_encoding(rng, charset, &text, false);
        let plain = Entity::text(
            Meta {
                charset: Some(charset),
                ..Meta::new("text/plain", cte)
            },
            &text,
        );
        let with_attachment = self.cfg.mix.max_attachment > 0 && rng.random_bool(0.7);
        let mut entity = if with_attachment {
            let size = rng
                .random_range(2_000..=40_000)
                .min(self.cfg.mix.max_attachment);
            let attachment =
                attach::attachment(rng, self.cfg.seed, self.index, attach::FORWARDED_PART, size);
            self.multipart("mixed", vec![plain, attachment])
        } else {
            let html = self.html(lang, &paragraphs, charset, &[]);
            self.multipart("alternative", vec![plain, html])
        };
        let rng = &mut self.rng;
        let to = *pick(rng, PEOPLE);
        let when = date - rng.random_range(3_600..30 * 86_400);
        let mut headers = vec![
            format!("Date: {}", rfc5322_date(when, *pick(rng, &TIME_ZONES))),
            format!("From: {}", mailbox(rng, &from)),
            format!("To: {}", mailbox(rng, &to)),
            subject_header(rng, "", subject),
            format!(
                "Message-ID: <fwd.{:012x}.{}@example.net>",
                rng.random::<u64>() >> 16,
                self.index
            ),
            "MIME-Version: 1.0".to_string(),
        ];
        headers.append(&mut entity.headers);
        entity.headers = headers;
        render(entity)
    }

    /// A multipart with a fresh boundary and, sometimes, the customary preamble.
    fn multipart(&mut self, subtype: &str, children: Vec<Entity>) -> Entity {
        let boundary = format!(
            "----=_Part_{}_{:016x}",
            self.index,
            self.rng.random::<u64>()
        );
        let preamble = self
            .rng
            .random_bool(0.4)
            .then_some("This is a multi-part message in MIME format.");
        Entity::multipart(subtype, boundary, preamble, children)
    }
}

/// A charset for a body in `lang`, most often the language's customary one.
fn body_charset(rng: &mut ChaCha8Rng, lang: Lang) -> Charset {
    let charsets = lang.charsets();
    if rng.random_bool(0.6) {
        charsets[0]
    } else {
        *pick(rng, charsets)
    }
}

/// A transfer encoding that can carry `text` in `charset`: 7bit only for 7-bit data, and
/// quoted-printable more often for HTML, whose long lines mailers rarely send raw.
fn transfer_encoding(rng: &mut ChaCha8Rng, charset: Charset, text: &str, html: bool) -> Cte {
    let (qp, base64, raw) = if html { (6, 2, 2) } else { (1, 1, 8) };
    if charset == Charset::Iso2022Jp {
        weighted(rng, &[(Cte::SevenBit, raw), (Cte::Base64, base64)])
    } else if text.is_ascii() {
        weighted(
            rng,
            &[
                (Cte::SevenBit, raw),
                (Cte::QuotedPrintable, qp),
                (Cte::Base64, base64),
            ],
        )
    } else {
        weighted(
            rng,
            &[
                (Cte::EightBit, 35),
                (Cte::QuotedPrintable, 45),
                (Cte::Base64, 20),
            ],
        )
    }
}

/// Offsets in minutes east of UTC.
const TIME_ZONES: [i64; 8] = [0, 60, 120, -300, -480, 540, 330, 180];

/// `Tue, 05 Mar 2024 14:03:09 +0100` for `unix` seen from `offset_minutes`.
fn rfc5322_date(unix: i64, offset_minutes: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let local = unix + offset_minutes * 60;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        offset_minutes.abs() / 60,
        offset_minutes.abs() % 60,
    )
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
