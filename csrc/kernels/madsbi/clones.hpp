// MADSBI_CLONES: GCC/Clang on x86-64 also compile an AVX2+FMA version of the function, picked at
// load time when the CPU has it. The two versions differ in the last bits (FMA contraction),
// each is deterministic. CPU sources only (not nvcc).
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define MADSBI_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MADSBI_CLONES
#endif
