// The ARMIN recurrence loop (forward over T steps and its hand-written backward) for CPU
// tensors, float32 and float64: the compiled twin of _forward_steps / _backward_steps in
// ../recurrence.py (which documents every buffer); both compute armin_step of ../step.py,
// the definition, fused over the steps (tests/test_step.py checks them against it). Matrix
// products go through ATen (BLAS), or in float32 through oneDNN on packed weights (Product
// below); the gate arithmetic, the read, the write and the pad masking of a step are plain
// loops over the B rows, so nothing is dispatched per elementwise operation. Registered as
// torch.ops.armin_native.{forward,backward,packed_products_available}.
#include <ATen/ATen.h>
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

template <typename S>
Tensor forward_impl(const Tensor& addr_in, const Tensor& gate_in, const Tensor& trans_in,
                    const Tensor& hidden0, Tensor& memory, Tensor& steps,
                    const Tensor& from_hidden, const Tensor& from_hidden_bias,
                    const Tensor& gate_w, const Tensor& trans_w,
                    const std::optional<Tensor>& noise_opt, const std::optional<Tensor>& real_opt,
                    double temperature, Tensor& outputs, Tensor& hidden_read_a, Tensor& gates_a,
                    Tensor& trans_a, Tensor& new_hidden_a, Tensor& slots_a, Tensor& targets_a,
                    Tensor& overwritten_a, const std::optional<Tensor>& probs_opt,
                    const std::optional<Tensor>& rec_logits_opt,
                    const std::optional<Tensor>& rec_read_opt,
                    const std::optional<Tensor>& rec_written_opt,
                    const std::optional<Tensor>& read_age_opt, double reread_penalty,
                    const std::optional<Tensor>& query_in_opt,
                    const std::optional<Tensor>& query_weight_opt, bool no_read) {
  const int64_t T = addr_in.size(0), B = addr_in.size(1), N = addr_in.size(2);
  const int64_t H = hidden0.size(1), R = memory.size(2), G = H + R, P = 4 * H + R;
  const int64_t kept = hidden_read_a.size(0);
  const bool sampled = noise_opt.has_value();
  const bool recording = rec_logits_opt.has_value();
  const S tau = S(temperature);

  Seq<S> a_in(addr_in), out(outputs);
  Seq<S> noise = sampled ? Seq<S>(*noise_opt) : Seq<S>();
  const bool* real = real_opt ? real_opt->data_ptr<bool>() : nullptr;
  const int64_t real_st = real_opt ? real_opt->stride(0) : 0;
  const int64_t real_sb = real_opt ? real_opt->stride(1) : 0;

  const Tensor w_from_h = from_hidden.t();
  const Product gate_product = Product::make<S>(gate_w, false, T, B);
  const Product trans_product = Product::make<S>(trans_w, false, T, B);
  Tensor hidden = hidden0.contiguous().clone();
  Tensor addr_rec = at::mm(hidden, w_from_h.narrow(1, 0, N)).contiguous();
  Tensor z = at::empty({B, G}, hidden.options());
  Tensor from_h = at::empty({B, N + R}, hidden.options());
  S* h = hidden.data_ptr<S>();
  S* ar = addr_rec.data_ptr<S>();
  S* zp = z.data_ptr<S>();
  S* fh = from_h.data_ptr<S>();
  S* M = memory.data_ptr<S>();
  int64_t* n = steps.data_ptr<int64_t>();
  // no_reread: the read age of every slot (B, N), updated in place at real steps; the slot
  // read at the previous real step (age 1) loses reread_penalty from its logit
  int64_t* age = read_age_opt ? read_age_opt->data_ptr<int64_t>() : nullptr;
  const S penalty = S(reread_penalty);
  // content_address: q_t = query_in[t] + h_{t-1} W_q^T (B, R); slot k adds <key_k, q_t>,
  // key_k = M_k / sqrt(|M_k|^2 + 1)
  const bool content = query_in_opt.has_value();
  Tensor query = content ? at::empty({B, R}, hidden.options()) : Tensor();
  const Tensor w_query = content ? query_weight_opt->t() : Tensor();

  for (int64_t t = 0; t < T; ++t) {
    const int64_t s = kept == 1 ? 0 : t;
    Tensor hr_t = hidden_read_a.select(0, s), gates_t = gates_a.select(0, s);
    Tensor trans_t = trans_a.select(0, s), nh_t = new_hidden_a.select(0, s);
    S* hr = hr_t.data_ptr<S>();
    S* gt = gates_t.data_ptr<S>();
    S* tr = trans_t.data_ptr<S>();
    S* nh = nh_t.data_ptr<S>();
    int64_t* slot = slots_a.select(0, s).data_ptr<int64_t>();
    int64_t* target = targets_a.select(0, s).data_ptr<int64_t>();
    S* ow = overwritten_a.select(0, s).data_ptr<S>();
    S* pr = sampled ? probs_opt->select(0, s).data_ptr<S>() : nullptr;
    S* rl = recording ? rec_logits_opt->select(0, t).data_ptr<S>() : nullptr;

    if (content) at::addmm_out(query, query_in_opt->select(0, t), hidden, w_query);
    // address logits, choice, probabilities; [h_{t-1} ; r_t]
    for (int64_t b = 0; b < B; ++b) {
      const S* ai = a_in.row(t, b);
      const S* arb = ar + b * N;
      int64_t best = 0;
      S best_value = 0;
      S* prb = sampled ? pr + b * N : nullptr;
      const int64_t* ageb = age ? age + b * N : nullptr;
      const S* qb = content ? query.data_ptr<S>() + b * R : nullptr;
      for (int64_t k = 0; k < N; ++k) {
        S logit = ai[k] + arb[k];
        if (qb) {
          const S* mk = M + (b * N + k) * R;
          S norm = S(0), dot = S(0);
          for (int64_t i = 0; i < R; ++i) {
            norm += mk[i] * mk[i];
            dot += mk[i] * qb[i];
          }
          logit += dot / std::sqrt(norm + S(1));
        }
        if (ageb && ageb[k] == 1) logit -= penalty;
        if (recording) rl[b * N + k] = logit;
        if (sampled) {
          logit += noise.row(t, b)[k];
          prb[k] = logit / tau;
        }
        // as torch.argmax: the first maximum, a NaN counting as the maximum
        if (k == 0 || (!std::isnan(best_value) && (logit > best_value || std::isnan(logit)))) {
          best = k;
          best_value = logit;
        }
      }
      if (sampled) {  // softmax of logits / tau, in place
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
      slot[b] = best;
      S* hrb = hr + b * G;
      const S* hb = h + b * H;
      const S* mb = M + (b * N + best) * R;
      for (int64_t i = 0; i < H; ++i) hrb[i] = hb[i];
      for (int64_t i = 0; i < R; ++i) hrb[H + i] = no_read ? S(0) : mb[i];  // no_read: r_t = 0
    }
    if (recording) {
      int64_t* rr = rec_read_opt->select(0, t).data_ptr<int64_t>();
      for (int64_t b = 0; b < B; ++b) rr[b] = slot[b];
    }

    // gates, z = gates * [h ; r]
    gate_product.affine_out(gates_t, gate_in.select(0, t), hr_t);
    for (int64_t b = 0; b < B; ++b) {
      S* g = gt + b * G;
      const S* hrb = hr + b * G;
      S* zb = zp + b * G;
#pragma omp simd
      for (int64_t i = 0; i < G; ++i) {
        g[i] = sigmoid(g[i]);
        zb[i] = g[i] * hrb[i];
      }
    }

    // [i ; j ; f ; o ; o_m], new hidden, outputs
    trans_product.affine_out(trans_t, trans_in.select(0, t), z);
    for (int64_t b = 0; b < B; ++b) {
      S* tb = tr + b * P;
#pragma omp simd
      for (int64_t i = 0; i < H; ++i) tb[i] = sigmoid(tb[i]);
#pragma omp simd
      for (int64_t i = H; i < 2 * H; ++i) tb[i] = std::tanh(tb[i]);
#pragma omp simd
      for (int64_t i = 2 * H; i < P; ++i) tb[i] = sigmoid(tb[i]);
      const S *s_i = tb, *t_j = tb + H, *s_f = tb + 2 * H, *s_o = tb + 3 * H, *s_om = tb + 4 * H;
      const S* hb = h + b * H;
      const S* rb = hr + b * G + H;
      S* nhb = nh + b * H;
      S* ob = out.row(t, b);
#pragma omp simd
      for (int64_t i = 0; i < H; ++i) {
        nhb[i] = std::tanh(s_f[i] * hb[i] + s_i[i] * t_j[i]);
        ob[i] = s_o[i] * nhb[i];
      }
      for (int64_t i = 0; i < R; ++i) ob[H + i] = s_om[i] * rb[i];
    }

    // [a_{t+1} ; v_t] from h_t; write (pad rows keep everything)
    at::addmm_out(from_h, from_hidden_bias, nh_t, w_from_h);
    int64_t* rw = recording ? rec_written_opt->select(0, t).data_ptr<int64_t>() : nullptr;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t tg = n[b] < N ? n[b] : slot[b];
      target[b] = tg;
      if (recording) rw[b] = tg;
      S* mt = M + (b * N + tg) * R;
      S* owb = ow + b * R;
      for (int64_t i = 0; i < R; ++i) owb[i] = mt[i];
      if (real && !real[t * real_st + b * real_sb]) continue;
      const S* fhb = fh + b * (N + R);
      for (int64_t i = 0; i < R; ++i) mt[i] = fhb[N + i];
      for (int64_t k = 0; k < N; ++k) ar[b * N + k] = fhb[k];
      const S* nhb = nh + b * H;
      for (int64_t i = 0; i < H; ++i) h[b * H + i] = nhb[i];
      n[b] += 1;
      if (age) {
        int64_t* ageb = age + b * N;
        for (int64_t k = 0; k < N; ++k) ageb[k] += ageb[k] > 0;
        ageb[slot[b]] = 1;
      }
    }
  }
  return hidden;
}

template <typename S>
std::tuple<Tensor, Tensor> backward_impl(
    const Tensor& grad_out_in, const Tensor& grad_hidden, const Tensor& grad_memory_in,
    const Tensor& memory_final, const Tensor& from_hidden, const Tensor& gate_w,
    const Tensor& trans_w, const Tensor& hidden_read_a, const Tensor& gates_a,
    const Tensor& trans_a, const Tensor& new_hidden_a, const Tensor& slots_a,
    const Tensor& targets_a, const Tensor& overwritten_a, const std::optional<Tensor>& probs_opt,
    const std::optional<Tensor>& real_opt, double temperature,
    const std::optional<Tensor>& grad_addr_opt, Tensor& grad_gate_in, Tensor& grad_trans_in,
    Tensor& grad_value, const std::optional<Tensor>& queries_opt,
    const std::optional<Tensor>& query_weight_opt, const std::optional<Tensor>& grad_query_opt,
    bool no_read) {
  const int64_t T = grad_out_in.size(0), B = grad_out_in.size(1);
  const int64_t H = from_hidden.size(1), R = trans_w.size(1) - H;
  const int64_t N = from_hidden.size(0) - R, G = H + R, P = 4 * H + R;
  const bool sampled = probs_opt.has_value();
  const S tau = S(temperature);
  // dL/dz = dL/d[i;j;f;o;o_m] W and dL/d[h;r] += dL/d(gate pre-activations) W_g
  const Product trans_back = Product::make<S>(trans_w, true, T, B);
  const Product gate_back = Product::make<S>(gate_w, true, T, B);

  Seq<S> grad_out(grad_out_in);
  Seq<S> hr_a(hidden_read_a), g_a(gates_a), tr_a(trans_a), nh_a(new_hidden_a), ow_a(overwritten_a);
  Seq<S> p_a = sampled ? Seq<S>(*probs_opt) : Seq<S>();
  const Tensor slots_c = slots_a.contiguous(), targets_c = targets_a.contiguous();
  const int64_t* slots = slots_c.data_ptr<int64_t>();
  const int64_t* targets = targets_c.data_ptr<int64_t>();
  const Tensor real_c = real_opt ? real_opt->contiguous() : Tensor();
  const bool* real = real_opt ? real_c.data_ptr<bool>() : nullptr;

  Tensor memory = memory_final.contiguous().clone();
  Tensor grad_memory = grad_memory_in.contiguous().clone();
  Tensor grad_state = grad_hidden.contiguous().clone();
  // [dL/da_{t+1} ; dL/dv_t]: the rows that multiply from_hidden
  Tensor next_value = at::zeros({B, N + R}, grad_state.options());
  Tensor grad_z = at::empty({B, G}, grad_state.options());
  Tensor grad_hr = at::empty({B, G}, grad_state.options());
  Tensor grad_c = at::empty({B, H}, grad_state.options());
  S* M = memory.data_ptr<S>();
  S* gm = grad_memory.data_ptr<S>();
  S* gs = grad_state.data_ptr<S>();
  S* nv = next_value.data_ptr<S>();
  S* gz = grad_z.data_ptr<S>();
  S* ghr = grad_hr.data_ptr<S>();
  S* gc = grad_c.data_ptr<S>();
  Seq<S> g_gate(grad_gate_in), g_trans(grad_trans_in), g_value(grad_value);
  Seq<S> g_addr = sampled ? Seq<S>(*grad_addr_opt) : Seq<S>();
  std::vector<S> grad_probs(N);
  // content_address (with sampling only: without it no gradient reaches the logits)
  const bool content = sampled && queries_opt.has_value();
  Seq<S> queries = content ? Seq<S>(*queries_opt) : Seq<S>();
  Seq<S> g_query = content ? Seq<S>(*grad_query_opt) : Seq<S>();

  for (int64_t t = T - 1; t >= 0; --t) {
    // write: M_t = M_{t-1} with slot `target` replaced by v_t; unwind memory to M_{t-1}
    for (int64_t b = 0; b < B; ++b) {
      const int64_t tg = targets[t * B + b];
      const bool is_real = real == nullptr || real[t * B + b];
      S* gmt = gm + (b * N + tg) * R;
      S* vb = nv + b * (N + R) + N;
      S* gvb = g_value.row(t, b);
      for (int64_t i = 0; i < R; ++i) {
        const S v = is_real ? gmt[i] : S(0);
        vb[i] = v;
        gvb[i] = v;
        if (is_real) gmt[i] = S(0);
      }
      const S* owb = ow_a.row(t, b);
      S* mt = M + (b * N + tg) * R;
      for (int64_t i = 0; i < R; ++i) mt[i] = owb[i];
    }
    // dL/dh_t += [a_{t+1} ; v_t] rows times from_hidden
    if (sampled) {
      grad_state.addmm_(next_value, from_hidden);
    } else {
      grad_state.addmm_(next_value.narrow(1, N, R), from_hidden.narrow(0, N, R));
    }
    // through h_t = tanh(c_t) and the transform
    for (int64_t b = 0; b < B; ++b) {
      const bool is_real = real == nullptr || real[t * B + b];
      const S* tb = tr_a.row(t, b);
      const S *s_i = tb, *t_j = tb + H, *s_f = tb + 2 * H, *s_o = tb + 3 * H, *s_om = tb + 4 * H;
      const S* go_b = grad_out.row(t, b);
      const S* nhb = nh_a.row(t, b);
      const S* hrb = hr_a.row(t, b);
      S* gsb = gs + b * H;
      S* gcb = gc + b * H;
      S* gp = g_trans.row(t, b);
#pragma omp simd
      for (int64_t i = 0; i < H; ++i) {
        S gnh = S(0);
        if (is_real) {
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
    trans_back.mm_out(grad_z, grad_trans_in.select(0, t));
    // through the gates
    for (int64_t b = 0; b < B; ++b) {
      const S* gb = g_a.row(t, b);
      const S* hrb = hr_a.row(t, b);
      const S* gzb = gz + b * G;
      S* ggp = g_gate.row(t, b);
      S* ghrb = ghr + b * G;
#pragma omp simd
      for (int64_t i = 0; i < G; ++i) {
        ggp[i] = (gzb[i] * hrb[i]) * (gb[i] * (S(1) - gb[i]));
        ghrb[i] = gzb[i] * gb[i];
      }
    }
    gate_back.add_to(grad_hr, grad_gate_in.select(0, t));
    // into h_{t-1} and r_t; the read and its straight-through gradient
    for (int64_t b = 0; b < B; ++b) {
      const S* tb = tr_a.row(t, b);
      const S *s_f = tb + 2 * H, *s_om = tb + 4 * H;
      const S* go_b = grad_out.row(t, b);
      const S* ghrb = ghr + b * G;
      S* gsb = gs + b * H;
      const S* gcb = gc + b * H;
      for (int64_t i = 0; i < H; ++i) gsb[i] = gsb[i] + (ghrb[i] + gcb[i] * s_f[i]);
      S* grad_read = ghr + b * G + H;  // reused in place: dL/dr
      for (int64_t i = 0; i < R; ++i) grad_read[i] = ghrb[H + i] + go_b[H + i] * s_om[i];
      if (sampled) {
        const S* pb = p_a.row(t, b);
        const S* mb = M + b * N * R;
        S weighted = S(0);
        for (int64_t k = 0; k < N; ++k) {
          S dot = S(0);
          const S* mk = mb + k * R;
#pragma omp simd reduction(+ : dot)
          for (int64_t i = 0; i < R; ++i) dot += mk[i] * grad_read[i];
          grad_probs[k] = dot;
          weighted += pb[k] * dot;
        }
        S* gab = g_addr.row(t, b);
        S* nab = nv + b * (N + R);
        for (int64_t k = 0; k < N; ++k) {
          gab[k] = (pb[k] * (grad_probs[k] - weighted)) / tau;
          nab[k] = gab[k];
        }
        if (content) {  // a_t[k] += <key_k, q_t>: into q_t and every slot of M_{t-1}
          const S* qb = queries.row(t, b);
          S* gqb = g_query.row(t, b);
          for (int64_t i = 0; i < R; ++i) gqb[i] = S(0);
          for (int64_t k = 0; k < N; ++k) {
            const S* mk = mb + k * R;
            S* gmk = gm + (b * N + k) * R;
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
      }
      if (no_read) continue;  // a zero read uses no slot
      S* gms = gm + (b * N + slots[t * B + b]) * R;
      for (int64_t i = 0; i < R; ++i) gms[i] += grad_read[i];
    }
    // dL/dh_{t-1} += dL/dq_t W_q
    if (content) grad_state.addmm_(grad_query_opt->select(0, t), *query_weight_opt);
  }
  if (sampled) {
    grad_state.addmm_(next_value.narrow(1, 0, N), from_hidden.narrow(0, 0, N));
  }
  return {grad_state, grad_memory};
}

Tensor forward(const Tensor& addr_in, const Tensor& gate_in, const Tensor& trans_in,
               const Tensor& hidden, Tensor memory, Tensor steps, const Tensor& from_hidden,
               const Tensor& from_hidden_bias, const Tensor& gate, const Tensor& transform,
               const std::optional<Tensor>& noise, const std::optional<Tensor>& real,
               double temperature, Tensor outputs, Tensor hidden_read, Tensor gates,
               Tensor trans, Tensor new_hidden, Tensor slots, Tensor targets,
               Tensor overwritten, const std::optional<Tensor>& probs,
               const std::optional<Tensor>& rec_logits, const std::optional<Tensor>& rec_read,
               const std::optional<Tensor>& rec_written, const std::optional<Tensor>& read_age,
               double reread_penalty, const std::optional<Tensor>& query_in,
               const std::optional<Tensor>& query_weight, bool no_read) {
  check_cpu_dense(addr_in, "addr_in", 3);
  TORCH_CHECK(!read_age || (read_age->scalar_type() == at::kLong && read_age->is_contiguous()),
              "armin_native.forward: read_age must be contiguous int64");
  check_cpu_dense(hidden, "hidden", 2);
  TORCH_CHECK(memory.is_contiguous() && steps.is_contiguous() && outputs.is_contiguous(),
              "armin_native.forward: memory, steps and outputs must be contiguous");
  TORCH_CHECK(steps.scalar_type() == at::kLong, "armin_native.forward: steps must be int64");
  TORCH_CHECK(!real || real->scalar_type() == at::kBool, "armin_native.forward: real must be bool");
  if (addr_in.scalar_type() == at::kDouble) {
    return forward_impl<double>(addr_in, gate_in, trans_in, hidden, memory, steps, from_hidden,
                                from_hidden_bias, gate, transform, noise, real, temperature,
                                outputs, hidden_read, gates, trans, new_hidden, slots, targets,
                                overwritten, probs, rec_logits, rec_read, rec_written,
                                read_age, reread_penalty, query_in, query_weight, no_read);
  }
  TORCH_CHECK(addr_in.scalar_type() == at::kFloat, "armin_native: float32 or float64 only");
  return forward_impl<float>(addr_in, gate_in, trans_in, hidden, memory, steps, from_hidden,
                             from_hidden_bias, gate, transform, noise, real, temperature,
                             outputs, hidden_read, gates, trans, new_hidden, slots, targets,
                             overwritten, probs, rec_logits, rec_read, rec_written, read_age,
                             reread_penalty, query_in, query_weight, no_read);
}

std::tuple<Tensor, Tensor> backward(
    const Tensor& grad_out, const Tensor& grad_hidden, const Tensor& grad_memory,
    const Tensor& memory, const Tensor& from_hidden, const Tensor& gate,
    const Tensor& transform, const Tensor& hidden_read, const Tensor& gates,
    const Tensor& trans, const Tensor& new_hidden, const Tensor& slots, const Tensor& targets,
    const Tensor& overwritten, const std::optional<Tensor>& probs,
    const std::optional<Tensor>& real, double temperature,
    const std::optional<Tensor>& grad_addr, Tensor grad_gate_in, Tensor grad_trans_in,
    Tensor grad_value, const std::optional<Tensor>& queries,
    const std::optional<Tensor>& query_weight, const std::optional<Tensor>& grad_query,
    bool no_read) {
  check_cpu_dense(grad_out, "grad_out", 3);
  // grad_addr, grad_gate_in and grad_trans_in may be views of one (T, B, N + G + P) buffer
  TORCH_CHECK(grad_gate_in.stride(2) == 1 && grad_trans_in.stride(2) == 1 &&
                  (!grad_addr || grad_addr->stride(2) == 1) && grad_value.is_contiguous(),
              "armin_native.backward: gradient buffers must be dense in their last dimension");
  if (grad_out.scalar_type() == at::kDouble) {
    return backward_impl<double>(grad_out, grad_hidden, grad_memory, memory, from_hidden, gate,
                                 transform, hidden_read, gates, trans, new_hidden, slots,
                                 targets, overwritten, probs, real, temperature, grad_addr,
                                 grad_gate_in, grad_trans_in, grad_value, queries, query_weight,
                                 grad_query, no_read);
  }
  TORCH_CHECK(grad_out.scalar_type() == at::kFloat, "armin_native: float32 or float64 only");
  return backward_impl<float>(grad_out, grad_hidden, grad_memory, memory, from_hidden, gate,
                              transform, hidden_read, gates, trans, new_hidden, slots, targets,
                              overwritten, probs, real, temperature, grad_addr, grad_gate_in,
                              grad_trans_in, grad_value, queries, query_weight, grad_query,
                              no_read);
}

}  // namespace

TORCH_LIBRARY(armin_native, m) {
  m.def("packed_products_available() -> bool", &packed_available);
  m.def(
      "forward(Tensor addr_in, Tensor gate_in, Tensor trans_in, Tensor hidden, "
      "Tensor(a!) memory, Tensor(b!) steps, Tensor from_hidden, Tensor from_hidden_bias, "
      "Tensor gate, Tensor transform, Tensor? noise, Tensor? real, float temperature, "
      "Tensor(c!) outputs, Tensor(d!) hidden_read, Tensor(e!) gates, Tensor(f!) trans, "
      "Tensor(g!) new_hidden, Tensor(h!) slots, Tensor(i!) targets, Tensor(j!) overwritten, "
      "Tensor(k!)? probs, Tensor(l!)? rec_logits, Tensor(m!)? rec_read, "
      "Tensor(n!)? rec_written, Tensor(o!)? read_age, float reread_penalty, "
      "Tensor? query_in, Tensor? query_weight, bool no_read) -> Tensor",
      &forward);
  m.def(
      "backward(Tensor grad_out, Tensor grad_hidden, Tensor grad_memory, Tensor memory, "
      "Tensor from_hidden, Tensor gate, Tensor transform, Tensor hidden_read, Tensor gates, "
      "Tensor trans, Tensor new_hidden, Tensor slots, Tensor targets, Tensor overwritten, "
      "Tensor? probs, Tensor? real, float temperature, Tensor(a!)? grad_addr, "
      "Tensor(b!) grad_gate_in, Tensor(c!) grad_trans_in, Tensor(d!) grad_value, "
      "Tensor? queries, Tensor? query_weight, Tensor(e!)? grad_query, bool no_read) -> (Tensor, Tensor)",
      &backward);
}
