/// ITU-T G.711 expansion: each 8-bit code word to the 16-bit linear value the recommendation decodes it to.
///
/// A code word is a sign bit, a 3-bit segment (exponent) and a 4-bit step (mantissa). Both laws are
/// tabulated once, 256 entries each, since a sample is then one lookup.
enum G711 {
    /// µ-law (North America, Japan): bits are stored inverted; the magnitude is
    /// `((step << 3) + 132) << segment - 132`, the 132 being the bias that makes the segments join up.
    /// 0xFF and 0x7F are ±0; 0x80 is +32124 and 0x00 is -32124.
    static let muLawTable: [Int16] = (0..<256).map { code in
        let u = ~UInt8(code)
        let segment = Int(u >> 4) & 7
        let step = Int(u) & 0x0F
        let magnitude = (((step << 3) + 0x84) << segment) - 0x84
        return Int16(u & 0x80 != 0 ? -magnitude : magnitude)
    }

    /// A-law (Europe and most of the world): even bits are stored inverted (XOR 0x55); a set sign bit is
    /// positive. Segment 0 is linear, `(step << 4) + 8`; segment s > 0 is `((step << 4) + 264) << (s - 1)`.
    /// 0xD5 is +8 and 0x55 is -8; 0xAA is +32256 and 0x2A is -32256.
    static let aLawTable: [Int16] = (0..<256).map { code in
        let a = UInt8(code) ^ 0x55
        let segment = Int(a >> 4) & 7
        let step = Int(a) & 0x0F
        let magnitude = segment == 0 ? (step << 4) + 8 : ((step << 4) + 0x108) << (segment - 1)
        return Int16(a & 0x80 != 0 ? magnitude : -magnitude)
    }
}
