// Go's time.Duration.String and time.ParseDuration, ported from Go 1.19's src/time/time.go and
// src/time/format.go. The code keeps Go's structure (fmtFrac, fmtInt, leadingInt,
// leadingFraction, quote) so that it can be checked against the original line by line;
// tests/duration_test.cpp compares it with tables printed by Go itself.
//
// Invariants kept from Go:
//   - All arithmetic is on the magnitude as an unsigned 64-bit value: -(-2^63) does not fit an
//     int64, and Go relies on uint64 wrap-around for it.
//   - Parsing accumulates into a uint64 and rejects any value above 2^63 on the way; 2^63 itself
//     is accepted only with a minus sign.
//   - Fractions keep at most ~19 significant digits (more are read and ignored, not an error),
//     and are scaled through a double exactly as Go does, so rounding matches to the nanosecond.
#include "gopp/duration.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

namespace gopp {
namespace {

// Formats the fraction of v/10^prec (e.g. ".12345") to the left of buf[w], dropping trailing
// zeros, and the point too when the fraction is 0. Returns v/10^prec. Go: fmtFrac.
std::uint64_t fmt_frac(char* buf, std::size_t& w, std::uint64_t v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    const auto digit = static_cast<char>(v % 10);
    print = print || digit != 0;
    if (print) buf[--w] = static_cast<char>('0' + digit);
    v /= 10;
  }
  if (print) buf[--w] = '.';
  return v;
}

// Formats v to the left of buf[w]. Go: fmtInt.
void fmt_int(char* buf, std::size_t& w, std::uint64_t v) {
  if (v == 0) {
    buf[--w] = '0';
    return;
  }
  for (; v > 0; v /= 10) buf[--w] = static_cast<char>('0' + v % 10);
}

// Decodes one UTF-8 sequence at the start of s (non-empty) as Go's utf8.DecodeRuneInString
// does: returns its length, and sets `printable_ascii` for a rune in [0x20, 0x80). Any invalid
// byte (stray continuation, overlong form, surrogate, above U+10FFFF) is a sequence of length 1.
std::size_t utf8_width(std::string_view s, bool& printable_ascii) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  printable_ascii = b0 >= 0x20 && b0 < 0x80;
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 1;
  }
  if (s.size() < n) return 1;
  const auto b1 = static_cast<unsigned char>(s[1]);
  if (b1 < lo || b1 > hi) return 1;
  for (std::size_t i = 2; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80 || b > 0xBF) return 1;
  }
  return n;
}

// Go's time-package quote (not strconv.Quote): printable ASCII as is with `"` and `\` escaped;
// every byte of a control or non-ASCII character, valid or not, as \xNN.
std::string quote(std::string_view s) {
  static constexpr char lowerhex[] = "0123456789abcdef";
  std::string buf;
  buf.reserve(s.size() + 2);
  buf += '"';
  for (std::size_t i = 0; i < s.size();) {
    bool plain = false;
    const std::size_t width = utf8_width(s.substr(i), plain);
    if (!plain) {
      for (std::size_t j = 0; j < width; ++j) {
        const auto b = static_cast<unsigned char>(s[i + j]);
        buf += "\\x";
        buf += lowerhex[b >> 4];
        buf += lowerhex[b & 0xF];
      }
    } else {
      if (s[i] == '"' || s[i] == '\\') buf += '\\';
      buf += s[i];
    }
    i += width;
  }
  buf += '"';
  return buf;
}

[[noreturn]] void invalid(std::string_view orig) {
  throw std::invalid_argument("time: invalid duration " + quote(orig));
}

constexpr std::uint64_t two63 = std::uint64_t{1} << 63;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Consumes the leading [0-9]* of s into x; false on overflow past 2^63. Go: leadingInt.
bool leading_int(std::string_view& s, std::uint64_t& x) {
  x = 0;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (x > two63 / 10) return false;
    x = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (x > two63) return false;
  }
  s.remove_prefix(i);
  return true;
}

// Consumes the leading [0-9]* of s, a fraction's digits: value x / scale. Digits past what fits
// are consumed but ignored, never an error. Go: leadingFraction.
void leading_fraction(std::string_view& s, std::uint64_t& x, double& scale) {
  x = 0;
  scale = 1;
  bool overflow = false;
  std::size_t i = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) {
    if (overflow) continue;
    if (x > (two63 - 1) / 10) {
      overflow = true;
      continue;
    }
    const std::uint64_t y = x * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (y > two63) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  s.remove_prefix(i);
}

// Go: unitMap. 0 for an unknown unit.
std::uint64_t unit_nanoseconds(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\u00b5s" || u == "\u03bcs") return 1'000;
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60'000'000'000;
  if (u == "h") return 3'600'000'000'000;
  return 0;
}

}  // namespace

std::string format_duration(std::chrono::nanoseconds d) {
  // Largest: "-2562047h47m16.854775808s", 25 bytes.
  std::array<char, 32> buf{};
  std::size_t w = buf.size();
  const std::int64_t n = d.count();
  const bool neg = n < 0;
  std::uint64_t u = static_cast<std::uint64_t>(n);
  if (neg) u = -u;  // well defined for INT64_MIN too: 2^63

  if (u < 1'000'000'000) {
    // Below one second use a smaller unit, like 1.2ms.
    if (u == 0) return "0s";
    int prec = 0;
    buf[--w] = 's';
    if (u < 1'000) {
      prec = 0;
      buf[--w] = 'n';
    } else if (u < 1'000'000) {
      prec = 3;
      buf[--w] = '\xb5';  // U+00B5 MICRO SIGN is 0xC2 0xB5 in UTF-8
      buf[--w] = '\xc2';
    } else {
      prec = 6;
      buf[--w] = 'm';
    }
    u = fmt_frac(buf.data(), w, u, prec);
    fmt_int(buf.data(), w, u);
  } else {
    buf[--w] = 's';
    u = fmt_frac(buf.data(), w, u, 9);
    // u is now whole seconds.
    fmt_int(buf.data(), w, u % 60);
    u /= 60;
    if (u > 0) {  // minutes
      buf[--w] = 'm';
      fmt_int(buf.data(), w, u % 60);
      u /= 60;
      // Stop at hours because days can be different lengths.
      if (u > 0) {
        buf[--w] = 'h';
        fmt_int(buf.data(), w, u);
      }
    }
  }
  if (neg) buf[--w] = '-';
  return std::string(buf.data() + w, buf.size() - w);
}

std::chrono::nanoseconds parse_duration(std::string_view s) {
  // [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+
  const std::string_view orig = s;
  std::uint64_t d = 0;
  bool neg = false;

  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  // Special case: if all that is left is "0", this is zero.
  if (s == "0") return std::chrono::nanoseconds{0};
  if (s.empty()) invalid(orig);

  while (!s.empty()) {
    std::uint64_t v = 0, f = 0;  // integers before and after the point
    double scale = 1;            // value = v + f/scale

    // The next character must be [0-9.].
    if (!(s[0] == '.' || is_digit(s[0]))) invalid(orig);
    // [0-9]*
    const std::size_t before_int = s.size();
    if (!leading_int(s, v)) invalid(orig);
    const bool pre = before_int != s.size();  // digits before the point?

    // (\.[0-9]*)?
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      const std::size_t before_frac = s.size();
      leading_fraction(s, f, scale);
      post = before_frac != s.size();
    }
    if (!pre && !post) invalid(orig);  // no digits, e.g. ".s" or "-.s"

    // The unit runs to the next number: any bytes but [0-9.], so "1 s" names the unit " s".
    std::size_t i = 0;
    while (i < s.size() && !(s[i] == '.' || is_digit(s[i]))) ++i;
    if (i == 0) throw std::invalid_argument("time: missing unit in duration " + quote(orig));
    const std::string_view u = s.substr(0, i);
    s.remove_prefix(i);
    const std::uint64_t unit = unit_nanoseconds(u);
    if (unit == 0) {
      throw std::invalid_argument("time: unknown unit " + quote(u) + " in duration " + quote(orig));
    }
    if (v > two63 / unit) invalid(orig);
    v *= unit;
    if (f > 0) {
      // A double is needed to be nanosecond accurate for fractions of hours; f*unit/scale is at
      // most 3.6e12 (ns per hour), so the conversion back to an integer is exact and in range.
      v += static_cast<std::uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > two63) invalid(orig);
    }
    d += v;
    if (d > two63) invalid(orig);
  }
  if (neg) return std::chrono::nanoseconds{static_cast<std::int64_t>(-d)};  // -2^63 fits
  if (d > two63 - 1) invalid(orig);
  return std::chrono::nanoseconds{static_cast<std::int64_t>(d)};
}

}  // namespace gopp
