//! Hex decoding for hashes and event ids, on its own so both can use it without depending on
//! each other.

/// Decodes exactly `N` bytes of hex (either case). Every event read parses two hashes and an id,
/// so this is on replay's hot path: plain arithmetic per digit and no branch, which the
/// compiler turns into vector code; validity is folded into one flag and looked at once.
pub(crate) fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    /// A digit's value, and whether the byte was no hex digit at all.
    #[inline(always)]
    fn nibble(c: u8) -> (u8, bool) {
        let digit = c.wrapping_sub(b'0');
        let letter = (c | 0x20).wrapping_sub(b'a');
        let is_digit = digit < 10;
        let value = if is_digit { digit } else { letter.wrapping_add(10) };
        (value, !is_digit && letter >= 6)
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = false;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let ((high, high_bad), (low, low_bad)) = (nibble(pair[0]), nibble(pair[1]));
        bad |= high_bad | low_bad;
        *byte = high << 4 | low;
    }
    (!bad).then_some(out)
}
