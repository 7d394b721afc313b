// Net: compilation of a GraphDesc into buffers and schedules, and the training step.
// See bot/net.h for the contract. Layout: values are NHWC per sample (H, W, C) or (C);
// a batch of n samples occupies the first n * sample_numel floats of a value's buffer,
// so one allocation for the largest batch serves every smaller one.
#include "bot/net.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bot/net_device.h"
#include "bot/ops.h"
#include "bot/status.h"
#include "bot/tensor.h"

namespace bot {

namespace {

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kBatchNorm: return "batchnorm";
    case OpKind::kRelu: return "relu";
    case OpKind::kAdd: return "add";
    case OpKind::kMaxPool2d: return "maxpool2d";
    case OpKind::kAvgPool2d: return "avgpool2d";
    case OpKind::kGlobalAvgPool: return "globalavgpool";
    case OpKind::kLinear: return "linear";
  }
  return "?";
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

struct Net::Impl {
  struct Value {
    std::string name;
    Shape sample;           // (H, W, C) or (C)
    int64_t sample_numel = 0;
    int producer = -1;      // node index; -1 for the graph input
    std::vector<int> consumers;
    int storage = -1;       // activation buffer, -1 when fused away
    int grad_buffer = -1;   // planned gradient buffer, -1 when no gradient
    bool needs_grad = false;
  };
  struct Param {
    ParamInfo info;
    int64_t numel = 0;
    // On the device, in the core's layout (KRSC for conv weights); grad and momentum only
    // for trained parameters, compute (the FP16-rounded copy the kernels read) only in
    // mixed precision.
    float* data = nullptr;
    float* grad = nullptr;
    float* momentum = nullptr;
    float* compute = nullptr;
    bool conv = false;            // OIHW <-> KRSC at the boundary
    bool half = false;            // conv/linear parameter in mixed precision
  };
  struct Node {
    NodeDesc desc;
    std::vector<int> in;  // value indices
    int out = -1;         // value the node writes (the ReLU's value when fused)
    int w = -1, b = -1, rm = -1, rv = -1;  // parameter indices
    bool fused_relu = false;
    // A residual add fused into a BN (plan_residual_adds): on the BN, the add's index and
    // the add's other input; on the add, the BN's index.
    int residual_add = -1, residual = -1, fused_bn = -1;
    bool skip = false;    // a ReLU folded into its producer
    // add: input k's gradient is the add's output gradient itself (same buffer, no copy);
    // planned in allocate().
    bool grad_alias[2] = {false, false};
    float* save_mean = nullptr;  // batchnorm (device)
    float* save_invstd = nullptr;
    // Inference: a BN whose input is a conv's output read by nothing else is folded into
    // that conv (fold_bn on the conv, folded_into on the BN, which eval skips).
    int fold_bn = -1, folded_into = -1;
    // A folded BN with a residual add (residual_add >= 0) whose other input is ready before
    // the conv runs: on a device that folds_residual, the conv adds it (and the add's ReLU)
    // and writes the add's output; the add does not run.
    bool residual_in_conv = false;
    // conv: w * scale per output channel, in the device's form (the CPU packs them for its
    // GEMM), and beta - mean * scale; allocated on the first eval-mode forward.
    float* folded_w = nullptr;
    float* folded_b = nullptr;
  };

  GraphDesc graph;
  NetOptions options;
  std::unique_ptr<NetDevice> dev;
  std::vector<Value> values;
  std::vector<Node> nodes;
  std::vector<Param> params;
  std::vector<ParamInfo> param_infos;
  std::map<std::string, int> param_index;
  std::vector<float*> activations;   // device buffers
  std::vector<float*> grad_buffers;
  float* scratch = nullptr;  // gradient accumulation for values with several consumers
  float* discard = nullptr;  // dx of a BN that reads the graph input (not needed)
  bool folded_fresh = false;  // folded_w/folded_b match the parameters and statistics
  std::vector<char> grad_written;  // per value, during a backward pass
  int output = -1;
  int64_t classes = 0;
  // Profiling: seconds and calls per (op kind, phase). Each op is bracketed by two marks
  // in the device's timeline (host clock readings on the CPU, CUDA events on the GPU, so
  // nothing waits mid-step); the intervals are read once the call's work has finished.
  bool profiling = false;
  std::map<std::pair<std::string, std::string>, std::pair<double, int64_t>> prof;
  struct PendingOp {
    const char* op;
    const char* phase;
    int begin, end;
  };
  std::vector<PendingOp> pending_ops;
  int tick() { return profiling ? dev->profile_mark() : -1; }
  void tock(int begin, const char* op, const char* phase) {
    if (profiling && begin >= 0) pending_ops.push_back({op, phase, begin, dev->profile_mark()});
  }
  // Adds the finished call's intervals to prof (after its work is done).
  void flush_profile() {
    if (pending_ops.empty()) return;
    dev->synchronize();
    for (const PendingOp& p : pending_ops) {
      auto& e = prof[{p.op, p.phase}];
      e.first += dev->profile_seconds(p.begin, p.end);
      e.second += 1;
    }
    pending_ops.clear();
    dev->profile_clear();
  }
  std::function<void(const std::string&)> hook;
  std::shared_ptr<dist::GradientAverager> averager;
  // BN over groups of the batch (options.bn_groups > 1): per-group dgamma and dbeta.
  int64_t bn_group_numel = 0;
  float* bn_group_grads = nullptr;

  // --- compilation ------------------------------------------------------------------

  int find_value(const std::string& name, const std::map<std::string, int>& by_name,
                 const std::string& node) const {
    auto it = by_name.find(name);
    BOT_CHECK(it != by_name.end(), Code::kArgument,
              "node " + node + " reads \"" + name + "\", which is not the input or an earlier node");
    return it->second;
  }

  int add_param(const std::string& key, Shape shape, ParamKind kind, bool trainable,
                bool conv, const std::string& node, bool half = false) {
    BOT_CHECK(!key.empty(), Code::kArgument, "node " + node + " needs a parameter key");
    BOT_CHECK(param_index.count(key) == 0, Code::kArgument,
              "parameter \"" + key + "\" is used by more than one node (sharing is not supported)");
    Param p;
    p.info.name = key;
    p.info.shape = shape;
    p.info.kind = kind;
    p.info.trainable = trainable;
    p.info.decay = trainable && std::find(options.no_decay.begin(), options.no_decay.end(),
                                          key) == options.no_decay.end();
    for (const auto& [k, scale] : options.lr_scale)
      if (k == key) p.info.lr_scale = scale;
    p.conv = conv;
    p.half = half && options.precision == Precision::kF16;
    p.numel = shape_numel(shape);
    p.data = dev->allocate(p.numel);
    if (trainable && options.training) {
      p.grad = dev->allocate(p.numel);
      p.momentum = dev->allocate(p.numel);
    }
    // Defaults before the model's initialisation arrives: BN gamma 1, running var 1.
    if (kind == ParamKind::kGamma || kind == ParamKind::kRunningVar) dev->fill(p.data, p.numel, 1.0f);
    if (p.half) p.compute = dev->allocate(p.numel);
    param_index[key] = static_cast<int>(params.size());
    params.push_back(std::move(p));
    return static_cast<int>(params.size()) - 1;
  }

  void compile() {
    BOT_CHECK(options.max_batch >= 1 && options.max_batch <= (1 << 20), Code::kArgument,
              "max batch must be in [1, 2^20]");
    BOT_CHECK(options.height >= 1 && options.width >= 1 && options.height <= 65536 &&
                  options.width <= 65536, Code::kArgument, "input height and width must be in [1, 65536]");
    BOT_CHECK(graph.input_channels >= 1 && graph.input_channels <= 65536, Code::kArgument,
              "input channels must be in [1, 65536]");
    BOT_CHECK(!graph.nodes.empty(), Code::kArgument, "the graph has no nodes");
    BOT_CHECK(options.bn_groups >= 1 && options.bn_groups <= options.max_batch, Code::kArgument,
              "BN groups must be in [1, max batch]");
    std::map<std::string, int> by_name;
    Value input;
    input.name = "input";
    input.sample = {options.height, options.width, graph.input_channels};
    values.push_back(input);
    by_name["input"] = 0;

    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      const NodeDesc& d = graph.nodes[i];
      Node node;
      node.desc = d;
      const std::string where = d.name.empty() ? "#" + std::to_string(i) : d.name;
      BOT_CHECK(!d.name.empty() && d.name != "input" && by_name.count(d.name) == 0, Code::kArgument,
                "node " + where + " needs a unique name other than \"input\"");
      const size_t arity = d.op == OpKind::kAdd ? 2 : 1;
      BOT_CHECK(d.inputs.size() == arity, Code::kArgument,
                std::string("node ") + where + " (" + op_name(d.op) + ") takes " +
                    std::to_string(arity) + " input(s)");
      for (const std::string& in : d.inputs) node.in.push_back(find_value(in, by_name, where));
      const std::string why = dev->unsupported(d);
      BOT_CHECK(why.empty(), Code::kArgument,
                std::string("node ") + where + " (" + op_name(d.op) + ") cannot run on " + dev->name() + ": " + why);
      const Shape x = values[node.in[0]].sample;
      const bool spatial = x.size() == 3;
      Shape y;
      switch (d.op) {
        case OpKind::kConv2d: {
          BOT_CHECK(spatial, Code::kShape, "conv2d " + where + " needs an (H, W, C) input");
          Conv2dProblem p = conv_problem(node, x, 1);
          p.validate();
          node.w = add_param(d.weight, {p.k, p.c_per_group(), p.r, p.s}, ParamKind::kWeight, true,
                             true, where, true);
          y = {p.p(), p.q(), p.k};
          break;
        }
        case OpKind::kBatchNorm: {
          const int64_t c = x.back();
          BOT_CHECK(std::isfinite(d.eps) && d.eps > 0.0f && d.momentum >= 0.0f && d.momentum <= 1.0f,
                    Code::kArgument, "batchnorm " + where + " needs eps > 0 and momentum in [0, 1]");
          node.w = add_param(d.weight, {c}, ParamKind::kGamma, true, false, where);
          node.b = add_param(d.bias, {c}, ParamKind::kBeta, true, false, where);
          node.rm = add_param(d.running_mean, {c}, ParamKind::kRunningMean, false, false, where);
          node.rv = add_param(d.running_var, {c}, ParamKind::kRunningVar, false, false, where);
          if (options.training) {
            node.save_mean = dev->allocate(c * options.bn_groups);
            node.save_invstd = dev->allocate(c * options.bn_groups);
            if (options.bn_groups > 1) bn_group_numel = std::max(bn_group_numel, 2 * c);
          }
          y = x;
          break;
        }
        case OpKind::kRelu:
          y = x;
          break;
        case OpKind::kAdd:
          BOT_CHECK(values[node.in[1]].sample == x, Code::kShape,
                    "add " + where + " needs inputs of one shape, got " + shape_str(x) + " and " +
                        shape_str(values[node.in[1]].sample));
          y = x;
          break;
        case OpKind::kMaxPool2d:
        case OpKind::kAvgPool2d: {
          BOT_CHECK(spatial, Code::kShape, std::string(op_name(d.op)) + " " + where + " needs an (H, W, C) input");
          Pool2dProblem p = pool_problem(node, x, 1);
          p.validate();
          y = {p.p(), p.q(), p.c};
          break;
        }
        case OpKind::kGlobalAvgPool:
          BOT_CHECK(spatial, Code::kShape, "globalavgpool " + where + " needs an (H, W, C) input");
          y = {x[2]};
          break;
        case OpKind::kLinear: {
          BOT_CHECK(x.size() == 1, Code::kShape,
                    "linear " + where + " needs a (C) input (after global pooling), got " + shape_str(x));
          BOT_CHECK(d.out_features >= 1 && d.out_features <= (1 << 24), Code::kArgument,
                    "linear " + where + " needs outFeatures in [1, 2^24]");
          node.w = add_param(d.weight, {d.out_features, x[0]}, ParamKind::kWeight, true, false, where, true);
          if (!d.bias.empty())
            node.b = add_param(d.bias, {d.out_features}, ParamKind::kBias, true, false, where, true);
          y = {d.out_features};
          break;
        }
      }
      const int64_t sample_numel = numel_of(y);
      BOT_CHECK(sample_numel >= 1 && sample_numel <= (int64_t(1) << 31) / options.max_batch,
                Code::kShape, "node " + where + " output " + shape_str(y) + " is too large for batch " +
                                  std::to_string(options.max_batch));
      Value v;
      v.name = d.name;
      v.sample = y;
      v.sample_numel = sample_numel;
      v.producer = static_cast<int>(nodes.size());
      node.out = static_cast<int>(values.size());
      for (int in : node.in) values[in].consumers.push_back(static_cast<int>(nodes.size()));
      by_name[d.name] = node.out;
      values.push_back(v);
      nodes.push_back(std::move(node));
    }
    values[0].sample_numel = numel_of(values[0].sample);
    auto it = by_name.find(graph.output);
    BOT_CHECK(it != by_name.end() && it->second != 0, Code::kArgument,
              "graph output \"" + graph.output + "\" is not a node");
    output = it->second;
    BOT_CHECK(values[output].sample.size() == 1 && values[output].sample_numel >= 2, Code::kShape,
              "graph output must be (classes) logits with at least 2 classes, got " +
                  shape_str(values[output].sample));
    classes = values[output].sample_numel;
    for (size_t v = 1; v < values.size(); ++v)
      BOT_CHECK(static_cast<int>(v) == output || !values[v].consumers.empty(), Code::kArgument,
                "node " + values[v].name + " is not used by any later node and is not the output");
    for (const std::string& key : options.no_decay)
      BOT_CHECK(param_index.count(key) == 1, Code::kArgument,
                "no-decay key \"" + key + "\" is not a parameter of this graph");
    for (const auto& [key, scale] : options.lr_scale) {
      auto it = param_index.find(key);
      BOT_CHECK(it != param_index.end(), Code::kArgument,
                "learning-rate scale key \"" + key + "\" is not a parameter of this graph");
      BOT_CHECK(params[it->second].info.trainable, Code::kArgument,
                "learning-rate scale key \"" + key + "\" is not a trained parameter");
      BOT_CHECK(std::isfinite(scale) && scale >= 0.0f, Code::kArgument,
                "learning-rate scale of \"" + key + "\" must be finite and >= 0");
    }

    fuse_relus();
    plan_residual_adds();
    plan_folds();
    allocate();
    if (bn_group_numel > 0) bn_group_grads = dev->allocate(bn_group_numel);
    for (const Param& p : params) param_infos.push_back(p.info);
    refresh_compute();
    plan_update();
  }

  // The optimizer's fixed sets: every trained, unfrozen parameter; the finiteness check
  // reads every trained parameter's gradient and every BN running statistic (updated by the
  // forward pass: an overflowing variance can leave the loss finite).
  void plan_update() {
    if (!options.training) return;
    std::vector<UpdateTensor> update;
    std::vector<DeviceSpan> checked;
    for (Param& p : params) {
      checked.push_back({p.info.trainable ? p.grad : p.data, p.numel});
      if (!p.info.trainable || p.info.lr_scale == 0.0f) continue;
      UpdateTensor t;
      t.n = p.numel;
      t.w = p.data;
      t.grad = p.grad;
      t.momentum = p.momentum;
      t.decay = p.info.decay;
      t.lr_scale = p.info.lr_scale;
      t.compute = p.half ? p.compute : nullptr;
      update.push_back(t);
    }
    dev->plan_update(update, checked);
  }

  bool half() const { return options.precision == Precision::kF16; }

  // The FP16 copies of the master weights the kernels read in mixed precision.
  void refresh_compute() {
    for (Param& p : params) refresh_compute(p);
  }
  void refresh_compute(Param& p) {
    if (!p.half) return;
    dev->copy_into(p.numel, p.data, p.compute);
    dev->round_to_f16(p.numel, p.compute);
  }

  // Rounds n values to FP16 in place in mixed precision (activations and gradients).
  void round16(float* x, int64_t count) {
    if (half()) dev->round_to_f16(count, x);
  }

  // A ReLU whose input is produced by a BN or add node and read by nothing else is folded
  // into that node: it writes the ReLU's value directly.
  void fuse_relus() {
    for (Node& r : nodes) {
      if (r.desc.op != OpKind::kRelu) continue;
      Value& in = values[r.in[0]];
      if (in.producer < 0 || in.consumers.size() != 1 || r.in[0] == output) continue;
      Node& prod = nodes[in.producer];
      if (prod.desc.op != OpKind::kBatchNorm && prod.desc.op != OpKind::kAdd) continue;
      prod.fused_relu = true;
      prod.out = r.out;
      r.skip = true;
    }
  }

  // A BN whose output only an add reads adds the add's other input itself, and applies the
  // add's fused ReLU: the add does nothing in the forward pass and the BN's own output is not
  // written. The backward is unchanged (the add hands its output gradient to both inputs;
  // the BN's backward needs no output of its own). Of two candidates (a downsampling block
  // adds two BN outputs) the later one, when the other input is ready by then. Not where the
  // BN is folded into its conv for inference (add_fusion_active).
  void plan_residual_adds() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      Node& a = nodes[i];
      if (a.skip || a.desc.op != OpKind::kAdd || a.in[0] == a.in[1]) continue;
      int best = -1;
      for (int k = 0; k < 2; ++k) {
        const Value& v = values[a.in[k]];
        if (v.producer < 0 || v.consumers.size() != 1) continue;
        const Node& bn = nodes[v.producer];
        if (bn.desc.op != OpKind::kBatchNorm || bn.fused_relu) continue;
        if (best < 0 || v.producer > values[a.in[best]].producer) best = k;
      }
      if (best < 0) continue;
      const int b = values[a.in[best]].producer;
      const int other = a.in[1 - best];
      if (values[other].producer >= b) continue;  // not computed yet when the BN runs
      nodes[b].residual_add = static_cast<int>(i);
      nodes[b].residual = other;
      a.fused_bn = b;
    }
  }

  // Whether add node `a` is done by its BN in this forward pass (`fold`: BNs folded into
  // their convs, eval mode on a device that folds; a folded BN does not run, and its add is
  // then done by the conv where residual_in_conv).
  bool add_fusion_active(const Node& a, bool fold) const {
    if (a.fused_bn < 0) return false;
    const Node& bn = nodes[a.fused_bn];
    return !(fold && bn.folded_into >= 0) || bn.residual_in_conv;
  }

  // Which inputs of add node i can take the add's output gradient buffer as their own
  // gradient (dy of an add is passed to both inputs unchanged, after the ReLU mask when
  // fused, which is then applied in place). Called while planning, in backward order;
  // `exclusive`: the output gradient's buffer holds no other value's gradient, so the
  // add may write into it. An input qualifies when no later consumer has written its
  // gradient yet (grad_buffer unassigned), and
  //   - it has no other consumer: it only reads the buffer, at its producer; or
  //   - (at most one such input) its other consumers, which add their contributions into
  //     the buffer, all come before the producers of the single-consumer inputs aliased
  //     here, so those have read the buffer before it changes.
  std::vector<int> plan_add_aliases(int i, bool exclusive) const {
    const Node& n = nodes[i];
    std::vector<int> alias;
    if (!exclusive || n.in[0] == n.in[1]) return alias;
    auto candidate = [&](int v) {
      return values[v].needs_grad && v != output && values[v].grad_buffer < 0;
    };
    int first_reader = i;  // smallest producer index among the aliased readers
    for (int k = 0; k < 2; ++k) {
      const int v = n.in[k];
      if (!candidate(v) || values[v].consumers.size() != 1) continue;
      alias.push_back(k);
      first_reader = std::min(first_reader, values[v].producer);
    }
    for (int k = 0; k < 2; ++k) {
      const int v = n.in[k];
      if (!candidate(v) || values[v].consumers.size() == 1) continue;
      bool ok = true;
      for (int c : values[v].consumers) ok &= c == i || c < first_reader;
      if (ok) {
        alias.push_back(k);
        break;
      }
    }
    return alias;
  }

  // Pairs each conv with the BN that alone reads its output, for the folded inference.
  void plan_folds() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      Node& bn = nodes[i];
      if (bn.desc.op != OpKind::kBatchNorm) continue;
      const Value& in = values[bn.in[0]];
      if (in.producer < 0 || in.consumers.size() != 1) continue;
      Node& conv = nodes[in.producer];
      if (conv.desc.op != OpKind::kConv2d) continue;
      conv.fold_bn = static_cast<int>(i);
      bn.folded_into = in.producer;
      bn.residual_in_conv = bn.residual_add >= 0 && dev->folds_residual() &&
                            values[bn.residual].producer < in.producer;
    }
  }

  // The folded weights of every conv+BN pair, from the current parameters and running
  // statistics (allocated on the first inference, so a Net that only trains never holds
  // them):  scale = gamma / sqrt(running_var + eps),  w' = w * scale (per output channel),
  // b' = beta - running_mean * scale. Recomputed after any change (folded_fresh).
  void refresh_folded() {
    if (folded_fresh) return;
    for (Node& conv : nodes) {
      if (conv.fold_bn < 0) continue;
      const Node& bn = nodes[conv.fold_bn];
      // Folded for the largest batch (the CPU's packed form depends on it); smaller batches
      // run with the same weights.
      const Conv2dProblem p = conv_problem(conv, values[conv.in[0]].sample, options.max_batch);
      if (conv.folded_b == nullptr) {
        conv.folded_w = dev->allocate(dev->folded_weights_numel(p));
        conv.folded_b = dev->allocate(conv.desc.out_channels);
      }
      dev->fold_conv_bn(p, cdata(conv.w), pdata(bn.w), pdata(bn.b), pdata(bn.rm), pdata(bn.rv), bn.desc.eps,
                        conv.folded_w, conv.folded_b);
    }
    folded_fresh = true;
  }

  // Inference only: the buffers of the eval-mode forward, shared by liveness. Each value a
  // node writes takes a free buffer large enough (the smallest such), or a new one, before
  // the node's inputs are released after their last reader, so a node never writes over
  // what it reads; the graph input and the output keep buffers of their own.
  void allocate_inference() {
    const bool fold = dev->folds_batchnorm();
    auto runs = [&](const Node& n) {
      return !n.skip && !(fold && n.folded_into >= 0) && !add_fusion_active(n, fold);
    };
    auto writes = [&](const Node& n) {
      if (fold && n.fold_bn >= 0) {
        const Node& bn = nodes[n.fold_bn];
        return bn.residual_in_conv ? nodes[bn.residual_add].out : bn.out;  // the conv does its add
      }
      if (n.residual_add >= 0) return nodes[n.residual_add].out;  // a running BN with its add
      return n.out;
    };
    auto reads = [&](const Node& n) {
      std::vector<int> r = n.in;
      if (n.residual_add >= 0) r.push_back(n.residual);
      if (fold && n.fold_bn >= 0 && nodes[n.fold_bn].residual_in_conv) r.push_back(nodes[n.fold_bn].residual);
      return r;
    };
    std::vector<int> last_reader(values.size(), -1);
    for (size_t i = 0; i < nodes.size(); ++i)
      if (runs(nodes[i]))
        for (int in : reads(nodes[i])) last_reader[in] = static_cast<int>(i);
    std::vector<int64_t> capacity;             // per buffer, in values
    std::multimap<int64_t, int> free_buffers;  // capacity -> buffer
    auto take = [&](int v) {
      const int64_t need = options.max_batch * values[v].sample_numel;
      auto f = free_buffers.lower_bound(need);
      if (f != free_buffers.end()) {
        values[v].storage = f->second;
        free_buffers.erase(f);
      } else {
        values[v].storage = static_cast<int>(capacity.size());
        capacity.push_back(need);
      }
    };
    take(0);
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& n = nodes[i];
      if (!runs(n)) continue;
      take(writes(n));
      const std::vector<int> in_values = reads(n);
      for (size_t k = 0; k < in_values.size(); ++k) {
        const int in = in_values[k];
        const bool repeated = std::find(in_values.begin(), in_values.begin() + k, in) != in_values.begin() + k;
        if (in != 0 && !repeated && last_reader[in] == static_cast<int>(i))
          free_buffers.emplace(capacity[values[in].storage], values[in].storage);
      }
    }
    for (int64_t c : capacity) activations.push_back(dev->allocate(c, Storage::kActivation));
    grad_written.assign(values.size(), 0);
  }

  void allocate() {
    if (!options.training) return allocate_inference();
    // Activations: every value a node writes (the input has its own staging buffer).
    std::vector<char> written(values.size(), 0);
    written[0] = 1;
    for (const Node& n : nodes)
      if (!n.skip) written[n.out] = 1;
    for (size_t v = 0; v < values.size(); ++v) {
      if (!written[v]) continue;
      values[v].storage = static_cast<int>(activations.size());
      activations.push_back(dev->allocate(options.max_batch * values[v].sample_numel, Storage::kActivation));
    }
    // Gradients: every value but the input, on buffers shared by liveness. Simulate the
    // backward order: a value's gradient is acquired when its first consumer (in backward
    // order) writes it and released after its producer has used it. A buffer may hold
    // several values' gradients at once (an add's inputs alias its output gradient): it
    // counts its holders and returns to the free list when the last one is released.
    for (size_t v = 1; v < values.size(); ++v) values[v].needs_grad = values[v].storage >= 0;
    std::multimap<int64_t, int> free_buffers;  // numel -> buffer
    std::vector<int64_t> buffer_numel;
    std::vector<int> holders;                  // per buffer
    auto acquire = [&](int v) {
      if (values[v].grad_buffer >= 0) return;
      const int64_t numel = values[v].sample_numel * options.max_batch;
      auto f = free_buffers.find(numel);
      if (f != free_buffers.end()) {
        values[v].grad_buffer = f->second;
        free_buffers.erase(f);
      } else {
        values[v].grad_buffer = static_cast<int>(buffer_numel.size());
        buffer_numel.push_back(numel);
        holders.push_back(0);
      }
      holders[values[v].grad_buffer] = 1;
    };
    auto release = [&](int v) {
      const int b = values[v].grad_buffer;
      if (--holders[b] == 0) free_buffers.emplace(buffer_numel[b], b);
    };
    int64_t scratch_numel = 0;
    acquire(output);
    for (int i = static_cast<int>(nodes.size()) - 1; i >= 0; --i) {
      Node& n = nodes[i];
      if (n.skip) continue;
      if (n.desc.op == OpKind::kAdd) {
        const int b = values[n.out].grad_buffer;
        for (int k : plan_add_aliases(i, holders[b] == 1)) {
          n.grad_alias[k] = true;
          values[n.in[k]].grad_buffer = b;
          ++holders[b];
        }
      }
      for (int in : n.in) {
        if (!values[in].needs_grad) continue;
        acquire(in);
        if (values[in].consumers.size() > 1)
          scratch_numel = std::max(scratch_numel, values[in].sample_numel * options.max_batch);
      }
      release(n.out);
    }
    for (int64_t numel : buffer_numel) grad_buffers.push_back(dev->allocate(numel, Storage::kActivation));
    if (scratch_numel > 0) scratch = dev->allocate(scratch_numel, Storage::kActivation);
    // BN always computes dx; one that reads a value without a gradient (the graph input)
    // writes it here.
    int64_t discard_numel = 0;
    for (const Node& n : nodes)
      if (!n.skip && n.desc.op == OpKind::kBatchNorm && !values[n.in[0]].needs_grad)
        discard_numel = std::max(discard_numel, values[n.in[0]].sample_numel * options.max_batch);
    if (discard_numel > 0) discard = dev->allocate(discard_numel, Storage::kActivation);
    grad_written.assign(values.size(), 0);
  }

  // --- problems ------------------------------------------------------------------------

  static Conv2dProblem conv_problem(const Node& node, const Shape& x, int64_t n) {
    const NodeDesc& d = node.desc;
    Conv2dProblem p;
    p.n = n; p.h = x[0]; p.w = x[1]; p.c = x[2];
    p.k = d.out_channels; p.r = d.kernel_h; p.s = d.kernel_w;
    p.stride_h = d.stride_h; p.stride_w = d.stride_w;
    p.pad_h = d.pad_h; p.pad_w = d.pad_w;
    p.groups = d.groups;
    return p;
  }

  static Pool2dProblem pool_problem(const Node& node, const Shape& x, int64_t n) {
    const NodeDesc& d = node.desc;
    Pool2dProblem p;
    p.n = n; p.h = x[0]; p.w = x[1]; p.c = x[2];
    p.kernel_h = d.kernel_h; p.kernel_w = d.kernel_w;
    p.stride_h = d.stride_h; p.stride_w = d.stride_w;
    p.pad_h = d.pad_h; p.pad_w = d.pad_w;
    p.ceil_mode = d.ceil_mode;
    p.count_include_pad = d.count_include_pad;
    return p;
  }

  BatchNormProblem bn_problem(const Node& node, int64_t n) const {
    const Shape& x = values[node.in[0]].sample;
    BatchNormProblem p;
    p.c = x.back();
    p.m = n * values[node.in[0]].sample_numel / p.c;
    p.eps = node.desc.eps;
    p.momentum = node.desc.momentum;
    p.relu = node.fused_relu;
    return p;
  }

  float* act(int v) { return activations[values[v].storage]; }
  float* grad(int v) { return grad_buffers[values[v].grad_buffer]; }
  float* pdata(int i) { return params[i].data; }
  // What the kernels read: the FP16-rounded copy in mixed precision, else the master.
  float* cdata(int i) { return params[i].half ? params[i].compute : params[i].data; }
  void round_param_grad(int i) {
    if (i >= 0 && params[i].half) dev->round_to_f16(params[i].numel, params[i].grad);
  }
  float* pgrad(int i) { return params[i].grad; }

  // --- forward -------------------------------------------------------------------------

  // Raw images checked and completed with the batch's shape (the colour pass's problem).
  RawImages prepare_raw(int64_t n, const RawImages& raw) const {
    BOT_CHECK(graph.input_channels == 3, Code::kShape,
              "raw images are RGB, but this Net takes " + std::to_string(graph.input_channels) + " input channel(s)");
    BOT_CHECK(raw.pixels != nullptr, Code::kArgument, "raw images need pixels");
    RawImages r = raw;
    r.constants.n = n;
    r.constants.h = options.height;
    r.constants.w = options.width;
    r.constants.validate();
    r.colour.validate(n);
    return r;
  }

  void run_forward(int64_t n, const float* images, const RawImages* raw, bool training,
                   const int32_t* mixup_perm = nullptr, float mixup_lambda = 1.0f) {
    RawImages prepared;
    if (raw != nullptr) prepared = prepare_raw(n, *raw);
    const auto t0 = tick();
    dev->load_input(n, values[0].sample_numel, raw ? nullptr : images, raw ? &prepared : nullptr, mixup_perm,
                    mixup_lambda, act(0));
    round16(act(0), n * values[0].sample_numel);
    tock(t0, raw ? "augment" : "input", "other");
    const bool fold = !training && dev->folds_batchnorm();
    if (training) folded_fresh = false;  // the running statistics move
    else if (fold) refresh_folded();
    segment(training ? kSegmentForwardTrain : kSegmentForwardEval, n, [&] { forward_nodes(n, training, fold); });
  }

  // Segments of the step whose launches depend only on the batch size and on buffers fixed
  // at compilation: a device may record them once and replay them (CUDA graphs).
  static constexpr int kSegmentForwardTrain = 0, kSegmentForwardEval = 1, kSegmentBackward = 2;

  // Queues one segment's ops through `issue`, or lets the device replay its recording of
  // this segment at this batch size. Not recorded while profiling (per-op marks) or with a
  // gradient hook (called as the ops are queued).
  template <typename Issue>
  void segment(int id, int64_t n, Issue&& issue) {
    if (profiling || hook) return issue();
    if (!dev->begin_segment(id, n)) return;
    try {
      issue();
    } catch (...) {
      dev->abort_segment();
      throw;
    }
    dev->end_segment();
  }

  void forward_nodes(int64_t n, bool training, bool fold) {
    for (Node& node : nodes) {
      if (node.skip || (fold && node.folded_into >= 0) || add_fusion_active(node, fold)) continue;
      const auto t0 = tick();
      const NodeDesc& d = node.desc;
      const Shape& xs = values[node.in[0]].sample;
      float* x = act(node.in[0]);
      float* y = act(node.out);
      int out = node.out;
      switch (d.op) {
        case OpKind::kConv2d:
          if (fold && node.fold_bn >= 0) {  // conv + BN (+ add) (+ ReLU) in one op
            const Node& bn = nodes[node.fold_bn];
            out = bn.out;
            bool relu = bn.fused_relu;
            const float* residual = nullptr;
            if (bn.residual_in_conv) {
              const Node& a = nodes[bn.residual_add];
              out = a.out;
              relu = a.fused_relu;
              residual = act(bn.residual);
            }
            y = act(out);
            const Conv2dProblem p = conv_problem(node, xs, n);
            dev->conv2d_forward_folded(p, options.max_batch, x, node.folded_w, node.folded_b, relu, y, residual);
          } else {
            dev->conv2d_forward(conv_problem(node, xs, n), x, cdata(node.w), y);
          }
          break;
        case OpKind::kBatchNorm: {
          BatchNormProblem p = bn_problem(node, n);
          const float* residual = nullptr;
          if (node.residual_add >= 0) {  // BN + add (+ ReLU): writes the add's output
            const Node& a = nodes[node.residual_add];
            out = a.out;
            y = act(out);
            p.relu = a.fused_relu;
            residual = act(node.residual);
          }
          if (training) {
            const int64_t groups = bn_groups(n);
            const int64_t step = n / groups * values[node.in[0]].sample_numel;
            p.m /= groups;
            for (int64_t g = 0; g < groups; ++g)
              dev->batchnorm_forward_train(p, x + g * step, pdata(node.w), pdata(node.b), y + g * step, pdata(node.rm),
                                           pdata(node.rv), node.save_mean + g * p.c, node.save_invstd + g * p.c,
                                           residual ? residual + g * step : nullptr);
          } else {
            dev->batchnorm_forward_infer(p, x, pdata(node.w), pdata(node.b), pdata(node.rm), pdata(node.rv), y,
                                         residual);
          }
          break;
        }
        case OpKind::kRelu:
          dev->relu_forward(n * values[node.in[0]].sample_numel, x, y);
          break;
        case OpKind::kAdd: {
          const int64_t count = n * values[node.in[0]].sample_numel;
          dev->add_forward(count, x, act(node.in[1]), y, node.fused_relu);
          break;
        }
        case OpKind::kMaxPool2d:
          dev->maxpool2d_forward(pool_problem(node, xs, n), x, y);
          break;
        case OpKind::kAvgPool2d:
          dev->avgpool2d_forward(pool_problem(node, xs, n), x, y);
          break;
        case OpKind::kGlobalAvgPool:
          dev->global_avgpool_forward(n, xs[0] * xs[1], xs[2], x, y);
          break;
        case OpKind::kLinear: {
          LinearProblem p{n, xs[0], d.out_features};
          dev->linear_forward(p, x, cdata(node.w), node.b >= 0 ? cdata(node.b) : nullptr, y);
          break;
        }
      }
      round16(y, n * values[out].sample_numel);
      tock(t0, op_name(d.op), "forward");
    }
  }

  // --- backward ------------------------------------------------------------------------

  // Where a node writes the gradient of input value v: the value's own buffer on the
  // first write of this pass, else the scratch buffer (then accumulate() adds it).
  float* grad_target(int v) {
    return grad_written[v] ? scratch : grad(v);
  }
  void accumulate(int v, int64_t n) {
    if (grad_written[v]) {
      float* g = grad(v);
      dev->add_into(n * values[v].sample_numel, scratch, g);
    }
    grad_written[v] = 1;
    round16(grad(v), n * values[v].sample_numel);
  }

  void param_ready(int i) {
    if (i < 0) return;
    if (averager) averager->ready(i, params[i].grad, params[i].numel);
    if (hook) hook(params[i].info.name);
  }

  // The BN groups of a training batch of n (NetOptions::bn_groups).
  int64_t bn_groups(int64_t n) const {
    const int64_t g = options.bn_groups;
    BOT_CHECK(n % g == 0 && n / g >= 1, Code::kShape,
              "a batch of " + std::to_string(n) + " does not divide into " + std::to_string(g) + " BN groups");
    return g;
  }

  // The add's backward. Inputs that alias the output gradient (grad_alias) receive it
  // without a copy: a fused ReLU masks it in place, in the same pass that writes or adds
  // the masked gradient to the other input when that one has a buffer of its own.
  // Without aliases (a general graph) each input gets its copy through grad_target.
  void add_backward(const Node& node, int64_t n, float* go) {
    const int64_t count = n * values[node.in[0]].sample_numel;
    const float* y = act(node.out);
    if (!node.grad_alias[0] && !node.grad_alias[1]) {
      for (int in : node.in) {
        if (!values[in].needs_grad) continue;
        float* t = grad_target(in);
        if (node.fused_relu) dev->relu_backward(count, y, go, t);
        else dev->copy_into(count, go, t);
        accumulate(in, n);
      }
      return;
    }
    int other = -1;  // the input with a buffer of its own, if it needs a gradient
    for (int k = 0; k < 2; ++k) {
      const int in = node.in[k];
      if (node.grad_alias[k]) grad_written[in] = 1;
      else if (values[in].needs_grad) other = in;
    }
    if (other < 0) {
      if (node.fused_relu) dev->relu_backward(count, y, go, go);
      return;
    }
    const bool written = grad_written[other];
    if (node.fused_relu) dev->add_relu_backward(count, y, go, grad(other), written);
    else if (written) dev->add_into(count, go, grad(other));
    else dev->copy_into(count, go, grad(other));
    grad_written[other] = 1;
    if (written) round16(grad(other), count);
  }

  void run_backward(int64_t n) {
    segment(kSegmentBackward, n, [&] { backward_nodes(n); });
  }

  void backward_nodes(int64_t n) {
    std::fill(grad_written.begin(), grad_written.end(), 0);
    grad_written[output] = 1;
    for (int i = static_cast<int>(nodes.size()) - 1; i >= 0; --i) {
      Node& node = nodes[i];
      if (node.skip) continue;
      const auto t0 = tick();
      const NodeDesc& d = node.desc;
      const int xin = node.in[0];
      const Shape& xs = values[xin].sample;
      const bool want_dx = values[xin].needs_grad;
      float* x = act(xin);
      float* go = grad(node.out);
      switch (d.op) {
        case OpKind::kConv2d: {
          Conv2dProblem p = conv_problem(node, xs, n);
          dev->conv2d_backward_filter(p, x, go, pgrad(node.w));
          round_param_grad(node.w);
          param_ready(node.w);
          if (want_dx && grad_written[xin]) {  // a later consumer wrote it: add to it
            dev->conv2d_backward_data(p, go, cdata(node.w), grad(xin), true);
            round16(grad(xin), n * values[xin].sample_numel);
          } else if (want_dx) {
            dev->conv2d_backward_data(p, go, cdata(node.w), grad(xin), false);
            accumulate(xin, n);
          }
          break;
        }
        case OpKind::kBatchNorm: {
          BatchNormProblem p = bn_problem(node, n);
          const int64_t groups = bn_groups(n);
          const int64_t step = n / groups * values[xin].sample_numel;
          p.m /= groups;
          float* dx = want_dx ? grad_target(xin) : discard;
          const float* relu_y = node.fused_relu ? act(node.out) : nullptr;
          for (int64_t g = 0; g < groups; ++g) {
            // Group 0 writes the parameter gradients, the others add theirs.
            float* dgamma = g == 0 ? pgrad(node.w) : bn_group_grads;
            float* dbeta = g == 0 ? pgrad(node.b) : bn_group_grads + p.c;
            dev->batchnorm_backward(p, x + g * step, go + g * step, pdata(node.w), node.save_mean + g * p.c,
                                    node.save_invstd + g * p.c, want_dx ? dx + g * step : discard, dgamma, dbeta,
                                    relu_y ? relu_y + g * step : nullptr);
            if (g > 0) {
              dev->add_into(p.c, dgamma, pgrad(node.w));
              dev->add_into(p.c, dbeta, pgrad(node.b));
            }
          }
          param_ready(node.w);
          param_ready(node.b);
          if (want_dx) accumulate(xin, n);
          break;
        }
        case OpKind::kRelu:
          if (want_dx) {
            dev->relu_backward(n * values[xin].sample_numel, act(node.out), go, grad_target(xin));
            accumulate(xin, n);
          }
          break;
        case OpKind::kAdd:
          add_backward(node, n, go);
          break;
        case OpKind::kMaxPool2d:
          if (want_dx) {
            dev->maxpool2d_backward(pool_problem(node, xs, n), x, go, grad_target(xin));
            accumulate(xin, n);
          }
          break;
        case OpKind::kAvgPool2d:
          if (want_dx) {
            dev->avgpool2d_backward(pool_problem(node, xs, n), go, grad_target(xin));
            accumulate(xin, n);
          }
          break;
        case OpKind::kGlobalAvgPool:
          if (want_dx) {
            dev->global_avgpool_backward(n, xs[0] * xs[1], xs[2], go, grad_target(xin));
            accumulate(xin, n);
          }
          break;
        case OpKind::kLinear: {
          LinearProblem p{n, xs[0], d.out_features};
          dev->linear_backward(p, x, cdata(node.w), go, want_dx ? grad_target(xin) : nullptr, pgrad(node.w),
                               node.b >= 0 ? pgrad(node.b) : nullptr);
          round_param_grad(node.w);
          round_param_grad(node.b);
          param_ready(node.w);
          param_ready(node.b);
          if (want_dx) accumulate(xin, n);
          break;
        }
      }
      tock(t0, op_name(d.op), "backward");
    }
  }

  // --- loss and step -------------------------------------------------------------------

  void check_batch(int64_t n) const {
    BOT_CHECK(n >= 1 && n <= options.max_batch, Code::kShape,
              "batch size " + std::to_string(n) + " is outside [1, " + std::to_string(options.max_batch) +
                  "] (the Net's maximum batch)");
  }

  void check_training() const {
    BOT_CHECK(options.training, Code::kArgument,
              "this Net was built for inference only (training: false): it has no gradients or optimizer state");
  }

  void check_args(const TrainStepArgs& a) const {
    check_training();
    BOT_CHECK(std::isfinite(a.loss_scale) && a.loss_scale > 0.0f, Code::kArgument,
              "loss scale must be finite and > 0");
    check_batch(a.n);
    BOT_CHECK((a.images != nullptr) != (a.raw != nullptr), Code::kArgument,
              "train step needs either images or raw images");
    BOT_CHECK((a.labels != nullptr) != (a.targets != nullptr), Code::kArgument,
              "train step needs either labels or soft targets");
  }

  void loss_and_grad(const TrainStepArgs& a) {
    float* dz = grad(output);
    dev->loss(a, classes, act(output), dz);
    round16(dz, a.n * classes);
  }

  TrainStepResult forward_backward(const TrainStepArgs& a) {
    check_args(a);
    run_forward(a.n, a.images, a.raw, true, a.mixup_perm, a.mixup_lambda);
    auto t0 = tick();
    loss_and_grad(a);
    tock(t0, "cross_entropy", "loss");
    if (averager) averager->begin_step();
    run_backward(a.n);
    if (averager) {
      t0 = tick();
      averager->finish();
      tock(t0, "allreduce", "other");
    }
    t0 = tick();
    TrainStepResult r = dev->loss_result();
    r.finite = std::isfinite(r.loss) && dev->all_finite();
    r.images = a.n;
    r.stop = a.stop_request;
    if (averager) agree(a, r);
    tock(t0, "finite_check", "other");
    return r;
  }

  // Data-parallel: the step's loss, accuracy, finiteness and stop request over every rank.
  void agree(const TrainStepArgs& a, TrainStepResult& r) {
    double v[5] = {std::isfinite(r.loss) ? r.loss * double(a.n) : 0.0, double(r.correct), double(a.n),
                   r.finite ? 0.0 : 1.0, a.stop_request ? 1.0 : 0.0};
    averager->comm().allreduce(v, 5, dist::ReduceOp::kSum);
    r.images = int64_t(v[2]);
    r.correct = int64_t(v[1]);
    r.finite = v[3] == 0.0;
    r.loss = r.finite ? v[0] / v[2] : std::numeric_limits<double>::quiet_NaN();
    r.stop = v[4] > 0.0;
  }

  void update(const TrainStepArgs& a) {
    dev->update(a);
    folded_fresh = false;
  }

  // --- parameters in PyTorch layout ----------------------------------------------------

  const Param& param(const std::string& name) const {
    auto it = param_index.find(name);
    BOT_CHECK(it != param_index.end(), Code::kArgument, "no parameter named \"" + name + "\"");
    return params[it->second];
  }
  Param& param(const std::string& name) {
    return const_cast<Param&>(static_cast<const Impl*>(this)->param(name));
  }

  // Between the core's layout and PyTorch's: KRSC (K, R, S, Cg) <-> OIHW (K, Cg, R, S) for
  // conv weights, a plain copy otherwise; src and dst are host memory.
  static void copy_layout(const Param& p, const float* src, float* dst, bool to_pytorch) {
    if (!p.conv) {
      std::memcpy(dst, src, sizeof(float) * size_t(p.numel));
      return;
    }
    const int64_t k = p.info.shape[0], cg = p.info.shape[1], r = p.info.shape[2], s = p.info.shape[3];
    for (int64_t o = 0; o < k; ++o)
      for (int64_t c = 0; c < cg; ++c)
        for (int64_t i = 0; i < r; ++i)
          for (int64_t j = 0; j < s; ++j) {
            const int64_t oihw = ((o * cg + c) * r + i) * s + j;
            const int64_t krsc = ((o * r + i) * s + j) * cg + c;
            if (to_pytorch) dst[oihw] = src[krsc];
            else dst[krsc] = src[oihw];
          }
  }
  // A parameter-shaped device array (data, grad or momentum of p) to and from host memory
  // in PyTorch's layout.
  void copy_out(const Param& p, const float* device, float* out) {
    if (!p.conv) return dev->download(out, device, p.numel);
    std::vector<float> core(static_cast<size_t>(p.numel));
    dev->download(core.data(), device, p.numel);
    copy_layout(p, core.data(), out, true);
  }
  void copy_in(const Param& p, float* device, const float* in) {
    if (!p.conv) return dev->upload(device, in, p.numel);
    std::vector<float> core(static_cast<size_t>(p.numel));
    copy_layout(p, in, core.data(), false);
    dev->upload(device, core.data(), p.numel);
  }

  size_t memory_bytes() const {
    return dev->bytes_allocated();
  }
};

Net::Net(const GraphDesc& graph, const NetOptions& options) : impl_(new Impl) {
  impl_->graph = graph;
  impl_->options = options;
  impl_->dev = options.backend == Backend::kCuda ? make_cuda_net_device(options.precision) : make_cpu_net_device();
  impl_->compile();
}

Net::~Net() = default;

TrainStepResult Net::train_step(const TrainStepArgs& args) {
  TrainStepResult r = impl_->forward_backward(args);
  if (r.finite) {
    const auto t0 = impl_->tick();
    impl_->update(args);
    impl_->tock(t0, "sgd", "update");
  }
  impl_->flush_profile();
  return r;
}

void Net::set_profiling(bool on) {
  impl_->flush_profile();
  impl_->profiling = on;
}
void Net::reset_profile() {
  impl_->flush_profile();
  impl_->prof.clear();
}
std::vector<Net::ProfileEntry> Net::profile() const {
  std::vector<ProfileEntry> out;
  for (const auto& [key, value] : impl_->prof) out.push_back({key.first, key.second, value.first, value.second});
  return out;
}

TrainStepResult Net::forward_backward(const TrainStepArgs& args) {
  TrainStepResult r = impl_->forward_backward(args);
  impl_->flush_profile();
  return r;
}

void Net::forward(int64_t n, const float* images, float* logits) {
  impl_->check_batch(n);
  impl_->run_forward(n, images, nullptr, false);
  impl_->dev->download(logits, impl_->act(impl_->output), n * impl_->classes);
  impl_->flush_profile();
}

void Net::forward(int64_t n, const RawImages& raw, float* logits) {
  impl_->check_batch(n);
  impl_->run_forward(n, nullptr, &raw, false);
  impl_->dev->download(logits, impl_->act(impl_->output), n * impl_->classes);
  impl_->flush_profile();
}

const std::vector<ParamInfo>& Net::parameters() const { return impl_->param_infos; }

int64_t Net::parameter_numel(const std::string& name) const {
  return impl_->param(name).numel;
}

void Net::get_parameter(const std::string& name, float* out) const {
  const Impl::Param& p = impl_->param(name);
  impl_->copy_out(p, p.data, out);
}

void Net::set_parameter(const std::string& name, const float* in) {
  Impl::Param& p = impl_->param(name);
  impl_->copy_in(p, p.data, in);
  impl_->refresh_compute(p);
  impl_->folded_fresh = false;
}

void Net::get_gradient(const std::string& name, float* out) const {
  impl_->check_training();
  const Impl::Param& p = impl_->param(name);
  BOT_CHECK(p.info.trainable, Code::kArgument, "\"" + name + "\" is not trained: it has no gradient");
  impl_->copy_out(p, p.grad, out);
}

void Net::get_momentum(const std::string& name, float* out) const {
  impl_->check_training();
  const Impl::Param& p = impl_->param(name);
  BOT_CHECK(p.info.trainable, Code::kArgument, "\"" + name + "\" is not trained: it has no momentum");
  impl_->copy_out(p, p.momentum, out);
}

void Net::set_momentum(const std::string& name, const float* in) {
  impl_->check_training();
  Impl::Param& p = impl_->param(name);
  BOT_CHECK(p.info.trainable, Code::kArgument, "\"" + name + "\" is not trained: it has no momentum");
  impl_->copy_in(p, p.momentum, in);
}

int64_t Net::num_classes() const { return impl_->classes; }
int64_t Net::max_batch() const { return impl_->options.max_batch; }
int64_t Net::height() const { return impl_->options.height; }
int64_t Net::width() const { return impl_->options.width; }
int64_t Net::input_channels() const { return impl_->graph.input_channels; }
Precision Net::precision() const { return impl_->options.precision; }
Backend Net::backend() const { return impl_->options.backend; }
bool Net::training() const { return impl_->options.training; }
size_t Net::memory_bytes() const { return impl_->memory_bytes(); }

void Net::set_gradient_ready_hook(std::function<void(const std::string&)> hook) {
  impl_->hook = std::move(hook);
}

void Net::set_gradient_averager(std::shared_ptr<dist::GradientAverager> averager) {
  if (averager) {
    impl_->check_training();
    BOT_CHECK(impl_->options.backend == Backend::kCpu, Code::kDistUnavailable,
              "data-parallel training over MPI averages host gradients: a CUDA Net needs NCCL, which this build does not have");
  }
  impl_->averager = std::move(averager);
}

void Net::broadcast_state(int root) {
  BOT_CHECK(impl_->averager != nullptr, Code::kArgument, "broadcast_state needs a gradient averager (set_gradient_averager)");
  dist::Comm& comm = impl_->averager->comm();
  BOT_CHECK(root >= 0 && root < comm.size(), Code::kArgument, "root rank out of range");
  for (Impl::Param& p : impl_->params) {
    comm.broadcast(p.data, p.numel * int64_t(sizeof(float)), root);
    if (p.momentum) comm.broadcast(p.momentum, p.numel * int64_t(sizeof(float)), root);
    impl_->refresh_compute(p);
  }
  impl_->folded_fresh = false;
}

}  // namespace bot
