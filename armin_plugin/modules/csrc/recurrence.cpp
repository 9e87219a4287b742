// The ARMIN loop (forward over T steps and its hand-written backward) for CPU tensors, float32
// and float64: the compiled twin of ../fused_loop.py (which documents every buffer); both
// compute armin_step of ../step.py fused over the steps (tests/test_step.py checks them
// against it). Matrix products go through ATen (BLAS), or in float32 through oneDNN on packed
// weights (Product below); the phases of a step between them (address, read, gates,
// integration, write-back, and their gradients) are row functions over the B rows, so nothing
// is dispatched per elementwise operation. Registered as torch.ops.armin_native.{forward,
// backward,packed_products_available}.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

// glibc's libmvec has SIMD versions of these (linked with -lmvec); declaring them lets the
// compiler vectorise the gate loops (math.h declares them only under -ffast-math, which
// this file avoids: it would change the rounding and the NaN semantics).
extern "C" {
__attribute__((simd("notinbranch"))) float expf(float);
__attribute__((simd("notinbranch"))) double exp(double);
__attribute__((simd("notinbranch"))) float tanhf(float);
__attribute__((simd("notinbranch"))) double tanh(double);
}

namespace {

using at::Tensor;

template <typename S>
inline S sigmoid(S x) {
  return S(1) / (S(1) + std::exp(-x));
}

// Row access to a (T, B, K) tensor whose last dimension is dense (others may be strided).
template <typename S>
struct Seq {
  Tensor keep;  // holds the storage
  S* base = nullptr;
  int64_t st = 0, sb = 0;
  Seq() = default;
  explicit Seq(const Tensor& x) : keep(x.stride(2) == 1 ? x : x.contiguous()) {
    base = keep.data_ptr<S>();
    st = keep.stride(0);
    sb = keep.stride(1);
  }
  S* row(int64_t t, int64_t b) const { return base + t * st + b * sb; }
};

// oneDNN's linear on a pre-packed weight (torch's mkldnn::_reorder_linear_weight and
// mkldnn::_linear_pointwise, where torch is built with oneDNN): float32 products of B rows
// run about 20% faster than MKL's sgemm on AVX-512 machines. Packing costs about one
// product, so a weight is packed at once for a call of at least kPackedMinSteps steps, and
// for shorter calls (one-token decoding; the translation decoder's steps, which share one
// arrangement of the weights: ARMIN.reusing_weights) at its second call, kept in a small
// cache of recent weights. Weights under kPackedMinWeight elements (384 x 384) keep ATen's
// mm: there oneDNN's fixed cost per call outweighs its speed (at 32 rows, 256 x 256 took 82
// us with MKL and 110 with oneDNN, 384 x 384 193 and 169). float64 keeps ATen's mm too, the
// products the Python loop makes.
constexpr int64_t kPackedMinSteps = 8;
constexpr int64_t kPackedMinWeight = 384 * 384;
constexpr size_t kPackedCacheSize = 16;

std::optional<c10::OperatorHandle> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

const std::optional<c10::OperatorHandle>& reorder_op() {
  static const auto op = find_op("mkldnn::_reorder_linear_weight");
  return op;
}

const std::optional<c10::OperatorHandle>& linear_op() {
  static const auto op = find_op("mkldnn::_linear_pointwise");
  return op;
}

bool packed_available() { return reorder_op().has_value() && linear_op().has_value(); }

// The packed weights of recent short calls. An entry holds its weight tensor (so its storage
// is not reused while the entry lives) and the weight's version, so an in-place change of
// the weight is never served a stale packing.
class PackedCache {
 public:
  // The packed form of ``weight`` (transposed first when ``transposed``) for ``rows`` rows:
  // packed at once for a long call (``pack_now``, not cached: training arranges new weights
  // at every call), from the cache for a short one, or an undefined tensor while a short
  // call has not seen this weight before.
  Tensor get(const Tensor& weight, bool transposed, int64_t rows, bool pack_now) {
    if (pack_now) return pack(weight, transposed, rows);
    std::lock_guard<std::mutex> lock(mutex_);
    const int64_t version = weight._version();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->weight.is_same(weight) && it->transposed == transposed && it->rows == rows &&
          it->version == version) {
        if (!it->packed.defined()) it->packed = pack(weight, transposed, rows);
        Entry entry = *it;  // most recent first
        entries_.erase(it);
        entries_.push_front(entry);
        return entry.packed;
      }
    }
    Entry entry{weight, transposed, rows, version, Tensor()};
    entries_.push_front(entry);
    if (entries_.size() > kPackedCacheSize) entries_.pop_back();
    return entry.packed;
  }

 private:
  struct Entry {
    Tensor weight;
    bool transposed;
    int64_t rows;
    int64_t version;
    Tensor packed;
  };
  static Tensor pack(const Tensor& weight, bool transposed, int64_t rows) {
    torch::jit::Stack stack{(transposed ? weight.t() : weight).contiguous(), rows};
    reorder_op()->callBoxed(&stack);
    return stack[0].toTensor();
  }
  std::mutex mutex_;
  std::deque<Entry> entries_;
};

PackedCache& packed_cache() {
  static PackedCache cache;
  return cache;
}

// y = x w^T for a weight w (out, in), or (in, out) when ``transposed``, fixed during a call.
struct Product {
  Tensor weight_t;  // (in, out) view: ATen's mm
  Tensor packed;    // oneDNN's layout, or undefined
  template <typename S>
  static Product make(const Tensor& weight, bool transposed, int64_t steps, int64_t rows) {
    Product product{transposed ? weight : weight.t(), Tensor()};
    if (std::is_same<S, float>::value && weight.numel() >= kPackedMinWeight && packed_available()) {
      product.packed = packed_cache().get(weight, transposed, rows, steps >= kPackedMinSteps);
    }
    return product;
  }
  Tensor packed_product(const Tensor& x) const {
    torch::jit::Stack stack{x, packed, c10::IValue(), std::string("none"),
                            c10::List<std::optional<c10::Scalar>>(), c10::IValue()};
    linear_op()->callBoxed(&stack);
    return stack[0].toTensor();
  }
  // out = rows + x w^T (rows (B, out), possibly strided)
  void affine_out(Tensor& out, const Tensor& rows, const Tensor& x) const {
    if (packed.defined()) {
      at::add_out(out, rows, packed_product(x));
    } else {
      at::addmm_out(out, rows, x, weight_t);
    }
  }
  // out = x w^T
  void mm_out(Tensor& out, const Tensor& x) const {
    if (packed.defined()) {
      out.copy_(packed_product(x));
    } else {
      at::mm_out(out, x, weight_t);
    }
  }
  // out += x w^T
  void add_to(Tensor& out, const Tensor& x) const {
    if (packed.defined()) {
      out.add_(packed_product(x));
    } else {
      out.addmm_(x, weight_t);
    }
  }
};

void check_cpu_dense(const Tensor& x, const char* name, int64_t dim) {
  TORCH_CHECK(x.device().is_cpu(), "armin_native: ", name, " must be a CPU tensor");
  TORCH_CHECK(x.dim() == dim, "armin_native: ", name, " must have ", dim, " dimensions");
}

using Optionals = c10::List<std::optional<Tensor>>;

// x's data, or null for an undefined x
template <typename S>
S* ptr(const Tensor& x) {
  return x.defined() ? x.data_ptr<S>() : nullptr;
}

// What the step does besides the paper's cell (CellVariant in ../variants.py), and tau.
struct LoopOptions {
  double temperature;     // tau of the Gumbel softmax
  double reread_penalty;  // no_reread: the logit of the slot read at the previous real step
                          // loses this (0 without no_reread)
  bool no_read;           // the read r_t is zeros (the slot is still chosen and written)
};

// Runs row(b) for the B rows of a step on ATen's threads (those of the products too), in
// chunks of at least ``grain`` rows. Row work touches row b only (its hidden, memory, state
// and buffer rows), so the results are the same, bit for bit, at any thread count.
// ``phase`` names the work in torch.profiler's tables.
template <typename F>
void for_rows(const char* phase, int64_t rows, int64_t grain, const F& row) {
  RECORD_FUNCTION(phase, c10::ArrayRef<const c10::IValue>{});
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) row(b);
  });
}

// Rows per chunk: about kChunkWork values of row work (a row of a layer with d_h 256, d_r
// 64 has about 1,700), so a chunk outweighs the cost of waking a thread; small layers and
// small batches stay on one thread.
constexpr int64_t kChunkWork = 16384;

int64_t row_grain(int64_t row_work) { return std::max<int64_t>(1, kChunkWork / row_work); }

// The forward loop (fused_loop.forward_steps): per step t the products through ATen and the
// phases of armin_step as row functions, in the step's order: address (logits with the
// variants' terms, the slot, the probabilities), read ([h_{t-1} ; r_t]), gates (and z_t),
// integration (the transform, h_t, out_t) and write-back (the slot written, the write, the
// pad mask and the state's step and read ages).
template <typename S>
class ForwardLoop {
 public:
  // inputs: LoopInputs (addr_in, gate_in, trans_in, noise?, real?, query_in?, query_weight?);
  // weights: RecurrentWeights; state: (hidden, memory, steps, read_age?), memory, steps and
  // read_age updated in place; buffers: StepBuffers (outputs, the Activations, the record).
  ForwardLoop(const Optionals& inputs, at::TensorList weights, const Optionals& state,
              const Optionals& buffers, LoopOptions options)
      : options_(options), inputs_(inputs), buffers_(buffers), from_hidden_bias_(weights[1]) {
    const Tensor addr_in = *inputs.get(0), memory = *state.get(1);
    T = addr_in.size(0), B = addr_in.size(1), N = addr_in.size(2);
    H = weights[0].size(1), R = memory.size(2), G = H + R, P = 4 * H + R;
    grain_ = row_grain(N * R + G + P);
    sampled_ = inputs.get(3).has_value();
    content_ = inputs.get(5).has_value();
    a_in_ = Seq<S>(addr_in);
    out_ = Seq<S>(*buffers.get(0));
    if (sampled_) noise_ = Seq<S>(*inputs.get(3));
    if (const auto real = inputs.get(4)) {
      real_ = real->data_ptr<bool>();
      real_st_ = real->stride(0), real_sb_ = real->stride(1);
    }
    w_from_h_ = weights[0].t();
    gate_product_ = Product::make<S>(weights[2], false, T, B);
    trans_product_ = Product::make<S>(weights[3], false, T, B);
    hidden_ = state.get(0)->contiguous().clone();
    addr_rec_ = at::mm(hidden_, w_from_h_.narrow(1, 0, N)).contiguous();
    z_ = at::empty({B, G}, hidden_.options());
    from_h_ = at::empty({B, N + R}, hidden_.options());
    query_ = content_ ? at::empty({B, R}, hidden_.options()) : Tensor();
    w_query_ = content_ ? inputs.get(6)->t() : Tensor();
    h_ = ptr<S>(hidden_), ar_ = ptr<S>(addr_rec_), zp_ = ptr<S>(z_), fh_ = ptr<S>(from_h_);
    M_ = ptr<S>(memory), q_ = ptr<S>(query_);
    n_ = ptr<int64_t>(*state.get(2)), age_ = ptr<int64_t>(state.get(3).value_or(Tensor()));
  }

  // Runs the T steps; returns the final hidden (B, H).
  Tensor run() {
    for (int64_t t = 0; t < T; ++t) {
      Step st = step(t);
      if (content_) at::addmm_out(query_, inputs_.get(5)->select(0, t), hidden_, w_query_);
      for_rows("rows: address, read", B, grain_,
               [&](int64_t b) { read_row(st, b, address_row(st, b)); });
      gate_product_.affine_out(st.gates, inputs_.get(1)->select(0, t), st.hidden_read);
      for_rows("rows: gates", B, grain_, [&](int64_t b) { gates_row(st, b); });
      trans_product_.affine_out(st.trans, inputs_.get(2)->select(0, t), z_);
      for_rows("rows: integration", B, grain_, [&](int64_t b) { integration_row(st, b); });
      at::addmm_out(from_h_, from_hidden_bias_, st.new_hidden, w_from_h_);
      for_rows("rows: write-back", B, grain_, [&](int64_t b) { write_row(st, b); });
    }
    return hidden_;
  }

 private:
  // The buffers of step t (index 0 when they hold one step) and their rows.
  struct Step {
    int64_t t;
    Tensor hidden_read, gates, trans, new_hidden;
    S *hr, *gt, *tr, *nh, *ow, *pr, *rl;
    int64_t *slot, *target, *rr, *rw;
  };

  Step step(int64_t t) {
    const int64_t s = buffers_.get(1)->size(0) == 1 ? 0 : t;
    const auto at_step = [&](size_t i, int64_t index) {
      const auto x = buffers_.get(i);
      return x ? x->select(0, index) : Tensor();
    };
    Step st{t, at_step(1, s), at_step(2, s), at_step(3, s), at_step(4, s)};
    st.hr = ptr<S>(st.hidden_read), st.gt = ptr<S>(st.gates);
    st.tr = ptr<S>(st.trans), st.nh = ptr<S>(st.new_hidden);
    st.ow = ptr<S>(at_step(7, s)), st.pr = ptr<S>(at_step(8, s)), st.rl = ptr<S>(at_step(9, t));
    st.slot = ptr<int64_t>(at_step(5, s)), st.target = ptr<int64_t>(at_step(6, s));
    st.rr = ptr<int64_t>(at_step(10, t)), st.rw = ptr<int64_t>(at_step(11, t));
    return st;
  }

  // The address logits of row b (location, content, re-read penalty), the slot read (their
  // argmax after the noise) and, sampling, the probabilities softmax(logits / tau).
  int64_t address_row(const Step& st, int64_t b) {
    const S* ai = a_in_.row(st.t, b);
    const S* arb = ar_ + b * N;
    const int64_t* ageb = age_ ? age_ + b * N : nullptr;
    const S* qb = content_ ? q_ + b * R : nullptr;
    S* prb = sampled_ ? st.pr + b * N : nullptr;
    int64_t best = 0;
    S best_value = 0;
    for (int64_t k = 0; k < N; ++k) {
      S logit = ai[k] + arb[k];
      if (qb) {  // <key_k, q_t>, key_k = M_k / sqrt(|M_k|^2 + 1)
        const S* mk = M_ + (b * N + k) * R;
        S norm = S(0), dot = S(0);
        for (int64_t i = 0; i < R; ++i) {
          norm += mk[i] * mk[i];
          dot += mk[i] * qb[i];
        }
        logit += dot / std::sqrt(norm + S(1));
      }
      if (ageb && ageb[k] == 1) logit -= S(options_.reread_penalty);
      if (st.rl) st.rl[b * N + k] = logit;
      if (sampled_) {
        logit += noise_.row(st.t, b)[k];
        prb[k] = logit / S(options_.temperature);
      }
      // as torch.argmax: the first maximum, a NaN counting as the maximum
      if (k == 0 || (!std::isnan(best_value) && (logit > best_value || std::isnan(logit)))) {
        best = k;
        best_value = logit;
      }
    }
    if (sampled_) {  // softmax of logits / tau, in place
      S top = prb[0];
      for (int64_t k = 1; k < N; ++k) top = std::max(top, prb[k]);
      S sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int64_t k = 0; k < N; ++k) {
        prb[k] = std::exp(prb[k] - top);
        sum += prb[k];
      }
      for (int64_t k = 0; k < N; ++k) prb[k] /= sum;
    }
    st.slot[b] = best;
    if (st.rr) st.rr[b] = best;
    return best;
  }

  // [h_{t-1} ; r_t] of row b, r_t = M_{t-1}[slot] (zeros with no_read).
  void read_row(const Step& st, int64_t b, int64_t slot) {
    S* hrb = st.hr + b * G;
    const S* hb = h_ + b * H;
    const S* mb = M_ + (b * N + slot) * R;
    for (int64_t i = 0; i < H; ++i) hrb[i] = hb[i];
    for (int64_t i = 0; i < R; ++i) hrb[H + i] = options_.no_read ? S(0) : mb[i];
  }

  // gates = sigmoid(pre-activations), z_t = gates * [h ; r].
  void gates_row(const Step& st, int64_t b) {
    S* g = st.gt + b * G;
    const S* hrb = st.hr + b * G;
    S* zb = zp_ + b * G;
#pragma omp simd
    for (int64_t i = 0; i < G; ++i) {
      g[i] = sigmoid(g[i]);
      zb[i] = g[i] * hrb[i];
    }
  }

  // [i ; j ; f ; o ; o_m] activated, h_t = tanh(f * h + i * j), out_t = [o * h_t ; o_m * r_t].
  void integration_row(const Step& st, int64_t b) {
    S* tb = st.tr + b * P;
#pragma omp simd
    for (int64_t i = 0; i < H; ++i) tb[i] = sigmoid(tb[i]);
#pragma omp simd
    for (int64_t i = H; i < 2 * H; ++i) tb[i] = std::tanh(tb[i]);
#pragma omp simd
    for (int64_t i = 2 * H; i < P; ++i) tb[i] = sigmoid(tb[i]);
    const S *s_i = tb, *t_j = tb + H, *s_f = tb + 2 * H, *s_o = tb + 3 * H, *s_om = tb + 4 * H;
    const S* hb = h_ + b * H;
    const S* rb = st.hr + b * G + H;
    S* nhb = st.nh + b * H;
    S* ob = out_.row(st.t, b);
#pragma omp simd
    for (int64_t i = 0; i < H; ++i) {
      nhb[i] = std::tanh(s_f[i] * hb[i] + s_i[i] * t_j[i]);
      ob[i] = s_o[i] * nhb[i];
    }
    for (int64_t i = 0; i < R; ++i) ob[H + i] = s_om[i] * rb[i];
  }

  // The slot written (the next empty one, else the slot read), the overwritten value kept,
  // then at a real step: M[slot] = v_t, the carried h_t and its address part, step + 1 and
  // the read ages; a pad row keeps everything.
  void write_row(const Step& st, int64_t b) {
    const int64_t tg = n_[b] < N ? n_[b] : st.slot[b];
    st.target[b] = tg;
    if (st.rw) st.rw[b] = tg;
    S* mt = M_ + (b * N + tg) * R;
    S* owb = st.ow + b * R;
    for (int64_t i = 0; i < R; ++i) owb[i] = mt[i];
    if (real_ && !real_[st.t * real_st_ + b * real_sb_]) return;
    const S* fhb = fh_ + b * (N + R);
    for (int64_t i = 0; i < R; ++i) mt[i] = fhb[N + i];
    for (int64_t k = 0; k < N; ++k) ar_[b * N + k] = fhb[k];
    const S* nhb = st.nh + b * H;
    for (int64_t i = 0; i < H; ++i) h_[b * H + i] = nhb[i];
    n_[b] += 1;
    if (age_) {
      int64_t* ageb = age_ + b * N;
      for (int64_t k = 0; k < N; ++k) ageb[k] += ageb[k] > 0;
      ageb[st.slot[b]] = 1;
    }
  }

  const LoopOptions options_;
  const Optionals inputs_, buffers_;  // LoopInputs, StepBuffers
  const Tensor from_hidden_bias_;
  int64_t T, B, N, H, R, G, P, grain_;
  bool sampled_, content_;
  Seq<S> a_in_, out_, noise_;
  const bool* real_ = nullptr;
  int64_t real_st_ = 0, real_sb_ = 0;
  Tensor w_from_h_, w_query_;
  Product gate_product_, trans_product_;
  // hidden h (B, H), its address part addr_rec (B, N), z_t (B, G), h_t's [a_{t+1} ; v_t]
  // (B, N + R), q_t (B, R)
  Tensor hidden_, addr_rec_, z_, from_h_, query_;
  S *h_, *ar_, *zp_, *fh_, *M_, *q_;
  int64_t *n_, *age_;
};

// The backward loop (fused_loop.backward_steps), from the last step to the first, each step
// undoing the write to get M_{t-1} back: per step the products through ATen and the
// gradients of the phases as row functions: write-back, integration, gates, then read and
// address (the straight-through softmax, the content address, the read slot).
template <typename S>
class BackwardLoop {
 public:
  // grads: (dL/doutputs (T, B, G), dL/dhidden (B, H), dL/dmemory (B, N, R)); memory: the final
  // memory; weights: RecurrentWeights; acts: the Activations (probs? only where a gradient
  // reaches the logits); real?; query: (q_t of every step (T, B, R), W_q's h part (R, H)) or
  // none; out: GradientBuffers (grad_addr?, grad_gate_in, grad_trans_in, grad_value,
  // grad_query?), filled.
  BackwardLoop(at::TensorList grads, const Tensor& memory, at::TensorList weights,
               const Optionals& acts, const std::optional<Tensor>& real, const Optionals& query,
               const Optionals& out, LoopOptions options)
      : options_(options), from_hidden_(weights[0]), grad_gate_in_(*out.get(1)),
        grad_trans_in_(*out.get(2)), query_weight_(query.get(1)), grad_query_(out.get(4)) {
    T = grads[0].size(0), B = grads[0].size(1), H = from_hidden_.size(1);
    R = weights[3].size(1) - H, N = from_hidden_.size(0) - R, G = H + R;
    grain_ = row_grain(N * R + 2 * G + 4 * H + R);
    sampled_ = acts.get(7).has_value();
    content_ = sampled_ && query.get(0).has_value();  // without sampling no gradient reaches it
    trans_back_ = Product::make<S>(weights[3], true, T, B);
    gate_back_ = Product::make<S>(weights[2], true, T, B);
    grad_out_ = Seq<S>(grads[0]);
    hr_a_ = Seq<S>(*acts.get(0)), g_a_ = Seq<S>(*acts.get(1)), tr_a_ = Seq<S>(*acts.get(2));
    nh_a_ = Seq<S>(*acts.get(3)), ow_a_ = Seq<S>(*acts.get(6));
    if (sampled_) p_a_ = Seq<S>(*acts.get(7));
    slots_c_ = acts.get(4)->contiguous(), targets_c_ = acts.get(5)->contiguous();
    real_c_ = real ? real->contiguous() : Tensor();
    slots_ = ptr<int64_t>(slots_c_), targets_ = ptr<int64_t>(targets_c_), real_ = ptr<bool>(real_c_);
    memory_ = memory.contiguous().clone();
    grad_memory_ = grads[2].contiguous().clone();
    grad_state_ = grads[1].contiguous().clone();
    const auto rows = [&](int64_t width) { return at::empty({B, width}, grad_state_.options()); };
    next_value_ = rows(N + R).zero_(), grad_z_ = rows(G), grad_hr_ = rows(G), grad_c_ = rows(H);
    M_ = ptr<S>(memory_), gm_ = ptr<S>(grad_memory_), gs_ = ptr<S>(grad_state_);
    nv_ = ptr<S>(next_value_), gz_ = ptr<S>(grad_z_), ghr_ = ptr<S>(grad_hr_), gc_ = ptr<S>(grad_c_);
    g_gate_ = Seq<S>(grad_gate_in_), g_trans_ = Seq<S>(grad_trans_in_), g_value_ = Seq<S>(*out.get(3));
    if (sampled_) g_addr_ = Seq<S>(*out.get(0));
    if (content_) queries_ = Seq<S>(*query.get(0)), g_query_ = Seq<S>(*grad_query_);
  }

  // Runs the T steps back; returns the gradients of the initial hidden and memory.
  std::tuple<Tensor, Tensor> run() {
    for (int64_t t = T - 1; t >= 0; --t) {
      for_rows("rows: write-back backward", B, grain_, [&](int64_t b) { write_back_row(t, b); });
      // dL/dh_t += [dL/da_{t+1} ; dL/dv_t] from_hidden
      if (sampled_) {
        grad_state_.addmm_(next_value_, from_hidden_);
      } else {
        grad_state_.addmm_(next_value_.narrow(1, N, R), from_hidden_.narrow(0, N, R));
      }
      for_rows("rows: integration backward", B, grain_,
               [&](int64_t b) { integration_back_row(t, b); });
      trans_back_.mm_out(grad_z_, grad_trans_in_.select(0, t));
      for_rows("rows: gates backward", B, grain_, [&](int64_t b) { gates_back_row(t, b); });
      gate_back_.add_to(grad_hr_, grad_gate_in_.select(0, t));
      for_rows("rows: read, address backward", B, grain_, [&](int64_t b) { read_back_row(t, b); });
      // dL/dh_{t-1} += dL/dq_t W_q
      if (content_) grad_state_.addmm_(grad_query_->select(0, t), *query_weight_);
    }
    if (sampled_) grad_state_.addmm_(next_value_.narrow(1, 0, N), from_hidden_.narrow(0, 0, N));
    return {grad_state_, grad_memory_};
  }

 private:
  bool is_real(int64_t t, int64_t b) const { return real_ == nullptr || real_[t * B + b]; }

  // M_t = M_{t-1} with the written slot replaced by v_t: dL/dv_t is the slot's gradient (0
  // at a pad), which the slot no longer passes on; the slot gets its old value back.
  void write_back_row(int64_t t, int64_t b) {
    const int64_t tg = targets_[t * B + b];
    const bool real = is_real(t, b);
    S* gmt = gm_ + (b * N + tg) * R;
    S* vb = nv_ + b * (N + R) + N;
    S* gvb = g_value_.row(t, b);
    for (int64_t i = 0; i < R; ++i) {
      const S v = real ? gmt[i] : S(0);
      vb[i] = v;
      gvb[i] = v;
      if (real) gmt[i] = S(0);
    }
    const S* owb = ow_a_.row(t, b);
    S* mt = M_ + (b * N + tg) * R;
    for (int64_t i = 0; i < R; ++i) mt[i] = owb[i];
  }

  // Through h_t = tanh(c_t) (a pad row passes dL/dh_t on to h_{t-1} instead) and out_t's h
  // part into the transform's pre-activations; keeps dL/dc_t.
  void integration_back_row(int64_t t, int64_t b) {
    const bool real = is_real(t, b);
    const S* tb = tr_a_.row(t, b);
    const S *s_i = tb, *t_j = tb + H, *s_f = tb + 2 * H, *s_o = tb + 3 * H, *s_om = tb + 4 * H;
    const S* go_b = grad_out_.row(t, b);
    const S* nhb = nh_a_.row(t, b);
    const S* hrb = hr_a_.row(t, b);
    S* gsb = gs_ + b * H;
    S* gcb = gc_ + b * H;
    S* gp = g_trans_.row(t, b);
#pragma omp simd
    for (int64_t i = 0; i < H; ++i) {
      S gnh = S(0);
      if (real) {
        gnh = gsb[i];
        gsb[i] = S(0);
      }
      gnh = gnh + go_b[i] * s_o[i];
      const S g = gnh * (S(1) - nhb[i] * nhb[i]);
      gcb[i] = g;
      gp[i] = (g * t_j[i]) * (s_i[i] * (S(1) - s_i[i]));
      gp[H + i] = (g * s_i[i]) * (S(1) - t_j[i] * t_j[i]);
      gp[2 * H + i] = (g * hrb[i]) * (s_f[i] * (S(1) - s_f[i]));
      gp[3 * H + i] = (go_b[i] * nhb[i]) * (s_o[i] * (S(1) - s_o[i]));
    }
    for (int64_t i = 0; i < R; ++i) {
      gp[4 * H + i] = (go_b[H + i] * hrb[H + i]) * (s_om[i] * (S(1) - s_om[i]));
    }
  }

  // z_t = gates * [h ; r]: into the gates' pre-activations and (directly) into [h ; r].
  void gates_back_row(int64_t t, int64_t b) {
    const S* gb = g_a_.row(t, b);
    const S* hrb = hr_a_.row(t, b);
    const S* gzb = gz_ + b * G;
    S* ggp = g_gate_.row(t, b);
    S* ghrb = ghr_ + b * G;
#pragma omp simd
    for (int64_t i = 0; i < G; ++i) {
      ggp[i] = (gzb[i] * hrb[i]) * (gb[i] * (S(1) - gb[i]));
      ghrb[i] = gzb[i] * gb[i];
    }
  }

  // Into h_{t-1} (with c_{t-1}'s part f * dL/dc_t) and r_t (with out_t's part); then the
  // read r_t = M_{t-1}[k]: its straight-through gradient to the logits, the content address
  // and the read slot's gradient.
  void read_back_row(int64_t t, int64_t b) {
    const S* tb = tr_a_.row(t, b);
    const S *s_f = tb + 2 * H, *s_om = tb + 4 * H;
    const S* go_b = grad_out_.row(t, b);
    const S* ghrb = ghr_ + b * G;
    S* gsb = gs_ + b * H;
    const S* gcb = gc_ + b * H;
    for (int64_t i = 0; i < H; ++i) gsb[i] = gsb[i] + (ghrb[i] + gcb[i] * s_f[i]);
    S* grad_read = ghr_ + b * G + H;  // reused in place: dL/dr
    for (int64_t i = 0; i < R; ++i) grad_read[i] = ghrb[H + i] + go_b[H + i] * s_om[i];
    if (sampled_) address_back_row(t, b, grad_read);
    if (options_.no_read) return;  // a zero read uses no slot
    S* gms = gm_ + (b * N + slots_[t * B + b]) * R;
    for (int64_t i = 0; i < R; ++i) gms[i] += grad_read[i];
  }

  // Straight through: dL/dy_k = <M_{t-1}[k], dL/dr>, through softmax(logits / tau) into
  // dL/da_t (kept for h_{t-1}'s address part); with content_address, a_t[k] += <key_k, q_t>
  // into q_t and every slot of M_{t-1}.
  void address_back_row(int64_t t, int64_t b, const S* grad_read) {
    const S* pb = p_a_.row(t, b);
    const S* mb = M_ + b * N * R;
    S* gab = g_addr_.row(t, b);
    S weighted = S(0);
    for (int64_t k = 0; k < N; ++k) {
      S dot = S(0);
      const S* mk = mb + k * R;
#pragma omp simd reduction(+ : dot)
      for (int64_t i = 0; i < R; ++i) dot += mk[i] * grad_read[i];
      gab[k] = dot;  // dL/dy_k until the next loop
      weighted += pb[k] * dot;
    }
    S* nab = nv_ + b * (N + R);
    for (int64_t k = 0; k < N; ++k) {
      gab[k] = (pb[k] * (gab[k] - weighted)) / S(options_.temperature);
      nab[k] = gab[k];
    }
    if (!content_) return;
    const S* qb = queries_.row(t, b);
    S* gqb = g_query_.row(t, b);
    for (int64_t i = 0; i < R; ++i) gqb[i] = S(0);
    for (int64_t k = 0; k < N; ++k) {
      const S* mk = mb + k * R;
      S* gmk = gm_ + (b * N + k) * R;
      S norm = S(0), dot = S(0);
      for (int64_t i = 0; i < R; ++i) {
        norm += mk[i] * mk[i];
        dot += mk[i] * qb[i];
      }
      const S scale = S(1) / std::sqrt(norm + S(1));
      const S along = gab[k] * scale, overlap = dot * scale * scale;
      for (int64_t i = 0; i < R; ++i) {
        gqb[i] += along * mk[i];
        gmk[i] += along * (qb[i] - mk[i] * overlap);
      }
    }
  }

  const LoopOptions options_;
  const Tensor from_hidden_, grad_gate_in_, grad_trans_in_;
  const std::optional<Tensor> query_weight_, grad_query_;
  int64_t T, B, N, H, R, G, grain_;
  bool sampled_, content_;
  Product trans_back_, gate_back_;  // dL/dz = dL/dtrans W_t; dL/d[h ; r] += dL/dgates W_g
  Seq<S> grad_out_, hr_a_, g_a_, tr_a_, nh_a_, ow_a_, p_a_, g_gate_, g_trans_, g_value_, g_addr_;
  Seq<S> queries_, g_query_;
  Tensor slots_c_, targets_c_, real_c_;
  const int64_t *slots_, *targets_;
  const bool* real_ = nullptr;
  // M_t unwound to M_{t-1}; dL/dM, dL/dh (except through a_{t+1}); [dL/da_{t+1} ; dL/dv_t]
  // (B, N + R); dL/dz (B, G); dL/d[h ; r] (B, G); dL/dc_t (B, H)
  Tensor memory_, grad_memory_, grad_state_, next_value_, grad_z_, grad_hr_, grad_c_;
  S *M_, *gm_, *gs_, *nv_, *gz_, *ghr_, *gc_;
};

// Loop<float> or Loop<double> as ``like``'s dtype, run.
template <template <typename> class Loop, typename... Args>
auto run(const Tensor& like, const Args&... args) {
  if (like.scalar_type() == at::kDouble) return Loop<double>(args...).run();
  TORCH_CHECK(like.scalar_type() == at::kFloat, "armin_native: float32 or float64 only");
  return Loop<float>(args...).run();
}

Tensor forward(const Optionals& inputs, at::TensorList weights, const Optionals& state,
               const Optionals& buffers, double temperature, double reread_penalty, bool no_read) {
  const Tensor addr_in = *inputs.get(0);
  check_cpu_dense(addr_in, "addr_in", 3);
  check_cpu_dense(*state.get(0), "hidden", 2);
  const Tensor memory = *state.get(1), steps = *state.get(2);
  const std::optional<Tensor> read_age = state.get(3), real = inputs.get(4);
  TORCH_CHECK(!read_age || (read_age->scalar_type() == at::kLong && read_age->is_contiguous()),
              "armin_native.forward: read_age must be contiguous int64");
  TORCH_CHECK(memory.is_contiguous() && steps.is_contiguous() && buffers.get(0)->is_contiguous(),
              "armin_native.forward: memory, steps and outputs must be contiguous");
  TORCH_CHECK(steps.scalar_type() == at::kLong, "armin_native.forward: steps must be int64");
  TORCH_CHECK(!real || real->scalar_type() == at::kBool, "armin_native.forward: real must be bool");
  const LoopOptions o{temperature, reread_penalty, no_read};
  return run<ForwardLoop>(addr_in, inputs, weights, state, buffers, o);
}

std::tuple<Tensor, Tensor> backward(at::TensorList grads, const Tensor& memory,
                                    at::TensorList weights, const Optionals& acts,
                                    const std::optional<Tensor>& real, const Optionals& query,
                                    const Optionals& out, double temperature, bool no_read) {
  check_cpu_dense(grads[0], "grad_out", 3);
  // grad_addr, grad_gate_in and grad_trans_in may be views of one (T, B, N + G + P) buffer
  const std::optional<Tensor> grad_addr = out.get(0);
  TORCH_CHECK(out.get(1)->stride(2) == 1 && out.get(2)->stride(2) == 1 &&
                  (!grad_addr || grad_addr->stride(2) == 1) && out.get(3)->is_contiguous(),
              "armin_native.backward: gradient buffers must be dense in their last dimension");
  const LoopOptions o{temperature, 0.0, no_read};
  return run<BackwardLoop>(grads[0], grads, memory, weights, acts, real, query, out, o);
}

}  // namespace

// The lists are run_recurrence's named tuples in fused_loop.py / recurrence.py, in order.
TORCH_LIBRARY(armin_native, m) {
  m.def("packed_products_available() -> bool", &packed_available);
  m.def(
      "forward(Tensor?[] inputs, Tensor[] weights, Tensor(a!)?[] state, Tensor(b!)?[] buffers, "
      "float temperature, float reread_penalty, bool no_read) -> Tensor",
      &forward);
  m.def(
      "backward(Tensor[] grads, Tensor memory, Tensor[] weights, Tensor?[] acts, Tensor? real, "
      "Tensor?[] query, Tensor(a!)?[] out, float temperature, bool no_read) -> (Tensor, Tensor)",
      &backward);
}
