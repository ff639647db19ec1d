// CScionKernels: the few kernels Swift cannot make fast (see quantized_dot.c for why), and the
// CPU's spin-wait hint.
#ifndef SCION_KERNELS_H
#define SCION_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Block formats of the quantized decode kernels (GGML layouts: Q8_0 34 bytes, Q4_0 18, Q4_1 20 per 32 weights).
enum scion_quant_format { SCION_Q8_0 = 0, SCION_Q4_0 = 1, SCION_Q4_1 = 2 };

/// 1 when this CPU and OS run the AVX-512 kernels below, else 0 (always 0 off x86-64).
int scion_quant_avx512_available(void);

/// Quantizes x (`blocks` × 32 floats) per block of 32 to int16 as QuantizedMatrix.integerVectorProduct
/// does (scale max|x_b|/32767, round to nearest even), writing the values in the kernel's register order
/// for `format` (see quantized_dot.c), each block's scale and its sum. Returns 0 (outputs partly
/// written) when x holds a NaN or an infinity. Requires scion_quant_avx512_available().
int scion_quant_quantize_x_avx512(int format, const float *x, int blocks, int16_t *out, float *scales, float *sums);

/// out[r - r0] for rows r in [r0, r1) of a row-major quantized matrix (`row_bytes` bytes per row,
/// `blocks` blocks of 32 weights per row) times one input vector quantized per block of 32 to int16
/// by scion_quant_quantize_x_avx512 (`x`):
/// out = Σ_b d_b·x_scale[b]·(q_b · x_b) + m_b·x_sum[b], where m_b is Q4_1's minimum, −8·d_b for Q4_0
/// and 0 for Q8_0. The integer block dot products are exact (int32). Requires
/// scion_quant_avx512_available().
void scion_quant_rows_avx512(int format, const uint8_t *base, size_t row_bytes, int blocks,
                             const int16_t *x, const float *x_scale, const float *x_sum,
                             float *out, int r0, int r1);

/// The CPU's spin-wait hint (x86 `pause`), for WorkerPool's idle loop; Swift cannot emit it.
static inline void scion_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif

#endif
