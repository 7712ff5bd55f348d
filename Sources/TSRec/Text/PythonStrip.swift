extension String {
    /// Python's `str.strip(chars)`, as the authors' scripts normalise titles: every leading and
    /// trailing code point found in `chars` removed; `chars` nil strips whitespace, as
    /// `str.strip()` does (Unicode White_Space; Python also counts U+001C–U+001F).
    func pythonStripped(_ chars: String? = nil) -> String {
        let strips: (Unicode.Scalar) -> Bool = chars.map { set in { set.unicodeScalars.contains($0) } }
            ?? { $0.properties.isWhitespace }
        var s = Substring(self).unicodeScalars
        while let c = s.first, strips(c) { s.removeFirst() }
        while let c = s.last, strips(c) { s.removeLast() }
        return String(s)
    }
}
