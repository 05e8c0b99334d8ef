//! The size of the next `BODY.PEEK[section]<offset.length>` fetch, adapted to the measured
//! throughput: small chunks on a slow link, so a cancel or a cut connection costs little
//! and progress is committed often; large ones on a fast link, so round trips do not
//! dominate. Aims at about 1.5 s per chunk, between 64 KiB and 1 MiB. Pure arithmetic: it
//! reads no clock, the caller measures.

use std::time::Duration;

/// The first and smallest chunk.
pub const MIN_CHUNK: u32 = 64 * 1024;
/// The largest chunk.
pub const MAX_CHUNK: u32 = 1024 * 1024;
/// The time one chunk should take.
const TARGET: Duration = Duration::from_millis(1_500);
/// Chunk sizes are multiples of this.
const GRANULE: u64 = 16 * 1024;
/// Samples shorter than this say more about latency than throughput and are ignored.
const MIN_SAMPLE_BYTES: u64 = 16 * 1024;

/// Picks chunk sizes from the throughput of the chunks so far.
#[derive(Debug, Clone)]
pub struct ChunkSizer {
    next: u32,
    /// Smoothed throughput in bytes per second, once measured.
    rate: Option<f64>,
}

impl Default for ChunkSizer {
    fn default() -> Self {
        ChunkSizer::new()
    }
}

impl ChunkSizer {
    /// Starts at [`MIN_CHUNK`].
    pub fn new() -> ChunkSizer {
        ChunkSizer {
            next: MIN_CHUNK,
            rate: None,
        }
    }

    /// Starts at `len`, the size an earlier run of the download had reached (0: none,
    /// [`MIN_CHUNK`]), within the bounds and on the granule.
    pub fn starting_at(len: u32) -> ChunkSizer {
        let rounded = u64::from(len) / GRANULE * GRANULE;
        ChunkSizer {
            next: u32::try_from(rounded)
                .unwrap_or(MAX_CHUNK)
                .clamp(MIN_CHUNK, MAX_CHUNK),
            rate: None,
        }
    }

    /// How many bytes to ask for next.
    pub fn next_len(&self) -> u32 {
        self.next
    }

    /// Records a finished chunk: `bytes` received in `elapsed` (request to last byte). The
    /// next size follows the throughput: at most doubling per chunk, shrinking at once when
    /// the link slows down. A short (final) chunk is ignored.
    pub fn record(&mut self, bytes: u64, elapsed: Duration) {
        if bytes < MIN_SAMPLE_BYTES {
            return;
        }
        // A chunk that took no measurable time is treated as taking a millisecond.
        let seconds = elapsed.as_secs_f64().max(0.001);
        let sample = bytes as f64 / seconds;
        // A slowdown is believed at once (a mobile link that drops to 2G must not keep
        // asking for 10-second chunks); a speed-up is smoothed.
        let rate = match self.rate {
            Some(rate) if sample > rate => rate * 0.5 + sample * 0.5,
            _ => sample,
        };
        self.rate = Some(rate);
        let wanted = rate * TARGET.as_secs_f64();
        let doubled = f64::from(self.next) * 2.0;
        let bounded = wanted
            .min(doubled)
            .clamp(f64::from(MIN_CHUNK), f64::from(MAX_CHUNK));
        // `bounded` is within u32 range here; `as` saturates anyway.
        let rounded = (bounded as u64) / GRANULE * GRANULE;
        self.next = u32::try_from(rounded)
            .unwrap_or(MAX_CHUNK)
            .clamp(MIN_CHUNK, MAX_CHUNK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn starts_small_and_grows_on_a_fast_link_up_to_the_cap() {
        let mut sizer = ChunkSizer::new();
        assert_eq!(sizer.next_len(), MIN_CHUNK);
        let mut sizes = Vec::new();
        for _ in 0..8 {
            let len = sizer.next_len();
            // 10 MB/s.
            sizer.record(
                u64::from(len),
                Duration::from_secs_f64(f64::from(len) / 10e6),
            );
            sizes.push(sizer.next_len());
        }
        assert_eq!(sizes[0], 2 * MIN_CHUNK, "at most doubling: {sizes:?}");
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), MAX_CHUNK);
    }

    #[test]
    fn shrinks_on_a_slow_link_but_not_below_the_floor() {
        let mut sizer = ChunkSizer::new();
        for _ in 0..10 {
            sizer.record(u64::from(sizer.next_len()), ms(1));
        }
        assert_eq!(sizer.next_len(), MAX_CHUNK);
        // 100 KB/s: about 150 KB per 1.5 s, from the first slow chunk on.
        for _ in 0..3 {
            let len = sizer.next_len();
            sizer.record(
                u64::from(len),
                Duration::from_secs_f64(f64::from(len) / 100e3),
            );
            let settled = sizer.next_len();
            assert!((128 * 1024..=160 * 1024).contains(&settled), "{settled}");
        }
        // 5 KB/s: the floor.
        for _ in 0..5 {
            sizer.record(65_536, Duration::from_secs(13));
        }
        assert_eq!(sizer.next_len(), MIN_CHUNK);
    }

    #[test]
    fn a_resumed_download_starts_where_it_was() {
        assert_eq!(ChunkSizer::starting_at(0).next_len(), MIN_CHUNK);
        assert_eq!(ChunkSizer::starting_at(512 * 1024).next_len(), 512 * 1024);
        assert_eq!(ChunkSizer::starting_at(u32::MAX).next_len(), MAX_CHUNK);
        assert_eq!(ChunkSizer::starting_at(100_000).next_len(), 98_304);
    }

    #[test]
    fn tiny_and_instant_samples_are_harmless() {
        let mut sizer = ChunkSizer::new();
        sizer.record(100, Duration::ZERO);
        assert_eq!(sizer.next_len(), MIN_CHUNK);
        sizer.record(u64::MAX, Duration::ZERO);
        assert_eq!(sizer.next_len(), 2 * MIN_CHUNK);
        assert_eq!(sizer.next_len() % 16_384, 0);
    }
}
