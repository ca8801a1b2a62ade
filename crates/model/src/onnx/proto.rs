//! A minimal protocol-buffers writer: the wire format of the few ONNX messages the export
//! needs (see [`super`] for why no crate).
//!
//! A message is a sequence of fields, each a key then a value. The key is the varint
//! `field_number << 3 | wire_type`; wire type 0 is a varint (int32, int64, enums), 2 is
//! length-delimited (a varint byte count, then the bytes: strings, bytes, nested messages),
//! 5 is a little-endian 32-bit value (float). A varint is 7 bits per byte, least significant
//! group first, the high bit set on every byte but the last; a negative int64 is its 64-bit
//! two's complement (ten bytes). Repeated fields are written one key per element (proto2's
//! unpacked form, which ONNX's own serializer writes and every parser reads).

/// Wire type of varints (int32, int64, enums).
const VARINT: u8 = 0;
/// Wire type of length-delimited values (strings, bytes, nested messages).
const LEN: u8 = 2;
/// Wire type of 32-bit little-endian values (float).
const FIXED32: u8 = 5;

/// One message being written: its fields' bytes in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    buf: Vec<u8>,
}

/// Appends `v` as a varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, field: u32, wire: u8) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An int64 (or int32, or enum) field; negative values take ten bytes.
    pub fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, VARINT);
        put_varint(&mut self.buf, v as u64);
        self
    }

    /// A repeated int64 field, one key per element.
    pub fn ints(&mut self, field: u32, vs: &[i64]) -> &mut Self {
        for &v in vs {
            self.int(field, v);
        }
        self
    }

    /// A float field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, FIXED32);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A bytes field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A string field (its UTF-8 bytes).
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// A nested message field.
    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// The encoded message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The encoded message, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    }

    /// The protobuf documentation's own examples: 1 is 0x01, 150 is 96 01, 300 is ac 02.
    #[test]
    fn varints_by_hand() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(1), [0x01]);
        assert_eq!(varint(127), [0x7f]);
        assert_eq!(varint(128), [0x80, 0x01]);
        assert_eq!(varint(150), [0x96, 0x01]);
        assert_eq!(varint(300), [0xac, 0x02]);
        assert_eq!(
            varint(u64::MAX),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    /// Field 1 = 150 is `08 96 01` (the documentation's "Test1"); −1 as int64 is ten bytes.
    #[test]
    fn int_fields_by_hand() {
        let mut m = Message::new();
        m.int(1, 150);
        assert_eq!(m.as_bytes(), [0x08, 0x96, 0x01]);
        let mut m = Message::new();
        m.int(3, -1);
        let mut want = vec![0x18];
        want.extend([0xff; 9]);
        want.push(0x01);
        assert_eq!(m.as_bytes(), want.as_slice());
        let mut m = Message::new();
        m.ints(8, &[2, 2]);
        assert_eq!(m.as_bytes(), [0x40, 0x02, 0x40, 0x02]);
        // Field 20 needs a two-byte key: (20 << 3 | 0) = 160 = a0 01.
        let mut m = Message::new();
        m.int(20, 7);
        assert_eq!(m.as_bytes(), [0xa0, 0x01, 0x07]);
    }

    /// Field 2 = "testing" is `12 07 74 65 73 74 69 6e 67` (the documentation's "Test2");
    /// a nested message is its bytes behind a length; a float is four little-endian bytes.
    #[test]
    fn length_delimited_and_float_fields_by_hand() {
        let mut m = Message::new();
        m.string(2, "testing");
        assert_eq!(
            m.as_bytes(),
            [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]
        );
        let mut inner = Message::new();
        inner.int(1, 150);
        let mut outer = Message::new();
        outer.message(3, &inner);
        assert_eq!(outer.as_bytes(), [0x1a, 0x03, 0x08, 0x96, 0x01]);
        let mut m = Message::new();
        m.float(2, 1.0);
        assert_eq!(m.as_bytes(), [0x15, 0x00, 0x00, 0x80, 0x3f]);
        // A 200-byte value: its length takes two bytes (c8 01).
        let mut m = Message::new();
        m.bytes(9, &[7; 200]);
        assert_eq!(&m.as_bytes()[..3], [0x4a, 0xc8, 0x01]);
        assert_eq!(m.as_bytes().len(), 203);
    }
}
