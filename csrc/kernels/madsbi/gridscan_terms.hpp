// Per-pair terms of the likelihood grid scan S[m, g] = Σ_e w_e log(c_me · φ_g) (docs/design.md,
// "Likelihood, test statistic, coverage"). Header templates: the CPU kernel
// (src/gridscan.cpp) and a CUDA kernel use the same dot product, log and clamping. (Not named
// gridscan.hpp: that name is the CPU API header in include/, which comes first on the path.)
//
// log_positive is fdlibm's __ieee754_log (x = 2^k (1 + f), s = f/(2 + f), the Lg1…Lg7
// minimax polynomial in s²) written without branches, so that a compiler vectorises a loop
// over it: fdlibm's early exits only save time. The reduction to 1 + f in [√2/2, √2) works on
// the whole 64-bit pattern (as in musl's newer log) with integer operations AVX2 has.
#pragma once

#include <cstdint>
#include <cstring>

#include "madsbi/hd.hpp"

namespace madsbi {

namespace gridscan_detail {

MADSBI_HD std::uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

MADSBI_HD double double_of(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// Exact int64 → double for |k| < 2^51 through the exponent field: AVX2 has no packed
// int64 → double conversion, this vectorises with integer adds and one subtraction.
MADSBI_HD double small_int_to_double(std::int64_t k) {
  constexpr std::uint64_t kMagic = 0x4338000000000000ULL;  // 1.5 · 2^52
  return double_of(kMagic + static_cast<std::uint64_t>(k)) - 0x1.8p52;
}

// c ? a : b by bit masks. Both values are computed before: a plain ?: of doubles lets GCC
// move their computation under a branch, which it then cannot if-convert under
// -ftrapping-math (the default), and the loop would not vectorise.
MADSBI_HD double select(bool c, double a, double b) {
  const std::uint64_t mask = std::uint64_t{0} - static_cast<std::uint64_t>(c);
  return double_of((bits_of(a) & mask) | (bits_of(b) & ~mask));
}

// Bits of √2/2: reductions write x = 2^k m with m in [√2/2, √2).
constexpr std::uint64_t kSqrtHalfBits = 0x3fe6a09e667f3bcdULL;
constexpr std::uint64_t kExponentMask = 0xfff0000000000000ULL;

// fdlibm's log(1 + f) for f in [√2/2 − 1, √2 − 1], plus k ln 2 (dk = k): s = f/(2 + f),
// R(s²) the Lg1…Lg7 minimax polynomial, and always fdlibm's more accurate form
// f − (f²/2 − s(f²/2 + R)) (fdlibm uses the shorter f − s(f − R) where that is accurate enough
// only to save time).
MADSBI_HD double log_reduced(double f, double dk) {
  constexpr double ln2_hi = 6.93147180369123816490e-01;  // 0x3fe62e42 fee00000
  constexpr double ln2_lo = 1.90821492927058770002e-10;  // 0x3dea39ef 35793c76
  constexpr double Lg1 = 6.666666666666735130e-01;
  constexpr double Lg2 = 3.999999999940941908e-01;
  constexpr double Lg3 = 2.857142874366239149e-01;
  constexpr double Lg4 = 2.222219843214978396e-01;
  constexpr double Lg5 = 1.818357216161805012e-01;
  constexpr double Lg6 = 1.531383769920937332e-01;
  constexpr double Lg7 = 1.479819860511658591e-01;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (Lg2 + w * (Lg4 + w * Lg6));
  const double t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
  const double R = t2 + t1;
  const double hfsq = 0.5 * f * f;
  return dk * ln2_hi - ((hfsq - (s * (hfsq + R) + dk * ln2_lo)) - f);
}

// For the bits b of a positive normal double x = 2^k m with m in [√2/2, √2): k·2^52 (two's
// complement), k + 1024, and m − 1 (exact).
struct Reduction {
  std::uint64_t top;        // k << 52
  std::uint64_t k_shifted;  // k + 1024, >= 0
  double f;                 // m − 1
};

MADSBI_HD Reduction reduce(std::uint64_t b) {
  const std::uint64_t ix = b - kSqrtHalfBits;
  Reduction r;
  r.top = ix & kExponentMask;
  // A logical shift of ix + 2^62 instead of an arithmetic shift of ix: AVX2 has no 64-bit
  // arithmetic shift.
  r.k_shifted = (ix + (std::uint64_t{1} << 62)) >> 52;
  r.f = double_of(b - r.top) - 1.0;
  return r;
}

// k (given as k + 1024 >= 0) − adjust, as a double.
MADSBI_HD double exponent_value(std::uint64_t k_shifted, double adjust) {
  return (small_int_to_double(static_cast<std::int64_t>(k_shifted)) - 1024.0) - adjust;
}

}  // namespace gridscan_detail

// Natural log of a finite x > 0 (normal or subnormal); any other x gives an unspecified
// value, never a trap, so that callers can compute it for every lane and select afterwards.
MADSBI_HD double log_positive(double x) {
  using gridscan_detail::bits_of;
  // Subnormals (and zero): scale into the normal range (exactly) and correct the exponent.
  // The test is an integer compare: GCC does not if-convert floating-point compares under
  // -ftrapping-math (the default).
  const bool subnormal = (bits_of(x) & 0x7ff0000000000000ULL) == 0;
  const double scaled = gridscan_detail::select(subnormal, x * 0x1p54, x);
  const gridscan_detail::Reduction r = gridscan_detail::reduce(bits_of(scaled));
  const double dk =
      gridscan_detail::exponent_value(r.k_shifted, gridscan_detail::select(subnormal, 54.0, 0.0));
  return gridscan_detail::log_reduced(r.f, dk);
}

// log(1 + u) for finite u > −1, accurate for small |u|. y = 1 + u is rounded; with its
// rounding error c = u − (y − 1) (exact), 1 + u = 2^k (m + c 2^−k), so the reduced argument
// is f = (m − 1) + c 2^−k. No division beyond the one of log_reduced, and y is never
// subnormal (y >= 2^−53).
MADSBI_HD double log1p_above_minus_one(double u) {
  using gridscan_detail::bits_of;
  using gridscan_detail::double_of;
  const double y = 1.0 + u;
  const double c = u - (y - 1.0);
  const gridscan_detail::Reduction r = gridscan_detail::reduce(bits_of(y));
  // 2^−(k+1) from its exponent field; for k = 1024 (y >= 2^1023 √2) this is a finite value
  // and c = 0 there (c vanishes for u > 2^53), so the product stays 0.
  const double half_scale = double_of(0x3fe0000000000000ULL - r.top);
  const double f = r.f + (c + c) * half_scale;
  return gridscan_detail::log_reduced(f, gridscan_detail::exponent_value(r.k_shifted, 0.0));
}

// Whether x is finite and > 0, by its bits (integer compares vectorise, see log_positive):
// as a signed integer, exactly the doubles in (0, +inf) lie in (0, bits(+inf)).
MADSBI_HD bool in_log_domain(double x) {
  const std::int64_t b = static_cast<std::int64_t>(gridscan_detail::bits_of(x));
  return b > 0 && b < 0x7ff0000000000000LL;
}

// Whether x is finite and > −1, by its bits: x in [+0, +inf), or x negative with a magnitude
// below 1 (sign bit set, bits below those of −1).
MADSBI_HD bool in_log1p_domain(double x) {
  const std::uint64_t b = gridscan_detail::bits_of(x);
  return b < 0x7ff0000000000000ULL || (b >= 0x8000000000000000ULL && b < 0xbff0000000000000ULL);
}

// Dot product Σ_{k=k_begin}^{K−1} c[k·stride] φ[k] in ascending k, for one pair. (The CPU kernel
// computes the same sums in the same order, blocked over events and grid points.)
template <typename T>
MADSBI_HD T pair_dot(const T* c, long long stride, const T* phi, int k_begin, int K) {
  T acc = T(0);
  for (int k = k_begin; k < K; ++k) acc += c[k * stride] * phi[k];
  return acc;
}

// log(x) for the dot product x = c·φ (LOG1P false) or log1p(x) for x = Σ_{k≥1} c_k φ_k
// (LOG1P true, when c_0 = φ_0 = 1). Arguments outside the domain (x <= 0, resp. x <= −1, or
// non-finite) give log_floor and set `clamped`.
template <bool LOG1P>
MADSBI_HD double pair_log(double x, double log_floor, bool& clamped) {
  const bool ok = LOG1P ? in_log1p_domain(x) : in_log_domain(x);
  clamped = !ok;
  const double safe = gridscan_detail::select(ok, x, LOG1P ? 0.0 : 1.0);
  const double value = LOG1P ? log1p_above_minus_one(safe) : log_positive(safe);
  return gridscan_detail::select(ok, value, log_floor);
}

}  // namespace madsbi
