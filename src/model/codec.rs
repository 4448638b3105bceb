//! The byte format of an entry's attributes: varints, one segment per
//! attribute (`encode_into`), and the walk over segments (`SlotIter`).

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `*pos`; the buffers are only ever written by
/// `put_varint`, so a short read means 0 rather than a panic.
pub(super) fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= ((b & 0x7f) as usize) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// Where one attribute sits in the buffer.
pub(super) struct Slot {
    pub(super) fold: u32,
    pub(super) disp: u32,
    pub(super) start: usize,
    pub(super) values_at: usize,
    pub(super) count: usize,
    pub(super) end: usize,
}

/// One attribute's segment: name numbers, the length of the rest (so a
/// lookup skips an attribute in one step), value count, values. No values:
/// no segment.
pub(super) fn encode(fold: u32, disp: u32, values: &[&str]) -> Vec<u8> {
    let mut seg = Vec::new();
    encode_into(&mut seg, fold, disp, values);
    seg
}

pub(super) fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Length of the body of a segment: value count, then each value.
pub(super) fn body_len(values: &[&str]) -> usize {
    varint_len(values.len())
        + values
            .iter()
            .map(|v| varint_len(v.len()) + v.len())
            .sum::<usize>()
}

/// Length of the whole segment [`encode_into`] writes.
pub(super) fn segment_len(fold: u32, disp: u32, values: &[&str]) -> usize {
    if values.is_empty() {
        return 0;
    }
    let body = body_len(values);
    varint_len(fold as usize) + varint_len(disp as usize) + varint_len(body) + body
}

/// Appends the segment of one attribute to `out` (nothing for no value).
pub(super) fn encode_into(out: &mut Vec<u8>, fold: u32, disp: u32, values: &[&str]) {
    if values.is_empty() {
        return;
    }
    let body = body_len(values);
    out.reserve(segment_len(fold, disp, values));
    put_varint(out, fold as usize);
    put_varint(out, disp as usize);
    put_varint(out, body);
    put_varint(out, values.len());
    for v in values {
        put_varint(out, v.len());
        out.extend_from_slice(v.as_bytes());
    }
}

pub(super) struct SlotIter<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl Iterator for SlotIter<'_> {
    type Item = Slot;
    fn next(&mut self) -> Option<Slot> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let fold = get_varint(self.buf, &mut self.pos) as u32;
        let disp = get_varint(self.buf, &mut self.pos) as u32;
        let len = get_varint(self.buf, &mut self.pos);
        let end = (self.pos + len).min(self.buf.len());
        let count = get_varint(self.buf, &mut self.pos);
        let values_at = self.pos.min(end);
        self.pos = end;
        Some(Slot {
            fold,
            disp,
            start,
            values_at,
            count,
            end,
        })
    }
}
