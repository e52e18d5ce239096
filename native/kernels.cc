// xai3d's native CPU kernels (AVX2 + FMA): the stride-1 3D convolution (register tiles, with an optional bias + ReLU
// epilogue), the dot-product convolution for few output channels, the filter gradient and the zero padding of a
// convolution's input: the work of a training step and of an LRP pass, almost all of it. They take the same arguments
// as the WebAssembly SIMD kernels of the same names (lib/backend/simd/kernels.wat: byte offsets into
// tfjs-backend-wasm's memory, strides in bytes) and read and write that memory in place: the wasm backend keeps its
// tensors, only the arithmetic moves here.
//
// Why native: 128-bit wasm SIMD has no fused multiply-add and half the vector width, so the wasm convolutions ran at
// 17-25 GFLOP/s per thread; these run at 75-164 GFLOP/s on two threads (npm run bench -- conv3d).
//
// Determinism: every output element is computed by one thread in a fixed order (convolution: taps in offs order;
// filter gradient: positions in plane blocks, float32 within a block, float64 across blocks; a first layer's few
// tiles split by two fixed halves of the planes), so results do not depend on the number of threads (tested).
//
// Built by node-gyp (binding.gyp) when the package is installed; lib/backend/native.ts loads it and falls back to the
// wasm kernels when it is missing or the CPU lacks AVX2/FMA.
#include <node_api.h>
#include <immintrin.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

#define XAI3D_TARGET __attribute__((target("avx2,fma")))

// ------------------------------------------------------------------ thread pool
// One call at a time (Node's main thread calls in); part 0 runs on the caller, parts 1.. on workers.
class Pool {
 public:
  explicit Pool(int threads) : threads_(threads < 1 ? 1 : threads) {
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this, i] { loop(i); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      generation_++;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return threads_; }
  // Run fn(part) for part in [0, threads()) and wait for all.
  void run(const std::function<void(int)>& fn) {
    if (threads_ == 1) {
      fn(0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      pending_ = threads_ - 1;
      generation_++;
    }
    cv_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [this] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void loop(int part) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)>* fn;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        fn = fn_;
      }
      (*fn)(part);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
      }
    }
  }
  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  const std::function<void(int)>* fn_ = nullptr;
  int pending_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool* pool = nullptr;

// Split [0, total) into `parts` contiguous ranges; range i.
inline void share(int64_t total, int parts, int i, int64_t* a, int64_t* b) {
  *a = total * i / parts;
  *b = total * (i + 1) / parts;
}

// fn(r0, r1) over [0, total) split into one contiguous range per thread of the pool.
template <typename Fn>
void parallelRows(int64_t total, Fn fn) {
  const int parts = pool->threads();
  pool->run([&](int i) {
    int64_t r0, r1;
    share(total, parts, i, &r0, &r1);
    fn(r0, r1);
  });
}

// ------------------------------------------------------------------ convolution
// y[m, f] = sum_k xp[base(m) + offs[k]] * w[k, f], as kernels.wat "conv": xp the zero-padded input, w [K, Fo],
// offs int32[K] byte offsets, y [N, Do, Ho, Wo, Fo], Fo a multiple of 8. A tile is P consecutive outputs of a row
// times FV vectors of 8 filters, its P * FV sums in registers over all K taps.
// The accumulators are named variables, not an array: GCC keeps an array of __m256 in registers but also stores it
// to the stack on every tap (twice the stores of the arithmetic). XAI3D_ROWS(X) expands X(i) for rows 0..7.
#define XAI3D_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

// What a convolution does to each output before storing it, in this order, each step one float32 rounding, so the
// same bits as the separate kernels (bias-add, Relu, Multiply, Add, Xai3dStabilisedDivide):
//   v = acc + bias[f];  v = max(0, v) + 0 (ReLU: -0 -> +0, NaN stays NaN);  v = mul[e] * v;  v = add[e] + v;
//   v = divR[e] / (v + (v >= 0 ? eps : -eps))   (LRP's stabilised division R / s(z); NaN takes -eps)
// where e is the output element. mul, add and divR have the output's layout: they are reached from the output
// pointer by a fixed distance (in floats), 0 when absent. Explicit intrinsics (and -ffp-contract=off): no step is
// merged with the next into a fused multiply-add.
struct Post {
  const float* bias;  // per output channel, or nullptr
  bool relu;
  ptrdiff_t mul, add, divR;  // distance from the output element, in floats; 0: none
  float eps;
  bool addSelf = false;  // v = y[e] + v after add: the value already stored there (a first term's output)
};

// eps where v >= 0, else -eps (NaN: -eps): the sign term of LRP's stabiliser s(v) = v + eps sign(v).
XAI3D_TARGET inline __m256 stabiliserOf(__m256 v, float eps) {
  const __m256 pe = _mm256_set1_ps(eps);
  return _mm256_blendv_ps(_mm256_sub_ps(_mm256_setzero_ps(), pe), pe, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
}

XAI3D_TARGET inline __m256 finish(__m256 v, const float* bias, const Post& p, const float* y) {
  if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
  if (p.relu) v = _mm256_add_ps(_mm256_max_ps(_mm256_setzero_ps(), v), _mm256_setzero_ps());
  if (p.mul) v = _mm256_mul_ps(_mm256_loadu_ps(y + p.mul), v);
  if (p.add) v = _mm256_add_ps(_mm256_loadu_ps(y + p.add), v);
  if (p.addSelf) v = _mm256_add_ps(_mm256_loadu_ps(y), v);
  if (p.divR) v = _mm256_div_ps(_mm256_loadu_ps(y + p.divR), _mm256_add_ps(v, stabiliserOf(v, p.eps)));
  return v;
}

// The same for one output (no bias or ReLU: the dot-product kernels have neither).
XAI3D_TARGET inline float finish1(float acc, const Post& p, const float* y) {
  __m128 v = _mm_set_ss(acc);
  if (p.mul) v = _mm_mul_ss(_mm_set_ss(y[p.mul]), v);
  if (p.add) v = _mm_add_ss(_mm_set_ss(y[p.add]), v);
  if (p.divR) {
    const float z = _mm_cvtss_f32(v);
    v = _mm_div_ss(_mm_set_ss(y[p.divR]), _mm_add_ss(v, _mm_set_ss(z >= 0 ? p.eps : -p.eps)));
  }
  return _mm_cvtss_f32(v);
}

// The lane sums of eight accumulators at once, by a tree of horizontal adds: lane k of the result is
// ((a_k[0] + a_k[1]) + (a_k[2] + a_k[3])) + ((a_k[4] + a_k[5]) + (a_k[6] + a_k[7])), the same formula for every k.
XAI3D_TARGET inline __m256 tree8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20), _mm256_permute2f128_ps(h0, h1, 0x31));
}

// Eight outputs of one filter (8 consecutive positions, Fo floats apart) through the epilogue.
XAI3D_TARGET inline void storeGroup8(__m256 sums, float* y, uint32_t Fo, const Post& post) {
  if (Fo == 1) {
    _mm256_storeu_ps(y, finish(sums, nullptr, post, y));
  } else {
    alignas(32) float v[8];
    _mm256_store_ps(v, sums);
    for (int i = 0; i < 8; i++) y[static_cast<size_t>(i) * Fo] = finish1(v[i], post, y + static_cast<size_t>(i) * Fo);
  }
}

// ------------------------------------------------------------------ 3-wide row variants
// For a filter 3 wide, the input at position q of a kernel row is read by the three taps e = 0, 1, 2 of the outputs
// q - e. The row variants load (or broadcast) it once and update all three: P + 2 loads for 3P multiply-adds per
// weight vector instead of 3P. Per output the updates still come in tap order (and channel blocks in order within a
// tap), so each output's FMA chain, and its bits, are those of the generic kernels.
// Accumulators: eight named members reached by a compile-time index (an array of __m256 GCC keeps in registers but
// also stores to the stack on every update).
struct Acc8 {
  __m256 a0, a1, a2, a3, a4, a5, a6, a7;
};

XAI3D_TARGET inline Acc8 zeros8() {
  const __m256 z = _mm256_setzero_ps();
  return Acc8{z, z, z, z, z, z, z, z};
}

template <int I>
XAI3D_TARGET inline __m256& acc(Acc8& A) {
  static_assert(I >= 0 && I < 8, "accumulator index");
  if constexpr (I == 0) return A.a0;
  else if constexpr (I == 1) return A.a1;
  else if constexpr (I == 2) return A.a2;
  else if constexpr (I == 3) return A.a3;
  else if constexpr (I == 4) return A.a4;
  else if constexpr (I == 5) return A.a5;
  else if constexpr (I == 6) return A.a6;
  else return A.a7;
}

// The input x at row position Q, for P outputs with G weight vectors each (accumulator G * i + g): output i = Q - e
// gets x * w[e][g] for the taps e with 0 <= i < P.
template <int Q, int E, int P, int G>
XAI3D_TARGET inline void rowTap(Acc8& A, __m256 x, const __m256 (&w)[3][G]) {
  constexpr int i = Q - E;
  if constexpr (i >= 0 && i < P) {
    acc<G * i>(A) = _mm256_fmadd_ps(x, w[E][0], acc<G * i>(A));
    if constexpr (G > 1) acc<G * i + 1>(A) = _mm256_fmadd_ps(x, w[E][1], acc<G * i + 1>(A));
  }
}

template <int Q, int P, int G>
XAI3D_TARGET inline void rowStep(Acc8& A, __m256 x, const __m256 (&w)[3][G]) {
  rowTap<Q, 0, P, G>(A, x, w);
  rowTap<Q, 1, P, G>(A, x, w);
  rowTap<Q, 2, P, G>(A, x, w);
}

// The register tiles for one input channel (a first layer; K counts taps): P outputs times FV vectors of 8 filters,
// each input broadcast once; the epilogue as convTile's.
template <int P, int FV, int... Q>
XAI3D_TARGET inline void convTileRow(const uint8_t* p, uint32_t xsW, const float* w, uint32_t Fo, const int32_t* offs,
                                     uint32_t J, float* y, const float* bias, const Post& post, std::integer_sequence<int, Q...>) {
  static_assert(P * FV == 8, "eight accumulators");
  Acc8 A = zeros8();
  for (uint32_t j = 0; j < J; j++) {
    const uint8_t* pk = p + offs[3 * j];
    __m256 wv[3][FV];
    for (int e = 0; e < 3; e++)
      for (int v = 0; v < FV; v++) wv[e][v] = _mm256_loadu_ps(w + static_cast<size_t>(3 * j + e) * Fo + 8 * v);
    (rowStep<Q, P, FV>(A, _mm256_broadcast_ss(reinterpret_cast<const float*>(pk + static_cast<size_t>(Q) * xsW)), wv), ...);
  }
  const __m256 r[8] = {A.a0, A.a1, A.a2, A.a3, A.a4, A.a5, A.a6, A.a7};
  for (int i = 0; i < P; i++)
    for (int v = 0; v < FV; v++) {
      float* yi = y + static_cast<size_t>(i) * Fo + 8 * v;
      _mm256_storeu_ps(yi, finish(r[FV * i + v], bias ? bias + 8 * v : nullptr, post, yi));
    }
}

template <int P, int FV>
XAI3D_TARGET inline void convTileRow(const uint8_t* p, uint32_t xsW, const float* w, uint32_t Fo, const int32_t* offs,
                                     uint32_t J, float* y, const float* bias, const Post& post) {
  convTileRow<P, FV>(p, xsW, w, Fo, offs, J, y, bias, post, std::make_integer_sequence<int, P + 2>{});
}

// The dot-product kernel's groups on CB blocks of 8 channels and NF filters (accumulator NF * i + f: output i of
// filter f; P * NF = 8), each input vector loaded once per block; reduced by tree8 (lane k = accumulator k).
template <int Q, int P, int NF, int CB>
XAI3D_TARGET inline void dotStep(Acc8& A, const float* pk, size_t s, const __m256 (&wv)[CB][3][NF]) {
  for (int b = 0; b < CB; b++) rowStep<Q, P, NF>(A, _mm256_loadu_ps(pk + static_cast<size_t>(Q) * s + 8 * b), wv[b]);
}

template <int P, int NF, int CB, int... Q>
XAI3D_TARGET inline __m256 dotRow(const uint8_t* p, size_t s, const float* const (&wf)[NF], const int32_t* toffs, uint32_t J,
                                  std::integer_sequence<int, Q...>) {
  static_assert(P * NF == 8, "eight accumulators");
  Acc8 A = zeros8();
  for (uint32_t j = 0; j < J; j++) {
    const float* pk = reinterpret_cast<const float*>(p + toffs[3 * j]);
    __m256 wv[CB][3][NF];
    for (int b = 0; b < CB; b++)
      for (int e = 0; e < 3; e++)
        for (int f = 0; f < NF; f++) wv[b][e][f] = _mm256_loadu_ps(wf[f] + static_cast<size_t>(3 * j + e) * (8 * CB) + 8 * b);
    (dotStep<Q, P, NF, CB>(A, pk, s, wv), ...);
  }
  return tree8(A.a0, A.a1, A.a2, A.a3, A.a4, A.a5, A.a6, A.a7);
}

template <int P, int NF, int CB>
XAI3D_TARGET inline __m256 dotRow(const uint8_t* p, size_t s, const float* const (&wf)[NF], const int32_t* toffs, uint32_t J) {
  return dotRow<P, NF, CB>(p, s, wf, toffs, J, std::make_integer_sequence<int, P + 2>{});
}


template <int P, int FV>
XAI3D_TARGET inline void convTile(const uint8_t* p, uint32_t xsW, const float* w, uint32_t Fo, const int32_t* offs,
                                  uint32_t K, float* y, const float* bias, const Post& post) {
  static_assert(P >= 1 && P <= 8 && FV >= 1 && FV <= 2, "tile size");
#define XAI3D_DECL(i) __m256 a##i##0 = _mm256_setzero_ps(), a##i##1 = _mm256_setzero_ps();
  XAI3D_ROWS(XAI3D_DECL)
#undef XAI3D_DECL
  for (uint32_t k = 0; k < K; k++) {
    const uint8_t* pk = p + offs[k];
    const float* wk = w + static_cast<size_t>(k) * Fo;
    const __m256 v0 = _mm256_loadu_ps(wk);
    const __m256 v1 = FV > 1 ? _mm256_loadu_ps(wk + 8) : _mm256_setzero_ps();
#define XAI3D_FMA(i)                                                                                     \
  if constexpr (P > i) {                                                                                 \
    const __m256 s = _mm256_broadcast_ss(reinterpret_cast<const float*>(pk + static_cast<size_t>(i) * xsW)); \
    a##i##0 = _mm256_fmadd_ps(s, v0, a##i##0);                                                           \
    if constexpr (FV > 1) a##i##1 = _mm256_fmadd_ps(s, v1, a##i##1);                                     \
  }
    XAI3D_ROWS(XAI3D_FMA)
#undef XAI3D_FMA
  }
#define XAI3D_STORE(i)                                                                                        \
  if constexpr (P > i) {                                                                                      \
    float* yi = y + static_cast<size_t>(i) * Fo;                                                              \
    _mm256_storeu_ps(yi, finish(a##i##0, bias, post, yi));                                                   \
    if constexpr (FV > 1) _mm256_storeu_ps(yi + 8, finish(a##i##1, bias ? bias + 8 : nullptr, post, yi + 8)); \
  }
  XAI3D_ROWS(XAI3D_STORE)
#undef XAI3D_STORE
}

template <int FV>
XAI3D_TARGET void convTileN(int n, const uint8_t* p, uint32_t xsW, const float* w, uint32_t Fo, const int32_t* offs,
                            uint32_t K, float* y, const float* b, const Post& post) {
  switch (n) {
    case 1: convTile<1, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 2: convTile<2, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 3: convTile<3, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 4: convTile<4, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 5: convTile<5, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 6: convTile<6, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    case 7: convTile<7, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
    default: convTile<8, FV>(p, xsW, w, Fo, offs, K, y, b, post); break;
  }
}

// The padded input's row under output row r = (n * Do + d) * Ho + h of a stride-1 convolution (Args: xp, Do, Ho
// and the byte strides xsH, xsD, xsN).
template <typename Args>
inline const uint8_t* inputRow(const uint8_t* heap, const Args& a, int64_t r) {
  const int64_t q = r / a.Ho;
  const int64_t n = q / a.Do;
  const int64_t d = q - n * a.Do;
  const int64_t h = r - q * a.Ho;
  return heap + a.xp + n * static_cast<int64_t>(a.xsN) + d * a.xsD + h * a.xsH;
}

struct ConvArgs {
  uint32_t xp, w, offs, y, Do, Ho, Wo, Fo, K, xsW, xsH, xsD, xsN;
  uint32_t bias;  // byte offset of float32[Fo] added to every output, 0 for none
  uint32_t relu;  // 1: max(y, 0) after the bias (-0 -> +0, NaN stays NaN, as the shipped Relu)
  uint32_t mul, add, divR;  // byte offsets of tensors of the output's shape (see Post), 0 for none
  uint32_t epsBits;  // the stabiliser of divR, as float32 bits
  // Two terms (xp2 != 0): y = post(term 1 + bias + term 2 + bias2), term 2 the convolution of xp2 (its own padded
  // input with the same strides) with w2 [K, Fo] over offs2. Each tile computes term 1 into y, then term 2, adding
  // the stored value (addSelf) before the division: the bits of two calls in a row, without z going through memory.
  uint32_t xp2, w2, bias2;
  uint32_t kW1;  // 3 when the input has one channel and the filter is 3 wide (offs[3j + e] = offs[3j] + e * xsW): the row variant
};

// The Post of a call: distances (in floats) from the output y to mul, add and divR.
inline Post postOf(uint8_t* heap, uint32_t y, const float* bias, uint32_t relu, uint32_t mul, uint32_t add, uint32_t divR, uint32_t epsBits) {
  Post p;
  p.bias = bias;
  p.relu = relu != 0;
  const auto dist = [&](uint32_t o) { return o ? (static_cast<ptrdiff_t>(o) - static_cast<ptrdiff_t>(y)) / 4 : ptrdiff_t{0}; };
  p.mul = dist(mul);
  p.add = dist(add);
  p.divR = dist(divR);
  std::memcpy(&p.eps, &epsBits, 4);
  (void)heap;
  return p;
}

// A run of n outputs of one row times 8 * FV filters: the row variant (one input channel, kW = 3, n = 8 / FV) or
// the generic tile.
template <int FV>
XAI3D_TARGET void convRun(bool row, int n, const uint8_t* p, uint32_t xsW, const float* w, uint32_t Fo, const int32_t* offs,
                          uint32_t K, float* y, const float* bias, const Post& post) {
  if (row)
    convTileRow<8 / FV, FV>(p, xsW, w, Fo, offs, K / 3, y, bias, post);
  else
    convTileN<FV>(n, p, xsW, w, Fo, offs, K, y, bias, post);
}

XAI3D_TARGET void convRows(uint8_t* heap, const ConvArgs& a, int64_t r0, int64_t r1) {
  const int32_t* offs = reinterpret_cast<const int32_t*>(heap + a.offs);
  const float* w = reinterpret_cast<const float*>(heap + a.w);
  const float* bias = a.bias ? reinterpret_cast<const float*>(heap + a.bias) : nullptr;
  Post post = postOf(heap, a.y, nullptr, a.relu, a.mul, a.add, a.divR, a.epsBits);
  const bool dual = a.xp2 != 0;
  const float* w2 = dual ? reinterpret_cast<const float*>(heap + a.w2) : nullptr;
  const float* bias2 = dual && a.bias2 ? reinterpret_cast<const float*>(heap + a.bias2) : nullptr;
  const Post first = postOf(heap, a.y, nullptr, 0, 0, 0, 0, 0);
  if (dual) post.addSelf = true;
  // One input channel (the channel stride is 4 bytes and K counts taps) with kW = 3: the row variant for full runs
  // (4 outputs x 16 filters, 8 x 8); otherwise, and for a row's last outputs, the generic tiles (6 x 16, 8 x 8).
  const bool k3 = a.kW1 == 3 && a.K % 3 == 0;
  for (int64_t r = r0; r < r1; r++) {
    const uint8_t* prow = inputRow(heap, a, r);
    const uint8_t* prow2 = dual ? heap + a.xp2 + (prow - (heap + a.xp)) : nullptr;
    float* yrow = reinterpret_cast<float*>(heap + a.y) + static_cast<size_t>(r) * a.Wo * a.Fo;
    // The outputs [w0, w0 + n) of filters [f, f + 8 FV): the first term, then with two terms the second, which adds
    // the stored first before its epilogue.
    const auto tile = [&](auto fv, uint32_t w0, uint32_t f, int n, bool row) {
      constexpr int FV = decltype(fv)::value;
      float* yt = yrow + static_cast<size_t>(w0) * a.Fo + f;
      const size_t o = static_cast<size_t>(w0) * a.xsW;
      convRun<FV>(row, n, prow + o, a.xsW, w + f, a.Fo, offs, a.K, yt, bias ? bias + f : nullptr, dual ? first : post);
      if (dual) convRun<FV>(row, n, prow2 + o, a.xsW, w2 + f, a.Fo, offs, a.K, yt, bias2 ? bias2 + f : nullptr, post);
    };
    const std::integral_constant<int, 2> two;
    const std::integral_constant<int, 1> one;
    const uint32_t step16 = k3 ? 4 : 6;
    uint32_t f = 0;
    for (; f + 16 <= a.Fo; f += 16)
      for (uint32_t w0 = 0; w0 < a.Wo; w0 += step16) {
        const int m = static_cast<int>(a.Wo - w0 < step16 ? a.Wo - w0 : step16);
        tile(two, w0, f, m, k3 && m == 4);
      }
    for (; f < a.Fo; f += 8)
      for (uint32_t w0 = 0; w0 < a.Wo; w0 += 8) {
        const int m = static_cast<int>(a.Wo - w0 < 8 ? a.Wo - w0 : 8);
        tile(one, w0, f, m, k3 && m == 8);
      }
  }
}

// ------------------------------------------------------------------ convolution, few output channels
// y[m, f] = sum over taps t < T and channels c < C of xp[base(m) + toffs[t] + 4c] * wT[f, t * C + c], as
// kernels.wat "convDot" (C a multiple of 4): dot products over channels, 8 (or 4) lanes at a time, for G = 4
// consecutive outputs of a row sharing each weight load; lanes summed in a fixed order at the end.
struct ConvDotArgs {
  uint32_t xp, wT, toffs, y, Do, Ho, Wo, Fo, T, C, xsW, xsH, xsD, xsN;
  uint32_t mul, add, divR, epsBits;  // as ConvArgs (no bias or ReLU)
  uint32_t mul2;  // pair mode (convDotPairRows) when nonzero: the second filter's multiplier
  uint32_t kW;    // the filter's width: 3 (with T a multiple of 3) lets C = 8 and 16 load each input once per kernel row
};

XAI3D_TARGET inline float hsum8(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

template <int G>
XAI3D_TARGET inline void dotGroup(const uint8_t* p, uint32_t xsW, const float* wf, const int32_t* toffs, uint32_t T,
                                  uint32_t C, float* y, uint32_t Fo, const Post& post) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  const uint32_t c8 = C & ~7u;
  for (uint32_t t = 0; t < T; t++) {
    const float* pk = reinterpret_cast<const float*>(p + toffs[t]);
    const float* pw = wf + static_cast<size_t>(t) * C;
    const size_t s = xsW / 4;
    uint32_t c = 0;
    for (; c < c8; c += 8) {
      const __m256 v = _mm256_loadu_ps(pw + c);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(pk + c), v, a0);
      if constexpr (G > 1) a1 = _mm256_fmadd_ps(_mm256_loadu_ps(pk + s + c), v, a1);
      if constexpr (G > 2) a2 = _mm256_fmadd_ps(_mm256_loadu_ps(pk + 2 * s + c), v, a2);
      if constexpr (G > 3) a3 = _mm256_fmadd_ps(_mm256_loadu_ps(pk + 3 * s + c), v, a3);
    }
    if (c < C) {  // 4 channels left: the upper lanes stay zero
      const __m256 v = _mm256_castps128_ps256(_mm_loadu_ps(pw + c));
      const __m256 z = _mm256_setzero_ps();
      a0 = _mm256_fmadd_ps(_mm256_insertf128_ps(z, _mm_loadu_ps(pk + c), 0), v, a0);
      if constexpr (G > 1) a1 = _mm256_fmadd_ps(_mm256_insertf128_ps(z, _mm_loadu_ps(pk + s + c), 0), v, a1);
      if constexpr (G > 2) a2 = _mm256_fmadd_ps(_mm256_insertf128_ps(z, _mm_loadu_ps(pk + 2 * s + c), 0), v, a2);
      if constexpr (G > 3) a3 = _mm256_fmadd_ps(_mm256_insertf128_ps(z, _mm_loadu_ps(pk + 3 * s + c), 0), v, a3);
    }
  }
  y[0] = finish1(hsum8(a0), post, y);
  if constexpr (G > 1) y[Fo] = finish1(hsum8(a1), post, y + Fo);
  if constexpr (G > 2) y[2 * static_cast<size_t>(Fo)] = finish1(hsum8(a2), post, y + 2 * static_cast<size_t>(Fo));
  if constexpr (G > 3) y[3 * static_cast<size_t>(Fo)] = finish1(hsum8(a3), post, y + 3 * static_cast<size_t>(Fo));
}

// P consecutive outputs of NF filters at once (P * NF = 8 independent FMA chains, enough to hide the FMA latency; C a
// multiple of 8): accumulator NF * i + f is output i of filter f, the input loaded once for all filters; the eight
// lane sums reduced together by tree8 (lane k = accumulator k). Per output and filter the same chain whatever NF.
template <int I, int NF>
XAI3D_TARGET inline void dotTap(Acc8& A, const float* q, size_t s, const __m256 (&v)[NF]) {
  const __m256 x = _mm256_loadu_ps(q + I * s);
  acc<NF * I>(A) = _mm256_fmadd_ps(x, v[0], acc<NF * I>(A));
  if constexpr (NF > 1) acc<NF * I + 1>(A) = _mm256_fmadd_ps(x, v[1], acc<NF * I + 1>(A));
}

template <int P, int NF, int... I>
XAI3D_TARGET inline __m256 dotGroups(const uint8_t* p, uint32_t xsW, const float* const (&wf)[NF], const int32_t* toffs, uint32_t T,
                                     uint32_t C, std::integer_sequence<int, I...>) {
  static_assert(P * NF == 8, "eight accumulators");
  Acc8 A = zeros8();
  const size_t s = xsW / 4;
  for (uint32_t t = 0; t < T; t++) {
    const float* pk = reinterpret_cast<const float*>(p + toffs[t]);
    for (uint32_t c = 0; c < C; c += 8) {
      __m256 v[NF];
      for (int f = 0; f < NF; f++) v[f] = _mm256_loadu_ps(wf[f] + static_cast<size_t>(t) * C + c);
      (dotTap<I, NF>(A, pk + c, s, v), ...);
    }
  }
  return tree8(A.a0, A.a1, A.a2, A.a3, A.a4, A.a5, A.a6, A.a7);
}

template <int P, int NF>
XAI3D_TARGET inline __m256 dotGroups(const uint8_t* p, uint32_t xsW, const float* const (&wf)[NF], const int32_t* toffs, uint32_t T, uint32_t C) {
  return dotGroups<P, NF>(p, xsW, wf, toffs, T, C, std::make_integer_sequence<int, P>{});
}

// Pair mode of convDot (mul2 != 0): two filters (Fo = 2) whose products with their own inputs are summed into one
// output channel, y = add + mul * dot_0 + mul2 * dot_1, rounded as the two separate fused calls would round it:
// ((add + mul * dot_0) + mul2 * dot_1). LRP's two-term rules (zB) on a first layer: one pass over S instead of two.
XAI3D_TARGET void convDotPairRows(uint8_t* heap, const ConvDotArgs& a, const Post& post, int64_t r0, int64_t r1) {
  const int32_t* toffs = reinterpret_cast<const int32_t*>(heap + a.toffs);
  const float* w0 = reinterpret_cast<const float*>(heap + a.wT);
  const float* w1 = w0 + static_cast<size_t>(a.T) * a.C;
  const ptrdiff_t m2 = (static_cast<ptrdiff_t>(a.mul2) - static_cast<ptrdiff_t>(a.y)) / 4;
  const Post none{nullptr, false, 0, 0, 0, 0.0f};
  const uint32_t W8 = a.Wo & ~7u;
  const float* const pairW[2] = {w0, w1};
  for (int64_t r = r0; r < r1; r++) {
    const uint8_t* prow = inputRow(heap, a, r);
    float* yrow = reinterpret_cast<float*>(heap + a.y) + static_cast<size_t>(r) * a.Wo;
    const auto put = [&](uint32_t w, float d0, float d1) {
      float* y = yrow + w;
      const float first = finish1(d0, post, y);
      *y = _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(first), _mm_mul_ss(_mm_set_ss(y[m2]), _mm_set_ss(d1))));
    };
    uint32_t w = 0;
    for (; w < W8; w += 4) {
      alignas(32) float dd[8];
      if (a.kW == 3 && a.T % 3 == 0 && a.C == 8)
        _mm256_store_ps(dd, dotRow<4, 2, 1>(prow + static_cast<size_t>(w) * a.xsW, a.xsW / 4, pairW, toffs, a.T / 3));
      else
        _mm256_store_ps(dd, dotGroups<4, 2>(prow + static_cast<size_t>(w) * a.xsW, a.xsW, pairW, toffs, a.T, a.C));
      for (int i = 0; i < 4; i++) put(w + i, dd[2 * i], dd[2 * i + 1]);
    }
    // The last Wo % 8 outputs as convDotRows computes them (dotGroup<4>, then dotGroup<1>), each filter on its own.
    float t0[8], t1[8];
    uint32_t k = 0;
    for (uint32_t v = w; v + 4 <= a.Wo; v += 4, k += 4) {
      dotGroup<4>(prow + static_cast<size_t>(v) * a.xsW, a.xsW, w0, toffs, a.T, a.C, t0 + k, 1, none);
      dotGroup<4>(prow + static_cast<size_t>(v) * a.xsW, a.xsW, w1, toffs, a.T, a.C, t1 + k, 1, none);
    }
    for (uint32_t v = w + k; v < a.Wo; v++, k++) {
      dotGroup<1>(prow + static_cast<size_t>(v) * a.xsW, a.xsW, w0, toffs, a.T, a.C, t0 + k, 1, none);
      dotGroup<1>(prow + static_cast<size_t>(v) * a.xsW, a.xsW, w1, toffs, a.T, a.C, t1 + k, 1, none);
    }
    for (uint32_t i = 0; i < k; i++) put(w + i, t0[i], t1[i]);
  }
}

XAI3D_TARGET void convDotRows(uint8_t* heap, const ConvDotArgs& a, int64_t r0, int64_t r1) {
  const int32_t* toffs = reinterpret_cast<const int32_t*>(heap + a.toffs);
  const float* wT = reinterpret_cast<const float*>(heap + a.wT);
  const Post post = postOf(heap, a.y, nullptr, 0, a.mul, a.add, a.divR, a.epsBits);
  if (a.mul2) return convDotPairRows(heap, a, post, r0, r1);
  const bool k3 = a.kW == 3 && a.T % 3 == 0;
  for (int64_t r = r0; r < r1; r++) {
    const uint8_t* prow = inputRow(heap, a, r);
    float* yrow = reinterpret_cast<float*>(heap + a.y) + static_cast<size_t>(r) * a.Wo * a.Fo;
    for (uint32_t f = 0; f < a.Fo; f++) {
      const float* wf = wT + static_cast<size_t>(f) * a.T * a.C;
      uint32_t w0 = 0;
      if (k3 && (a.C == 8 || a.C == 16))
        for (; w0 + 8 <= a.Wo; w0 += 8) {
          const uint8_t* pg = prow + static_cast<size_t>(w0) * a.xsW;
          const float* const ws[1] = {wf};
          const __m256 sums = a.C == 8 ? dotRow<8, 1, 1>(pg, a.xsW / 4, ws, toffs, a.T / 3) : dotRow<8, 1, 2>(pg, a.xsW / 4, ws, toffs, a.T / 3);
          storeGroup8(sums, yrow + static_cast<size_t>(w0) * a.Fo + f, a.Fo, post);
        }
      if (a.C % 8 == 0)
        for (; w0 + 8 <= a.Wo; w0 += 8) {
          const float* const ws[1] = {wf};
          storeGroup8(dotGroups<8, 1>(prow + static_cast<size_t>(w0) * a.xsW, a.xsW, ws, toffs, a.T, a.C), yrow + static_cast<size_t>(w0) * a.Fo + f, a.Fo, post);
        }
      for (; w0 + 4 <= a.Wo; w0 += 4)
        dotGroup<4>(prow + static_cast<size_t>(w0) * a.xsW, a.xsW, wf, toffs, a.T, a.C, yrow + static_cast<size_t>(w0) * a.Fo + f, a.Fo, post);
      for (; w0 < a.Wo; w0++)
        dotGroup<1>(prow + static_cast<size_t>(w0) * a.xsW, a.xsW, wf, toffs, a.T, a.C, yrow + static_cast<size_t>(w0) * a.Fo + f, a.Fo, post);
    }
  }
}

// ------------------------------------------------------------------ LRP's proportional 2x2x2 pooling
// out = a * S over each window, S = R / s(sum of the window's a) (lib/explain/lrp/lrp.ts, poolProportional), in
// the arithmetic of the kernels it replaces, so the same bits: the window sum in avgPool2's order, times 0.125
// (avgPool2), times 8 (the sum pooling), the stabilised division, times 8 and 0.125 again (the gradient of the
// average pooling), times a. a [N, D, H, W, C] with byte strides sW, sH, sD, sN; R and the window sums [N, Do, Ho,
// Wo, C]; rows r = (n * Do + od) * Ho + oh. Inputs outside every window (odd sizes) are left to the caller.
struct PoolArgs {
  uint32_t a, R, out, Do, Ho, Wo, C, sW, sH, sD, sN, epsBits;
};

XAI3D_TARGET inline void poolWindow(const uint8_t* pa, uint8_t* po, const float* pr, const PoolArgs& g, float eps) {
  const uint32_t o[8] = {0, g.sW, g.sH, g.sH + g.sW, g.sD, g.sD + g.sW, g.sD + g.sH, g.sD + g.sH + g.sW};
  const auto at = [&](int i) { return reinterpret_cast<const float*>(pa + o[i]); };
  __m256 m = _mm256_loadu_ps(at(0));
  for (int i = 1; i < 8; i++) m = _mm256_add_ps(m, _mm256_loadu_ps(at(i)));
  const __m256 s = _mm256_mul_ps(_mm256_mul_ps(m, _mm256_set1_ps(0.125f)), _mm256_set1_ps(8.0f));
  const __m256 S = _mm256_div_ps(_mm256_loadu_ps(pr), _mm256_add_ps(s, stabiliserOf(s, eps)));
  const __m256 q = _mm256_mul_ps(_mm256_mul_ps(S, _mm256_set1_ps(8.0f)), _mm256_set1_ps(0.125f));
  for (int i = 0; i < 8; i++) _mm256_storeu_ps(reinterpret_cast<float*>(po + o[i]), _mm256_mul_ps(_mm256_loadu_ps(at(i)), q));
}

XAI3D_TARGET void poolRows(uint8_t* heap, const PoolArgs& g, int64_t r0, int64_t r1) {
  float eps;
  std::memcpy(&eps, &g.epsBits, 4);
  const size_t rowOut = static_cast<size_t>(g.Wo) * g.C;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t q = r / g.Ho;
    const int64_t n = q / g.Do;
    const int64_t od = q - n * g.Do;
    const int64_t oh = r - q * g.Ho;
    const int64_t base = n * static_cast<int64_t>(g.sN) + 2 * od * static_cast<int64_t>(g.sD) + 2 * oh * static_cast<int64_t>(g.sH);
    const float* prow = reinterpret_cast<const float*>(heap + g.R) + static_cast<size_t>(r) * rowOut;
    for (uint32_t ow = 0; ow < g.Wo; ow++) {
      const int64_t b = base + 2 * static_cast<int64_t>(ow) * g.sW;
      const float* pr = prow + static_cast<size_t>(ow) * g.C;
      for (uint32_t c = 0; c < g.C; c += 8) poolWindow(heap + g.a + b + 4 * c, heap + g.out + b + 4 * c, pr + c, g, eps);
    }
  }
}

// ------------------------------------------------------------------ filter gradient
// dW[k, f] += sum over output positions m of xp[base(m) + offs[k]] * dy[m, f], as kernels.wat "filterGrad": dy
// [nPlanes, Ho, Wo, Fs] (Fs a multiple of 8), offs int32[Kp], acc float64[Kp, Fs]. A tile is KR rows k times FV
// vectors of 8 filters; positions are visited in blocks of blockPlanes planes, float32 sums within a block.
struct FilterGradArgs {
  uint32_t xp, dy, offs, acc, nPlanes, Do, Ho, Wo, Fs, xsW, xsH, xsD, xsN, blockPlanes;
};

// acc[0..8) (float64) += the 8 float32 lanes of v.
XAI3D_TARGET inline void flush8(double* acc, __m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(lo)));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(hi)));
}

template <int KR, int FV>
XAI3D_TARGET inline void gradTile(uint8_t* heap, const FilterGradArgs& a, const int32_t* offs, uint32_t f0, int64_t pb,
                                  int64_t pe, double* acc) {
  static_assert(KR >= 1 && KR <= 8 && FV >= 1 && FV <= 2, "tile size");
#define XAI3D_DECL(i) __m256 a##i##0 = _mm256_setzero_ps(), a##i##1 = _mm256_setzero_ps(); const int32_t o##i = KR > i ? offs[i] : 0;
  XAI3D_ROWS(XAI3D_DECL)
#undef XAI3D_DECL
  const size_t yplane = static_cast<size_t>(a.Ho) * a.Wo * a.Fs;
  for (int64_t pl = pb; pl < pe; pl++) {
    const int64_t n = pl / a.Do;
    const int64_t d = pl - n * a.Do;
    const uint8_t* pxRow = heap + a.xp + n * static_cast<int64_t>(a.xsN) + d * a.xsD;
    const float* py = reinterpret_cast<const float*>(heap + a.dy) + static_cast<size_t>(pl) * yplane + f0;
    for (uint32_t h = 0; h < a.Ho; h++, pxRow += a.xsH) {
      const uint8_t* px = pxRow;
      for (uint32_t w = 0; w < a.Wo; w++, px += a.xsW, py += a.Fs) {
        const __m256 y0 = _mm256_loadu_ps(py);
        const __m256 y1 = FV > 1 ? _mm256_loadu_ps(py + 8) : _mm256_setzero_ps();
#define XAI3D_FMA(i)                                                                   \
  if constexpr (KR > i) {                                                              \
    const __m256 x = _mm256_broadcast_ss(reinterpret_cast<const float*>(px + o##i));   \
    a##i##0 = _mm256_fmadd_ps(x, y0, a##i##0);                                         \
    if constexpr (FV > 1) a##i##1 = _mm256_fmadd_ps(x, y1, a##i##1);                   \
  }
        XAI3D_ROWS(XAI3D_FMA)
#undef XAI3D_FMA
      }
    }
  }
#define XAI3D_FLUSH(i)                                                  \
  if constexpr (KR > i) {                                               \
    flush8(acc + static_cast<size_t>(i) * a.Fs, a##i##0);               \
    if constexpr (FV > 1) flush8(acc + static_cast<size_t>(i) * a.Fs + 8, a##i##1); \
  }
  XAI3D_ROWS(XAI3D_FLUSH)
#undef XAI3D_FLUSH
}

template <int FV>
XAI3D_TARGET void gradTileN(int kr, uint8_t* heap, const FilterGradArgs& a, const int32_t* offs, uint32_t f0,
                            int64_t pb, int64_t pe, double* acc) {
  switch (kr) {
    case 1: gradTile<1, FV>(heap, a, offs, f0, pb, pe, acc); break;
    case 2: gradTile<2, FV>(heap, a, offs, f0, pb, pe, acc); break;
    case 3: gradTile<3, FV>(heap, a, offs, f0, pb, pe, acc); break;
    case 4: gradTile<4, FV>(heap, a, offs, f0, pb, pe, acc); break;
    case 5: gradTile<5, FV>(heap, a, offs, f0, pb, pe, acc); break;
    default: gradTile<6, FV>(heap, a, offs, f0, pb, pe, acc); break;
  }
}

// The tiles of the filter gradient: rows [k0, k0 + kr) times filters [f0, f0 + 8 fv).
struct GradTileSpec {
  uint32_t k0, f0;
  int kr, fv;
};

std::vector<GradTileSpec> gradTiles(uint32_t Kp, uint32_t Fs) {
  std::vector<GradTileSpec> tiles;
  for (uint32_t k0 = 0; k0 < Kp; k0 += 6) {
    const int kr = static_cast<int>(Kp - k0 < 6 ? Kp - k0 : 6);
    uint32_t f0 = 0;
    for (; f0 + 16 <= Fs; f0 += 16) tiles.push_back({k0, f0, kr, 2});
    for (; f0 < Fs; f0 += 8) tiles.push_back({k0, f0, kr, 1});
  }
  return tiles;
}

// Accumulate the tiles [t0, t1) over planes [p0, p1) into acc (float64 [Kp, Fs]).
XAI3D_TARGET void gradRange(uint8_t* heap, const FilterGradArgs& a, const std::vector<GradTileSpec>& tiles, size_t t0,
                            size_t t1, int64_t p0, int64_t p1, double* acc) {
  const int32_t* offs = reinterpret_cast<const int32_t*>(heap + a.offs);
  const int64_t bp = a.blockPlanes < 1 ? 1 : a.blockPlanes;
  for (int64_t pb = p0; pb < p1; pb += bp) {
    const int64_t pe = pb + bp < p1 ? pb + bp : p1;
    for (size_t t = t0; t < t1; t++) {
      const GradTileSpec& g = tiles[t];
      double* pa = acc + static_cast<size_t>(g.k0) * a.Fs + g.f0;
      if (g.fv == 2)
        gradTileN<2>(g.kr, heap, a, offs + g.k0, g.f0, pb, pe, pa);
      else
        gradTileN<1>(g.kr, heap, a, offs + g.k0, g.f0, pb, pe, pa);
    }
  }
}

// Kp = rows of acc: the caller's offs has Kp entries (a multiple of 4).
void filterGrad(uint8_t* heap, const FilterGradArgs& a, uint32_t Kp) {
  const std::vector<GradTileSpec> tiles = gradTiles(Kp, a.Fs);
  double* acc = reinterpret_cast<double*>(heap + a.acc);
  const int parts = pool->threads();
  // Few tiles (a first layer: K = 27): the planes are cut in two fixed halves with their own accumulators, added in
  // order afterwards, so that both threads have work; the cut does not depend on the thread count.
  const bool byPlanes = tiles.size() < 16 && a.nPlanes >= 2;
  if (!byPlanes) {
    parallelRows(static_cast<int64_t>(tiles.size()), [&](int64_t t0, int64_t t1) { gradRange(heap, a, tiles, t0, t1, 0, a.nPlanes, acc); });
    return;
  }
  const size_t n = static_cast<size_t>(Kp) * a.Fs;
  std::vector<double> upper(n, 0.0);
  const int64_t bp = a.blockPlanes < 1 ? 1 : a.blockPlanes;
  // Cut on a block boundary, so that the blocks are those of one pass.
  const int64_t blocks = (a.nPlanes + bp - 1) / bp;
  const int64_t cut = (blocks / 2) * bp > 0 ? (blocks / 2) * bp : a.nPlanes / 2;
  auto half = [&](int h) {
    if (h == 0)
      gradRange(heap, a, tiles, 0, tiles.size(), 0, cut, acc);
    else
      gradRange(heap, a, tiles, 0, tiles.size(), cut, a.nPlanes, upper.data());
  };
  if (parts >= 2) {
    pool->run([&](int i) {
      if (i < 2) half(i);
    });
  } else {
    half(0);
    half(1);
  }
  for (size_t i = 0; i < n; i++) acc[i] += upper[i];
}

// ------------------------------------------------------------------ zero padding
// dst [N, Dp, Hp, Wp, C] = src [N, D, H, W, C] placed at (front, top, left) in zeros (parts outside dst are cut): the
// padded input every convolution reads. Rows (n, pd, ph) of dst in [r0, r1).
struct PadArgs {
  uint32_t src, dst, N, D, H, W, C, Dp, Hp, Wp;
  int32_t front, top, left;
};

void padRows(uint8_t* heap, const PadArgs& a, int64_t r0, int64_t r1) {
  const float* src = reinterpret_cast<const float*>(heap + a.src);
  float* dst = reinterpret_cast<float*>(heap + a.dst);
  const size_t rowLen = static_cast<size_t>(a.Wp) * a.C;
  const int64_t w0 = a.left > 0 ? a.left : 0;                                       // first dst column with data
  const int64_t w1 = static_cast<int64_t>(a.W) + a.left < a.Wp ? static_cast<int64_t>(a.W) + a.left : a.Wp;  // end
  for (int64_t r = r0; r < r1; r++) {
    const int64_t q = r / a.Hp;
    const int64_t n = q / a.Dp;
    const int64_t d = q - n * a.Dp - a.front;
    const int64_t h = r - q * a.Hp - a.top;
    float* out = dst + static_cast<size_t>(r) * rowLen;
    if (d < 0 || d >= a.D || h < 0 || h >= a.H || w1 <= w0) {
      std::memset(out, 0, rowLen * 4);
      continue;
    }
    const float* in = src + ((static_cast<size_t>(n) * a.D + d) * a.H + h) * a.W * a.C;
    std::memset(out, 0, static_cast<size_t>(w0) * a.C * 4);
    std::memcpy(out + w0 * a.C, in + (w0 - a.left) * a.C, static_cast<size_t>(w1 - w0) * a.C * 4);
    std::memset(out + w1 * a.C, 0, static_cast<size_t>(a.Wp - w1) * a.C * 4);
  }
}

// ------------------------------------------------------------------ row sums in float64
// out[r] = sum of x[r * mid .. (r + 1) * mid) (float32 values, float64 sums): each row cut into blocks of 65536
// values; a block is summed by four 4-lane float64 accumulators (value i to lane i mod 16, in order), its lanes then
// in a fixed order; the blocks of a row in order. Blocks are shared out over the threads, so the work of one long row
// (a batch of one) is parallel, and the result does not depend on the number of threads.
constexpr int64_t kSumBlock = 65536;

XAI3D_TARGET double blockSum(const float* x, int64_t n) {
  __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 u = _mm256_loadu_ps(x + i);
    const __m256 v = _mm256_loadu_ps(x + i + 8);
    a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(u)));
    a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(u, 1)));
    a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
  }
  alignas(32) double l[16];
  _mm256_store_pd(l, a0);
  _mm256_store_pd(l + 4, a1);
  _mm256_store_pd(l + 8, a2);
  _mm256_store_pd(l + 12, a3);
  double s = 0;
  for (int k = 0; k < 16; k++) s += l[k];
  for (; i < n; i++) s += static_cast<double>(x[i]);
  return s;
}

// ------------------------------------------------------------------ trilinear resampling
// lib/explain/upsample.ts's upsampleTrilinear, the same arithmetic in the same order (doubles, one rounding to float32
// per stored value: a + (b - a) * f, f stored as float32 first, as the JS code does), so the same bits. Compiled
// without the AVX2/FMA target, so no multiply-add is contracted.
void resizeAxis(const float* src, const int64_t shape[3], int axis, int64_t outLen, float* out) {
  const int64_t inLen = shape[axis];
  int64_t oshape[3] = {shape[0], shape[1], shape[2]};
  oshape[axis] = outLen;
  const int64_t strideIn = axis == 0 ? shape[1] * shape[2] : axis == 1 ? shape[2] : 1;
  const int64_t strideOut = axis == 0 ? oshape[1] * oshape[2] : axis == 1 ? oshape[2] : 1;
  std::vector<int64_t> i0(outLen), i1(outLen);
  std::vector<float> f(outLen);
  for (int64_t o = 0; o < outLen; o++) {
    double pos = ((static_cast<double>(o) + 0.5) * static_cast<double>(inLen)) / static_cast<double>(outLen) - 0.5;
    pos = pos < 0 ? 0 : pos;
    pos = pos > static_cast<double>(inLen - 1) ? static_cast<double>(inLen - 1) : pos;
    const double fl = std::floor(pos);
    i0[o] = static_cast<int64_t>(fl);
    i1[o] = i0[o] + 1 < inLen - 1 ? i0[o] + 1 : inLen - 1;
    f[o] = static_cast<float>(pos - fl);
  }
  const int A = axis == 0 ? 1 : 0;
  const int B = axis == 2 ? 1 : 2;
  const int64_t sAin = A == 0 ? shape[1] * shape[2] : A == 1 ? shape[2] : 1;
  const int64_t sBin = B == 0 ? shape[1] * shape[2] : B == 1 ? shape[2] : 1;
  const int64_t sAout = A == 0 ? oshape[1] * oshape[2] : A == 1 ? oshape[2] : 1;
  const int64_t sBout = B == 0 ? oshape[1] * oshape[2] : B == 1 ? oshape[2] : 1;
  auto rows = [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++)
      for (int64_t q = 0; q < oshape[B]; q++) {
        const float* in = src + p * sAin + q * sBin;
        float* o = out + p * sAout + q * sBout;
        for (int64_t k = 0; k < outLen; k++) {
          const double a = in[i0[k] * strideIn];
          const double b = in[i1[k] * strideIn];
          o[k * strideOut] = static_cast<float>(a + (b - a) * static_cast<double>(f[k]));
        }
      }
  };
  if (pool && pool->threads() > 1 && oshape[0] * oshape[1] * oshape[2] >= (1 << 16))
    parallelRows(oshape[A], rows);
  else
    rows(0, oshape[A]);
}

// ------------------------------------------------------------------ N-API
bool cpuOk() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

napi_value throwError(napi_env env, const char* msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

// Argument i of a JS array of numbers as uint32 (byte offsets up to 4 GB).
bool readArgs(napi_env env, napi_value arr, uint32_t* out, uint32_t n) {
  uint32_t len = 0;
  if (napi_get_array_length(env, arr, &len) != napi_ok || len != n) return false;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    double d;
    if (napi_get_element(env, arr, i, &v) != napi_ok || napi_get_value_double(env, v, &d) != napi_ok) return false;
    if (!(d >= 0 && d <= 4294967295.0)) return false;
    out[i] = static_cast<uint32_t>(d);
  }
  return true;
}

// The base address of the wasm memory, from a Uint8Array over it (tfjs's HEAPU8), and its length.
bool heapOf(napi_env env, napi_value view, uint8_t** base, size_t* length) {
  napi_typedarray_type type;
  size_t len;
  void* data;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, view, &type, &len, &data, &buffer, &offset) != napi_ok) return false;
  if (type != napi_uint8_array || offset != 0 || data == nullptr) return false;
  *base = static_cast<uint8_t*>(data);
  *length = len;
  return true;
}

// A kernel call fn(heapU8, [the fields of Args, as numbers], n): the heap's base, Args filled from the array (uint32
// fields, in order), and n. False (after throwing a JS error naming the kernel) when anything is missing or wrong.
template <typename Args>
bool kernelCall(napi_env env, napi_callback_info info, const char* name, uint8_t** heap, Args* args, double* n) {
  static_assert(sizeof(Args) % 4 == 0, "Args holds uint32 fields only");
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  std::string what = std::string("native ") + name;
  if (!pool) {
    throwError(env, "native kernels: start() was not called");
    return false;
  }
  size_t heapLen;
  uint32_t v[sizeof(Args) / 4];
  if (argc != 3 || !heapOf(env, argv[0], heap, &heapLen) || !readArgs(env, argv[1], v, sizeof(Args) / 4) ||
      napi_get_value_double(env, argv[2], n) != napi_ok) {
    throwError(env, (what + ": bad arguments").c_str());
    return false;
  }
  std::memcpy(args, v, sizeof v);
  return true;
}

// start(threads) -> true when the kernels can run here (AVX2 + FMA), else false.
napi_value Start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t threads = 1;
  if (argc >= 1) napi_get_value_int32(env, argv[0], &threads);
  napi_value result;
  if (!cpuOk()) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (!pool || pool->threads() != threads) {
    delete pool;
    pool = new Pool(threads < 1 ? 1 : (threads > 64 ? 64 : threads));
  }
  napi_get_boolean(env, true, &result);
  return result;
}

// A kernel over output rows: fn(heapU8, [the fields of Args], rows) checks its arguments (check returns why they are
// wrong, or nullptr) and runs rowsFn(heap, args, r0, r1) over the rows split across the pool's threads.
template <typename Args, typename Check, typename Rows>
napi_value rowKernel(napi_env env, napi_callback_info info, const char* name, Check check, Rows rowsFn) {
  uint8_t* heap;
  Args a;
  double rows;
  if (!kernelCall(env, info, name, &heap, &a, &rows)) return nullptr;
  if (const char* why = check(a)) return throwError(env, why);
  parallelRows(static_cast<int64_t>(rows), [&](int64_t r0, int64_t r1) { rowsFn(heap, a, r0, r1); });
  return nullptr;
}

// conv(heapU8, [xp, w, offs, y, Do, Ho, Wo, Fo, K, xsW, xsH, xsD, xsN, bias, relu, mul, add, divR, epsBits, xp2, w2, bias2, kW1], rows)
napi_value Conv(napi_env env, napi_callback_info info) {
  return rowKernel<ConvArgs>(env, info, "conv", [](const ConvArgs& a) -> const char* {
    if (a.Fo % 8 != 0 || a.Wo == 0) return "native conv: output channels must be a multiple of 8";
    if (a.xp2 && (a.relu || a.mul || a.add || !a.w2)) return "native conv: two terms take a bias, a second filter and a division only";
    return nullptr;
  }, convRows);
}

// filterGrad(heapU8, [xp, dy, offs, acc, nPlanes, Do, Ho, Wo, Fs, xsW, xsH, xsD, xsN, blockPlanes], Kp)
napi_value FilterGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap;
  FilterGradArgs a;
  double kp;
  if (!kernelCall(env, info, "filterGrad", &heap, &a, &kp)) return nullptr;
  const uint32_t Kp = static_cast<uint32_t>(kp);
  if (a.Fs % 8 != 0 || Kp % 4 != 0 || kp != Kp) return throwError(env, "native filterGrad: Fs must be a multiple of 8, Kp of 4");
  filterGrad(heap, a, Kp);
  return nullptr;
}

// convDot(heapU8, [xp, wT, toffs, y, Do, Ho, Wo, Fo, T, C, xsW, xsH, xsD, xsN, mul, add, divR, epsBits, mul2, kW], rows)
napi_value ConvDot(napi_env env, napi_callback_info info) {
  return rowKernel<ConvDotArgs>(env, info, "convDot", [](const ConvDotArgs& a) -> const char* {
    if (a.C % 4 != 0 || a.C == 0) return "native convDot: input channels must be a multiple of 4";
    if (a.mul2 && (a.Fo != 2 || a.C % 8 != 0 || a.divR)) return "native convDot: pair mode needs 2 filters, channels a multiple of 8 and no division";
    return nullptr;
  }, convDotRows);
}

// lrpPool2(heapU8, [a, R, out, Do, Ho, Wo, C, sW, sH, sD, sN, epsBits], rows)
napi_value LrpPool2(napi_env env, napi_callback_info info) {
  return rowKernel<PoolArgs>(env, info, "lrpPool2", [](const PoolArgs& a) -> const char* {
    return a.C % 8 != 0 || a.C == 0 ? "native lrpPool2: channels must be a multiple of 8" : nullptr;
  }, poolRows);
}

// pad(heapU8, [src, dst, N, D, H, W, C, Dp, Hp, Wp, front, top, left]) (offsets as signed 32-bit integers)
napi_value Pad(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (!pool) return throwError(env, "native kernels: start() was not called");
  uint8_t* heap;
  size_t heapLen;
  uint32_t v[10];
  if (argc != 2 || !heapOf(env, argv[0], &heap, &heapLen)) return throwError(env, "native pad: bad arguments");
  uint32_t len = 0;
  if (napi_get_array_length(env, argv[1], &len) != napi_ok || len != 13) return throwError(env, "native pad: bad arguments");
  // The ten sizes and addresses as uint32, the three offsets as int32.
  napi_value arr = argv[1];
  for (uint32_t i = 0; i < 10; i++) {
    napi_value e;
    double d;
    if (napi_get_element(env, arr, i, &e) != napi_ok || napi_get_value_double(env, e, &d) != napi_ok || !(d >= 0 && d <= 4294967295.0))
      return throwError(env, "native pad: bad arguments");
    v[i] = static_cast<uint32_t>(d);
  }
  int32_t o[3];
  for (uint32_t i = 0; i < 3; i++) {
    napi_value e;
    if (napi_get_element(env, arr, 10 + i, &e) != napi_ok || napi_get_value_int32(env, e, &o[i]) != napi_ok)
      return throwError(env, "native pad: bad arguments");
  }
  PadArgs a;
  std::memcpy(&a, v, sizeof v);
  a.front = o[0];
  a.top = o[1];
  a.left = o[2];
  parallelRows(static_cast<int64_t>(a.N) * a.Dp * a.Hp, [&](int64_t r0, int64_t r1) { padRows(heap, a, r0, r1); });
  return nullptr;
}

// rowSums(heapU8, [x, out, mid], rows): out (float64 [rows], 8-byte aligned) = the sums of rows of mid floats at x.
struct RowSumArgs {
  uint32_t x, out, mid;
};

napi_value RowSums(napi_env env, napi_callback_info info) {
  uint8_t* heap;
  RowSumArgs a;
  double rowsD;
  if (!kernelCall(env, info, "rowSums", &heap, &a, &rowsD)) return nullptr;
  if (a.out % 8 != 0) return throwError(env, "native rowSums: out must be 8-byte aligned");
  const int64_t rows = static_cast<int64_t>(rowsD), mid = a.mid;
  const int64_t nb = (mid + kSumBlock - 1) / kSumBlock;
  std::vector<double> parts(static_cast<size_t>(rows * nb), 0.0);
  const float* x = reinterpret_cast<const float*>(heap + a.x);
  parallelRows(rows * nb, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
      const int64_t r = b / nb, k = b - r * nb;
      const int64_t start = k * kSumBlock;
      const int64_t len = mid - start < kSumBlock ? mid - start : kSumBlock;
      parts[static_cast<size_t>(b)] = blockSum(x + r * mid + start, len);
    }
  });
  double* out = reinterpret_cast<double*>(heap + a.out);
  for (int64_t r = 0; r < rows; r++) {
    double s = 0;
    for (int64_t k = 0; k < nb; k++) s += parts[static_cast<size_t>(r * nb + k)];
    out[r] = s;
  }
  return nullptr;
}

// upsample(src Float32Array [d*h*w], [d, h, w, D, H, W], out Float32Array [D*H*W])
napi_value Upsample(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_typedarray_type t1, t2;
  size_t n1, n2, off;
  void *d1, *d2;
  napi_value buf;
  uint32_t v[6];
  if (argc != 3 || napi_get_typedarray_info(env, argv[0], &t1, &n1, &d1, &buf, &off) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &t2, &n2, &d2, &buf, &off) != napi_ok || t1 != napi_float32_array ||
      t2 != napi_float32_array || !readArgs(env, argv[1], v, 6))
    return throwError(env, "native upsample: bad arguments");
  int64_t shape[3] = {v[0], v[1], v[2]};
  const int64_t target[3] = {v[3], v[4], v[5]};
  if (static_cast<size_t>(shape[0] * shape[1] * shape[2]) != n1 || static_cast<size_t>(target[0] * target[1] * target[2]) != n2)
    return throwError(env, "native upsample: sizes do not match the shapes");
  if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1) return throwError(env, "native upsample: empty input");
  int last = -1;
  for (int axis = 0; axis < 3; axis++)
    if (shape[axis] != target[axis]) last = axis;
  if (last < 0) {
    std::memcpy(d2, d1, n2 * 4);
    return nullptr;
  }
  // Intermediate grids in scratch buffers (not zero-filled: every value is written); the last pass into out.
  std::unique_ptr<float[]> bufs[2];
  const float* cur = static_cast<const float*>(d1);
  for (int axis = 0; axis <= last; axis++) {
    if (shape[axis] == target[axis]) continue;
    int64_t os[3] = {shape[0], shape[1], shape[2]};
    os[axis] = target[axis];
    float* dst = static_cast<float*>(d2);
    if (axis != last) {
      bufs[axis & 1].reset(new float[static_cast<size_t>(os[0] * os[1] * os[2])]);
      dst = bufs[axis & 1].get();
    }
    resizeAxis(cur, shape, axis, target[axis], dst);
    cur = dst;
    shape[axis] = target[axis];
  }
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", nullptr, Start, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"conv", nullptr, Conv, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"filterGrad", nullptr, FilterGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"convDot", nullptr, ConvDot, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"lrpPool2", nullptr, LrpPool2, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"pad", nullptr, Pad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rowSums", nullptr, RowSums, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"upsample", nullptr, Upsample, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
