// Decode-time (one input row) dot products of GGML-quantized weight rows (Q8_0, Q4_0, Q4_1) with an
// int16-quantized input, in AVX-512 (BW + F16C).
//
// Why C: Swift targets baseline x86-64 (SSE2) unless built with `-Xcc -march=…`/`-target-cpu`, flags
// SwiftPM accepts only as unsafeFlags of a root package, so a library cannot ship AVX-512 code in
// Swift; C functions can carry a per-function target attribute and be chosen at run time
// (shared/design/PERFORMANCE.md §"Swift code generation"). The Swift SSE2 kernel
// (QuantizedMatrix.integerRows) stays the fallback and the reference; both compute the same exact
// int32 block sums, so only the float accumulation order differs.
//
// Math (as QuantizedMatrix.integerVectorProduct): for row r and block b, p = Σ_j q_j·x16_j in int32
// (|q| ≤ 127, |x16| ≤ 32767, 32 terms: exact), then y_r = Σ_b (d_b·s_b)·p_b + m_b·Σx_b.
// Layouts follow ggml (ggml-common.h): Q8_0 {fp16 d; int8 qs[32]}, Q4_0 {fp16 d; uint8 qs[16]} with
// value d·(q − 8), Q4_1 {fp16 d; fp16 m; uint8 qs[16]} with value d·q + m; a nibble byte j holds
// element j (low 4 bits) and element j + 16 (high 4 bits).

#include "scion_kernels.h"

static inline int nibble_element(int g, int i) {
    static const int base[4] = {0, 16, 1, 17};
    return 2 * i + base[g];
}

#if defined(__x86_64__)
#include <immintrin.h>

int scion_quant_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("fma");
}

#define SCION_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma")))

// Weights are widened without cross-lane shuffles (AVX-512's shuffles all share one port, which
// bounded the first version of this kernel): a block's bytes are read as 16-bit words and broadcast to
// every 128-bit (nibbles) or 256-bit (Q8_0) lane of a register, and per-lane variable shifts pick a
// different nibble or byte in each lane. The weights then sit in a fixed permuted order, so x is
// quantized straight into the same order (`quantize_x`), and the inner loop is load, shift, mask,
// multiply-add, convert, scale.
//
// Nibble blocks: word i (0..7) = byte 2i | byte 2i+1 << 8 holds elements 2i (bits 0-3), 2i+16 (4-7),
// 2i+1 (8-11) and 2i+17 (12-15); lane g of the register takes the nibble at bits 4g, so register
// position 8g + i holds element nibble_element(g, i). Q8_0: word i (0..15) holds elements 2i (low byte)
// and 2i+1 (high byte); 256-bit half h takes byte h, so position 16h + i holds element 2i + h.

/// The 32 weights of a nibble block (16 bytes at qs) as int16, in register order.
SCION_AVX512 static inline __m512i nibbles16(const uint8_t *qs, __m512i shifts, __m512i mask) {
    const __m512i w = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qs));
    return _mm512_and_si512(_mm512_srlv_epi16(w, shifts), mask);
}

/// The 32 weights of a Q8_0 block (32 int8 at qs) as int16, in register order.
SCION_AVX512 static inline __m512i bytes16(const uint8_t *qs, __m512i left) {
    const __m512i w = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
    return _mm512_srai_epi16(_mm512_sllv_epi16(w, left), 8);
}

/// fp16 at p as float.
SCION_AVX512 static inline float half_at(const uint8_t *p) {
    uint16_t h;
    __builtin_memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// Rows [r0, r1) for one format (a compile-time constant in each caller below); x is in register order.
SCION_AVX512 static inline void rows_impl(int format, const uint8_t *base, size_t row_bytes, int blocks,
                                          const int16_t *x, const float *x_scale, const float *x_sum,
                                          const float *xs2, float *out, int r0, int r1) {
    const size_t block_bytes = format == SCION_Q8_0 ? 34 : (format == SCION_Q4_0 ? 18 : 20);
    const size_t qs_offset = format == SCION_Q4_1 ? 4 : 2;
    const __m512i nibble_shifts = _mm512_set_epi64(
        0x000C000C000C000CLL, 0x000C000C000C000CLL, 0x0008000800080008LL, 0x0008000800080008LL,
        0x0004000400040004LL, 0x0004000400040004LL, 0, 0);
    const __m512i byte_left = _mm512_set_epi64(0, 0, 0, 0, 0x0008000800080008LL, 0x0008000800080008LL,
                                               0x0008000800080008LL, 0x0008000800080008LL);
    const __m512i mask = _mm512_set1_epi16(0x000F);
#define SCION_WIDEN(p) (format == SCION_Q8_0 ? bytes16((p) + qs_offset, byte_left) : nibbles16((p) + qs_offset, nibble_shifts, mask))
#define SCION_D(p) half_at(p)
#define SCION_M(p, d) (format == SCION_Q8_0 ? 0.0f : (format == SCION_Q4_0 ? -8.0f * (d) : half_at((p) + 2)))
    int r = r0;
    if (format == SCION_Q4_1 && xs2 != 0) {
        // Q4_1: a block's (d, m) are converted together and multiplied by (s_b, Σx_b) in one 128-bit
        // step; lane 0 is the block's scale, lane 1 accumulates the minimum's term.
        for (; r + 1 < r1; r += 2) {
            const uint8_t *row0 = base + (size_t)r * row_bytes, *row1 = row0 + row_bytes;
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            __m128 dm_acc0 = _mm_setzero_ps(), dm_acc1 = _mm_setzero_ps();
            for (int b = 0; b < blocks; b++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + (size_t)b * 32));
                const uint8_t *p0 = row0 + (size_t)b * block_bytes, *p1 = row1 + (size_t)b * block_bytes;
                const __m128 xs = _mm_castpd_ps(_mm_load_sd((const double *)(xs2 + 2 * (size_t)b)));
                int32_t h0, h1;
                __builtin_memcpy(&h0, p0, 4);
                __builtin_memcpy(&h1, p1, 4);
                const __m128 dm0 = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h0)), xs);
                const __m128 dm1 = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h1)), xs);
                acc0 = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm0), _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p0), xv)), acc0);
                acc1 = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm1), _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p1), xv)), acc1);
                dm_acc0 = _mm_add_ps(dm_acc0, dm0);
                dm_acc1 = _mm_add_ps(dm_acc1, dm1);
            }
            out[r - r0] = _mm512_reduce_add_ps(acc0) + _mm_cvtss_f32(_mm_movehdup_ps(dm_acc0));
            out[r + 1 - r0] = _mm512_reduce_add_ps(acc1) + _mm_cvtss_f32(_mm_movehdup_ps(dm_acc1));
        }
        // The last row alone, with the same arithmetic (a row's bits must not depend on how the
        // rows were split over threads).
        if (r < r1) {
            const uint8_t *row = base + (size_t)r * row_bytes;
            __m512 acc = _mm512_setzero_ps();
            __m128 dm_acc = _mm_setzero_ps();
            for (int b = 0; b < blocks; b++) {
                const __m512i xv = _mm512_loadu_si512((const void *)(x + (size_t)b * 32));
                const uint8_t *p = row + (size_t)b * block_bytes;
                const __m128 xs = _mm_castpd_ps(_mm_load_sd((const double *)(xs2 + 2 * (size_t)b)));
                int32_t h;
                __builtin_memcpy(&h, p, 4);
                const __m128 dm = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h)), xs);
                acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm), _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p), xv)), acc);
                dm_acc = _mm_add_ps(dm_acc, dm);
            }
            out[r - r0] = _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(_mm_movehdup_ps(dm_acc));
        }
        return;
    }
    // Two rows at a time share the loads of x.
    for (; r + 1 < r1; r += 2) {
        const uint8_t *row0 = base + (size_t)r * row_bytes, *row1 = row0 + row_bytes;
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        float off0 = 0, off1 = 0;
        for (int b = 0; b < blocks; b++) {
            const __m512i xv = _mm512_loadu_si512((const void *)(x + (size_t)b * 32));
            const uint8_t *p0 = row0 + (size_t)b * block_bytes, *p1 = row1 + (size_t)b * block_bytes;
            const float d0 = SCION_D(p0), d1 = SCION_D(p1), s = x_scale[b];
            const __m512 q0 = _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p0), xv));
            const __m512 q1 = _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p1), xv));
            acc0 = _mm512_fmadd_ps(_mm512_set1_ps(d0 * s), q0, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_set1_ps(d1 * s), q1, acc1);
            if (format != SCION_Q8_0) {
                off0 += SCION_M(p0, d0) * x_sum[b];
                off1 += SCION_M(p1, d1) * x_sum[b];
            }
        }
        out[r - r0] = _mm512_reduce_add_ps(acc0) + off0;
        out[r + 1 - r0] = _mm512_reduce_add_ps(acc1) + off1;
    }
    if (r < r1) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        __m512 acc = _mm512_setzero_ps();
        float off = 0;
        for (int b = 0; b < blocks; b++) {
            const __m512i xv = _mm512_loadu_si512((const void *)(x + (size_t)b * 32));
            const uint8_t *p = row + (size_t)b * block_bytes;
            const float d = SCION_D(p);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d * x_scale[b]), _mm512_cvtepi32_ps(_mm512_madd_epi16(SCION_WIDEN(p), xv)), acc);
            if (format != SCION_Q8_0) off += SCION_M(p, d) * x_sum[b];
        }
        out[r - r0] = _mm512_reduce_add_ps(acc) + off;
    }
#undef SCION_WIDEN
#undef SCION_D
#undef SCION_M
}

SCION_AVX512 static void rows_q8_0(const uint8_t *base, size_t rb, int blocks, const int16_t *x, const float *s,
                                   const float *sum, float *out, int r0, int r1) {
    rows_impl(SCION_Q8_0, base, rb, blocks, x, s, sum, 0, out, r0, r1);
}
SCION_AVX512 static void rows_q4_0(const uint8_t *base, size_t rb, int blocks, const int16_t *x, const float *s,
                                   const float *sum, float *out, int r0, int r1) {
    rows_impl(SCION_Q4_0, base, rb, blocks, x, s, sum, 0, out, r0, r1);
}
SCION_AVX512 static void rows_q4_1(const uint8_t *base, size_t rb, int blocks, const int16_t *x, const float *s,
                                   const float *sum, float *out, int r0, int r1) {
    // (s_b, Σx_b) interleaved for the paired (d, m) step; very long rows take the scalar path.
    float xs2[2 * 4096];
    const int paired = blocks <= 4096;
    if (paired) for (int b = 0; b < blocks; b++) { xs2[2 * b] = s[b]; xs2[2 * b + 1] = sum[b]; }
    rows_impl(SCION_Q4_1, base, rb, blocks, x, s, sum, paired ? xs2 : 0, out, r0, r1);
}

SCION_AVX512 static int quantize_x(int format, const float *x, int blocks, int16_t *out, float *scales, float *sums) {
    // Register order of one block: out[p] = x16[order[p]] (see the layout comment above).
    int16_t order[32];
    for (int p = 0; p < 32; p++) {
        if (format == SCION_Q8_0) order[p] = (int16_t)(2 * (p % 16) + p / 16);
        else order[p] = (int16_t)nibble_element(p / 8, p % 8);
    }
    const __m512i index = _mm512_loadu_si512((const void *)order);
    for (int b = 0; b < blocks; b++) {
        const __m512 v0 = _mm512_loadu_ps(x + (size_t)b * 32), v1 = _mm512_loadu_ps(x + (size_t)b * 32 + 16);
        if (_mm512_cmp_ps_mask(v0, v0, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(v1, v1, _CMP_UNORD_Q)) return 0;
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        if (!(amax <= 3.4028234663852886e38f)) return 0;                  // infinite
        const float inverse = amax > 0 ? 32767 / amax : 0;
        const __m512 k = _mm512_set1_ps(inverse);
        // Round to nearest even (the default rounding mode), saturate to int16 (|v·inverse| ≤ 32767.5).
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, k)), q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, k));
        const __m512i lim = _mm512_set1_epi32(32767), nlim = _mm512_set1_epi32(-32767);
        const __m256i h0 = _mm512_cvtepi32_epi16(_mm512_max_epi32(_mm512_min_epi32(q0, lim), nlim));
        const __m256i h1 = _mm512_cvtepi32_epi16(_mm512_max_epi32(_mm512_min_epi32(q1, lim), nlim));
        const __m512i natural = _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1);
        _mm512_storeu_si512((void *)(out + (size_t)b * 32), _mm512_permutexvar_epi16(index, natural));
        scales[b] = amax / 32767;
        sums[b] = _mm512_reduce_add_ps(_mm512_add_ps(v0, v1));
    }
    return 1;
}

int scion_quant_quantize_x_avx512(int format, const float *x, int blocks, int16_t *out, float *scales, float *sums) {
    return quantize_x(format, x, blocks, out, scales, sums);
}

void scion_quant_rows_avx512(int format, const uint8_t *base, size_t row_bytes, int blocks,
                             const int16_t *x, const float *x_scale, const float *x_sum,
                             float *out, int r0, int r1) {
    switch (format) {
    case SCION_Q8_0: rows_q8_0(base, row_bytes, blocks, x, x_scale, x_sum, out, r0, r1); break;
    case SCION_Q4_0: rows_q4_0(base, row_bytes, blocks, x, x_scale, x_sum, out, r0, r1); break;
    default: rows_q4_1(base, row_bytes, blocks, x, x_scale, x_sum, out, r0, r1); break;
    }
}

#else

int scion_quant_avx512_available(void) { return 0; }

int scion_quant_quantize_x_avx512(int format, const float *x, int blocks, int16_t *out, float *scales, float *sums) {
    (void)format; (void)x; (void)blocks; (void)out; (void)scales; (void)sums;
    __builtin_trap();   // callers check scion_quant_avx512_available() first
}

void scion_quant_rows_avx512(int format, const uint8_t *base, size_t row_bytes, int blocks,
                             const int16_t *x, const float *x_scale, const float *x_sum,
                             float *out, int r0, int r1) {
    (void)format; (void)base; (void)row_bytes; (void)blocks; (void)x; (void)x_scale; (void)x_sum;
    (void)out; (void)r0; (void)r1;
    __builtin_trap();   // callers check scion_quant_avx512_available() first
}

#endif
