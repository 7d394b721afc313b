// The `Net` class: a compiled bot::Net behind a JS object.
//
//   new Net(graph, { maxBatch, height, width, noDecay, precision: 'fp32' | 'fp16', bnGroups,
//                    backend: 'cpu' | 'cuda', training: boolean })
//   trainStep(images, n, labels | null, targets | null, smoothing, lr, momentum,
//             weightDecay, nesterov, lossScale, mixupPerm | null, mixupLambda,
//             teacherLogits | null, temperature
//             [, brightness, saturation, hue, alpha, constants])
//       images: Float32Array (n, H, W, C) normalised, or Uint8Array (n, H, W, 3) raw RGB
//       that the step runs the colour pass on (bot::RawImages), with the per-image
//       coefficients (Float32Array(n) or null each; alpha n*3) and constants
//       (Float32Array(18): mean, std, eigval, eigvec) as ops.augment takes them
//                                            -> Promise<{ loss, correct, finite }>
//   forwardBackward(...same...)              -> Promise<{ loss, correct, finite }> (no update)
//   forward(images, n [, brightness, saturation, hue, alpha, constants])
//                                            -> Promise<Float32Array> logits (eval mode)
//   parameters()                             -> [{ name, shape, kind, trainable, decay }]
//   getParameter(name) / setParameter(name, data), getGradient(name),
//   getMomentum(name) / setMomentum(name, data)   (PyTorch layouts)
//   numClasses(), memoryBytes(), backend(), dispose()
//   setProfiling(on), profile() -> [{ op, phase, seconds, calls }]   (time per op kind)
//   setDistributed(bucketBytes | null)      average gradients over dist.init()'s group in
//                                            every later step (results: loss, correct over
//                                            every rank, images, stop)
//   requestStop(bool)                        this rank's stop request, sent with every step
//   broadcastState(root) -> Promise<void>    parameters, statistics and momentum from root
//   distStats(reset?) -> { steps, buckets, bytes, exposedSeconds, commSeconds, ... } | null
//
// One call runs at a time per Net (ERR_BUSY otherwise; the TypeScript layer queues).
// Inputs are copied into staging buffers allocated with the Net, so a step allocates
// nothing and the caller may reuse its arrays as soon as the call returns. The Net's
// host memory is reported to V8 as external memory (on CUDA its device memory is not), and freed by dispose() or when the object
// is garbage-collected; a step in flight keeps it alive until it finishes.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/net.h"
#include "dist.h"
#include "bot/status.h"
#include "bot/threadpool.h"
#include "errors.h"
#include "net.h"

namespace botjs {

namespace {

struct NetState {
  std::unique_ptr<bot::Net> net;
  std::vector<float> images, targets, teacher;
  std::vector<int32_t> labels, perm;
  // Raw images: the pixels and the colour pass's coefficients, staged like the rest.
  std::vector<uint8_t> pixels;
  std::vector<float> brightness, saturation, hue, alpha;
  bot::RawImages raw;
  std::vector<float> logits;
  std::atomic<bool> busy{false};
  // Data-parallel: the averager attached by setDistributed(), and this rank's stop request
  // passed to every later step.
  std::shared_ptr<bot::dist::GradientAverager> averager;
  bool stop_request = false;
  int64_t external_bytes = 0;  // host memory reported to V8
  int64_t total_bytes = 0;     // every buffer, host and device
};

// --- reading the graph description ---------------------------------------------------

std::string get_string(Napi::Env env, Napi::Object o, const char* key, const std::string& where,
                       bool optional = false) {
  Napi::Value v = o.Get(key);
  if (optional && (v.IsUndefined() || v.IsNull())) return "";
  if (!v.IsString())
    throw_error(env, "ERR_ARGUMENT", "Expected string for " + where + "." + key);
  return v.As<Napi::String>().Utf8Value();
}

int64_t get_int(Napi::Env env, Napi::Object o, const char* key, const std::string& where,
                int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !std::isfinite(d) || std::floor(d) != d || d < double(min) || d > double(max))
    throw_error(env, "ERR_ARGUMENT", "Expected integer in [" + std::to_string(min) + ", " +
                                         std::to_string(max) + "] for " + where + "." + key);
  return static_cast<int64_t>(d);
}

double get_number(Napi::Env env, Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    throw_error(env, "ERR_ARGUMENT", "Expected finite number for " + where + "." + key);
  return v.As<Napi::Number>().DoubleValue();
}

bool get_bool(Napi::Env env, Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) throw_error(env, "ERR_ARGUMENT", "Expected boolean for " + where + "." + key);
  return v.As<Napi::Boolean>().Value();
}

void get_pair(Napi::Env env, Napi::Object o, const char* key, const std::string& where,
              int64_t min, int64_t* a, int64_t* b) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2)
    throw_error(env, "ERR_ARGUMENT", "Expected a pair [h, w] for " + where + "." + key);
  Napi::Object pair = v.As<Napi::Object>();
  *a = get_int(env, pair, "0", where + "." + key, min, 1 << 20);
  *b = get_int(env, pair, "1", where + "." + key, min, 1 << 20);
}

bot::NodeDesc read_node(Napi::Env env, Napi::Value value, size_t index) {
  std::string where = "graph.nodes[" + std::to_string(index) + "]";
  if (!value.IsObject() || value.IsArray())
    throw_error(env, "ERR_ARGUMENT", "Expected node object for " + where);
  Napi::Object o = value.As<Napi::Object>();
  bot::NodeDesc d;
  std::string op = get_string(env, o, "op", where);
  d.name = get_string(env, o, "name", where);
  Napi::Value inputs = o.Get("inputs");
  if (!inputs.IsArray()) throw_error(env, "ERR_ARGUMENT", "Expected array for " + where + ".inputs");
  Napi::Array in = inputs.As<Napi::Array>();
  if (in.Length() > 2) throw_error(env, "ERR_ARGUMENT", "Expected at most 2 inputs for " + where);
  for (uint32_t i = 0; i < in.Length(); ++i) {
    if (!in.Get(i).IsString()) throw_error(env, "ERR_ARGUMENT", "Expected string inputs for " + where);
    d.inputs.push_back(in.Get(i).As<Napi::String>().Utf8Value());
  }
  if (op == "conv2d") {
    d.op = bot::OpKind::kConv2d;
    d.out_channels = get_int(env, o, "outChannels", where, 1, 1 << 20);
    get_pair(env, o, "kernel", where, 1, &d.kernel_h, &d.kernel_w);
    get_pair(env, o, "stride", where, 1, &d.stride_h, &d.stride_w);
    get_pair(env, o, "padding", where, 0, &d.pad_h, &d.pad_w);
    d.groups = get_int(env, o, "groups", where, 1, 1 << 20);
    d.weight = get_string(env, o, "weight", where);
  } else if (op == "batchnorm") {
    d.op = bot::OpKind::kBatchNorm;
    d.weight = get_string(env, o, "weight", where);
    d.bias = get_string(env, o, "bias", where);
    d.running_mean = get_string(env, o, "runningMean", where);
    d.running_var = get_string(env, o, "runningVar", where);
    d.eps = static_cast<float>(get_number(env, o, "eps", where));
    d.momentum = static_cast<float>(get_number(env, o, "momentum", where));
  } else if (op == "relu") {
    d.op = bot::OpKind::kRelu;
  } else if (op == "add") {
    d.op = bot::OpKind::kAdd;
  } else if (op == "maxpool2d" || op == "avgpool2d") {
    d.op = op == "maxpool2d" ? bot::OpKind::kMaxPool2d : bot::OpKind::kAvgPool2d;
    get_pair(env, o, "kernel", where, 1, &d.kernel_h, &d.kernel_w);
    get_pair(env, o, "stride", where, 1, &d.stride_h, &d.stride_w);
    get_pair(env, o, "padding", where, 0, &d.pad_h, &d.pad_w);
    d.ceil_mode = get_bool(env, o, "ceilMode", where);
    if (op == "avgpool2d") d.count_include_pad = get_bool(env, o, "countIncludePad", where);
  } else if (op == "globalavgpool") {
    d.op = bot::OpKind::kGlobalAvgPool;
  } else if (op == "linear") {
    d.op = bot::OpKind::kLinear;
    d.out_features = get_int(env, o, "outFeatures", where, 1, 1 << 24);
    d.weight = get_string(env, o, "weight", where);
    d.bias = get_string(env, o, "bias", where, true);
  } else {
    throw_error(env, "ERR_ARGUMENT", "Expected op conv2d, batchnorm, relu, add, maxpool2d, avgpool2d, "
                                     "globalavgpool or linear for " + where + ".op but received \"" + op + "\"");
  }
  return d;
}

bot::GraphDesc read_graph(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || value.IsArray()) throw_error(env, "ERR_ARGUMENT", "Expected graph object");
  Napi::Object o = value.As<Napi::Object>();
  bot::GraphDesc g;
  g.input_channels = get_int(env, o, "inputChannels", "graph", 1, 65536);
  g.output = get_string(env, o, "output", "graph");
  Napi::Value nodes = o.Get("nodes");
  if (!nodes.IsArray()) throw_error(env, "ERR_ARGUMENT", "Expected array for graph.nodes");
  Napi::Array arr = nodes.As<Napi::Array>();
  if (arr.Length() > 100000) throw_error(env, "ERR_ARGUMENT", "graph has too many nodes");
  for (uint32_t i = 0; i < arr.Length(); ++i) g.nodes.push_back(read_node(env, arr.Get(i), i));
  return g;
}

const char* kind_name(bot::ParamKind k) {
  switch (k) {
    case bot::ParamKind::kWeight: return "weight";
    case bot::ParamKind::kBias: return "bias";
    case bot::ParamKind::kGamma: return "gamma";
    case bot::ParamKind::kBeta: return "beta";
    case bot::ParamKind::kRunningMean: return "running_mean";
    case bot::ParamKind::kRunningVar: return "running_var";
  }
  return "?";
}

// --- the worker --------------------------------------------------------------------------

class StepWorker : public Napi::AsyncWorker {
 public:
  enum class Kind { kTrain, kForwardBackward, kForward };
  StepWorker(Napi::Env env, std::shared_ptr<NetState> state, Kind kind, bot::TrainStepArgs args)
      : Napi::AsyncWorker(env, "bagoftricks:net"),
        deferred_(Napi::Promise::Deferred::New(env)),
        state_(std::move(state)),
        kind_(kind),
        args_(args) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // On the core's home thread (bot::run_on_home_thread), not on whichever libuv thread
  // took the work: every step of every Net then reuses one set of kernel scratch buffers.
  void Execute() override {
    try {
      bot::run_on_home_thread([&] {
        if (kind_ == Kind::kTrain) result_ = state_->net->train_step(args_);
        else if (kind_ == Kind::kForwardBackward) result_ = state_->net->forward_backward(args_);
        else if (args_.raw != nullptr) state_->net->forward(args_.n, *args_.raw, state_->logits.data());
        else state_->net->forward(args_.n, args_.images, state_->logits.data());
      });
    } catch (...) {
      CaughtError e = describe_current_exception();
      code_ = e.code;
      SetError(e.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    state_->busy = false;
    if (kind_ == Kind::kForward) {
      const int64_t count = args_.n * state_->net->num_classes();
      Napi::Float32Array logits = new_f32(env, count);
      std::memcpy(logits.Data(), state_->logits.data(), sizeof(float) * size_t(count));
      deferred_.Resolve(logits);
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", result_.loss);
    o.Set("correct", double(result_.correct));
    o.Set("finite", result_.finite);
    o.Set("images", double(result_.images));
    o.Set("stop", result_.stop);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    state_->busy = false;
    deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<NetState> state_;
  Kind kind_;
  bot::TrainStepArgs args_;
  bot::TrainStepResult result_;
  std::string code_ = "ERR_INTERNAL";
};

}  // namespace

class NetWrap : public Napi::ObjectWrap<NetWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Net", {
        InstanceMethod<&NetWrap::TrainStep>("trainStep"),
        InstanceMethod<&NetWrap::ForwardBackward>("forwardBackward"),
        InstanceMethod<&NetWrap::Forward>("forward"),
        InstanceMethod<&NetWrap::Parameters>("parameters"),
        InstanceMethod<&NetWrap::GetParameter>("getParameter"),
        InstanceMethod<&NetWrap::SetParameter>("setParameter"),
        InstanceMethod<&NetWrap::GetGradient>("getGradient"),
        InstanceMethod<&NetWrap::GetMomentum>("getMomentum"),
        InstanceMethod<&NetWrap::SetMomentum>("setMomentum"),
        InstanceMethod<&NetWrap::NumClasses>("numClasses"),
        InstanceMethod<&NetWrap::MemoryBytes>("memoryBytes"),
        InstanceMethod<&NetWrap::Backend>("backend"),
        InstanceMethod<&NetWrap::Dispose>("dispose"),
        InstanceMethod<&NetWrap::SetProfiling>("setProfiling"),
        InstanceMethod<&NetWrap::Profile>("profile"),
        InstanceMethod<&NetWrap::SetDistributed>("setDistributed"),
        InstanceMethod<&NetWrap::RequestStop>("requestStop"),
        InstanceMethod<&NetWrap::BroadcastState>("broadcastState"),
        InstanceMethod<&NetWrap::DistStats>("distStats"),
    });
  }

  explicit NetWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NetWrap>(info) {
    Napi::Env env = info.Env();
    try {
      bot::GraphDesc graph = read_graph(env, info[0]);
      if (!info[1].IsObject()) throw_error(env, "ERR_ARGUMENT", "Expected options object");
      Napi::Object o = info[1].As<Napi::Object>();
      bot::NetOptions options;
      options.max_batch = get_int(env, o, "maxBatch", "options", 1, 1 << 20);
      options.height = get_int(env, o, "height", "options", 1, 65536);
      options.width = get_int(env, o, "width", "options", 1, 65536);
      if (!o.Get("bnGroups").IsUndefined())
        options.bn_groups = get_int(env, o, "bnGroups", "options", 1, options.max_batch);
      Napi::Value prec = o.Get("precision");
      if (!prec.IsUndefined()) {
        std::string p = prec.IsString() ? prec.As<Napi::String>().Utf8Value() : "";
        if (p != "fp32" && p != "fp16")
          throw_error(env, "ERR_ARGUMENT", "Expected \"fp32\" or \"fp16\" for options.precision");
        options.precision = p == "fp16" ? bot::Precision::kF16 : bot::Precision::kF32;
      }
      Napi::Value tr = o.Get("training");
      if (!tr.IsUndefined()) {
        if (!tr.IsBoolean()) throw_error(env, "ERR_ARGUMENT", "Expected boolean for options.training");
        options.training = tr.As<Napi::Boolean>().Value();
      }
      Napi::Value be = o.Get("backend");
      if (!be.IsUndefined()) {
        std::string b = be.IsString() ? be.As<Napi::String>().Utf8Value() : "";
        if (b != "cpu" && b != "cuda") throw_error(env, "ERR_ARGUMENT", "Expected \"cpu\" or \"cuda\" for options.backend");
        options.backend = b == "cuda" ? bot::Backend::kCuda : bot::Backend::kCpu;
      }
      Napi::Value nd = o.Get("noDecay");
      if (!nd.IsUndefined()) {
        if (!nd.IsArray()) throw_error(env, "ERR_ARGUMENT", "Expected array of strings for options.noDecay");
        Napi::Array a = nd.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
          if (!a.Get(i).IsString()) throw_error(env, "ERR_ARGUMENT", "Expected array of strings for options.noDecay");
          options.no_decay.push_back(a.Get(i).As<Napi::String>().Utf8Value());
        }
      }
      Napi::Value ls = o.Get("lrScale");
      if (!ls.IsUndefined()) {
        if (!ls.IsObject() || ls.IsArray())
          throw_error(env, "ERR_ARGUMENT", "Expected object of parameter name -> number for options.lrScale");
        Napi::Object m = ls.As<Napi::Object>();
        Napi::Array keys = m.GetPropertyNames();
        for (uint32_t i = 0; i < keys.Length(); ++i) {
          std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
          Napi::Value v = m.Get(k);
          if (!v.IsNumber())
            throw_error(env, "ERR_ARGUMENT", "Expected number for options.lrScale[\"" + k + "\"]");
          options.lr_scale.emplace_back(k, v.As<Napi::Number>().FloatValue());
        }
      }
      auto state = std::make_shared<NetState>();
      state->net = std::make_unique<bot::Net>(graph, options);
      const int64_t in_numel = options.max_batch * options.height * options.width * graph.input_channels;
      const int64_t classes = state->net->num_classes();
      state->images.resize(size_t(in_numel));
      state->labels.resize(size_t(options.max_batch));
      state->perm.resize(size_t(options.max_batch));
      state->targets.resize(size_t(options.max_batch * classes));
      state->teacher.resize(size_t(options.max_batch * classes));
      state->logits.resize(size_t(options.max_batch * classes));
      const int64_t staging = int64_t(sizeof(float)) * (in_numel + 3 * options.max_batch * classes) +
                              int64_t(sizeof(int32_t)) * 2 * options.max_batch;
      const int64_t core = int64_t(state->net->memory_bytes());
      state->total_bytes = core + staging;
      state->external_bytes = options.backend == bot::Backend::kCpu ? core + staging : staging;
      Napi::MemoryManagement::AdjustExternalMemory(env, state->external_bytes);
      state_ = std::move(state);
    } catch (const Napi::Error&) {
      throw;
    } catch (...) {
      CaughtError e = describe_current_exception();
      throw make_error(env, e.code, e.message);
    }
  }

  ~NetWrap() override { Release(Env()); }

 private:
  std::shared_ptr<NetState> state_;

  void Release(Napi::Env env) {
    if (!state_) return;
    Napi::MemoryManagement::AdjustExternalMemory(env, -state_->external_bytes);
    state_.reset();  // a worker in flight holds its own reference
  }

  NetState& Live(Napi::Env env, bool for_work) {
    if (!state_) throw_error(env, "ERR_DISPOSED", "this Net was disposed");
    if (state_->busy)
      throw_error(env, "ERR_BUSY", for_work ? "this Net is already running a step; await it first"
                                            : "this Net is running a step; await it before reading or writing parameters");
    return *state_;
  }

  // Copies the images (argument 0, n images) into the staging buffers: Float32Array images,
  // or a Uint8Array of raw RGB pixels with the colour pass's arguments at `colour_at`.
  void ReadImages(const Napi::CallbackInfo& info, NetState& s, size_t colour_at, bot::TrainStepArgs* a) {
    Napi::Env env = info.Env();
    const int64_t pixels = s.net->height() * s.net->width();
    const bool raw = info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
    if (!raw) {
      Napi::Float32Array images = f32_arg(info, 0, "images", a->n * pixels * s.net->input_channels());
      std::memcpy(s.images.data(), images.Data(), sizeof(float) * images.ElementLength());
      a->images = s.images.data();
      return;
    }
    if (s.net->input_channels() != 3)
      throw_error(env, "ERR_SHAPE", "raw images are RGB, but this Net takes " +
                                        std::to_string(s.net->input_channels()) + " input channel(s)");
    Napi::Uint8Array x = u8_arg(info, 0, "images", a->n * pixels * 3);
    s.pixels.assign(x.Data(), x.Data() + x.ElementLength());
    auto copy = [&](size_t i, const char* name, int64_t count, std::vector<float>* into) -> const float* {
      Napi::Float32Array v = optional_f32_arg(info, i, name, count);
      if (v.IsEmpty()) return nullptr;
      into->assign(v.Data(), v.Data() + v.ElementLength());
      return into->data();
    };
    bot::RawImages& r = s.raw;
    r = bot::RawImages();
    r.pixels = s.pixels.data();
    r.colour.brightness = copy(colour_at, "brightness", a->n, &s.brightness);
    r.colour.saturation = copy(colour_at + 1, "saturation", a->n, &s.saturation);
    r.colour.hue = copy(colour_at + 2, "hue", a->n, &s.hue);
    r.colour.alpha = copy(colour_at + 3, "alpha", a->n * 3, &s.alpha);
    read_constants(info, colour_at + 4, &r.constants);
    a->raw = &r;
  }

  // Copies the step's inputs into the staging buffers.
  bot::TrainStepArgs ReadStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    NetState& s = Live(env, true);
    bot::TrainStepArgs a;
    a.n = int_arg(info, 1, "n", 1, s.net->max_batch());
    a.stop_request = s.stop_request;
    const bool has_labels = !(info[2].IsUndefined() || info[2].IsNull());
    const bool has_targets = !(info[3].IsUndefined() || info[3].IsNull());
    if (has_labels == has_targets)
      throw_error(env, "ERR_ARGUMENT", "Expected either labels or targets for the train step");
    if (has_labels) {
      Napi::Int32Array labels = i32_arg(info, 2, "labels", a.n);
      std::memcpy(s.labels.data(), labels.Data(), sizeof(int32_t) * size_t(a.n));
      a.labels = s.labels.data();
    } else {
      Napi::Float32Array targets = f32_arg(info, 3, "targets", a.n * s.net->num_classes());
      std::memcpy(s.targets.data(), targets.Data(), sizeof(float) * size_t(targets.ElementLength()));
      a.targets = s.targets.data();
    }
    a.smoothing = static_cast<float>(number_arg(info, 4, "smoothing"));
    a.lr = static_cast<float>(number_arg(info, 5, "lr"));
    a.momentum = static_cast<float>(number_arg(info, 6, "momentum"));
    a.weight_decay = static_cast<float>(number_arg(info, 7, "weightDecay"));
    a.nesterov = bool_arg(info, 8, "nesterov");
    a.loss_scale = static_cast<float>(number_arg(info, 9, "lossScale"));
    if (!(info[10].IsUndefined() || info[10].IsNull())) {
      Napi::Int32Array perm = i32_arg(info, 10, "mixupPerm", a.n);
      for (int64_t i = 0; i < a.n; ++i)
        if (perm.Data()[i] < 0 || perm.Data()[i] >= a.n)
          throw_error(env, "ERR_ARGUMENT", "mixup partner " + std::to_string(perm.Data()[i]) + " at " +
                                               std::to_string(i) + " is outside [0, " + std::to_string(a.n) + ")");
      std::memcpy(s.perm.data(), perm.Data(), sizeof(int32_t) * size_t(a.n));
      a.mixup_perm = s.perm.data();
      a.mixup_lambda = static_cast<float>(number_arg(info, 11, "mixupLambda"));
      if (!(a.mixup_lambda >= 0.0f && a.mixup_lambda <= 1.0f))
        throw_error(env, "ERR_ARGUMENT", "Expected mixupLambda in [0, 1]");
    }
    if (!(info[12].IsUndefined() || info[12].IsNull())) {
      Napi::Float32Array t = f32_arg(info, 12, "teacherLogits", a.n * s.net->num_classes());
      std::memcpy(s.teacher.data(), t.Data(), sizeof(float) * t.ElementLength());
      a.teacher_logits = s.teacher.data();
      a.temperature = static_cast<float>(number_arg(info, 13, "temperature"));
      if (!(a.temperature > 0.0f)) throw_error(env, "ERR_ARGUMENT", "Expected temperature > 0");
    }
    if (!(a.loss_scale > 0.0f)) throw_error(env, "ERR_ARGUMENT", "Expected lossScale > 0");
    if (a.labels) {
      for (int64_t i = 0; i < a.n; ++i)
        if (a.labels[i] < 0 || a.labels[i] >= s.net->num_classes())
          throw_error(env, "ERR_ARGUMENT", "label " + std::to_string(a.labels[i]) + " at " +
                                               std::to_string(i) + " is outside [0, " +
                                               std::to_string(s.net->num_classes()) + ")");
    }
    ReadImages(info, s, 14, &a);
    return a;
  }

  Napi::Value Queue(Napi::Env env, StepWorker::Kind kind, const bot::TrainStepArgs& args) {
    auto* w = new StepWorker(env, state_, kind, args);
    state_->busy = true;
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    return guard(info, [&] { return Queue(info.Env(), StepWorker::Kind::kTrain, ReadStep(info)); });
  }

  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    return guard(info, [&] { return Queue(info.Env(), StepWorker::Kind::kForwardBackward, ReadStep(info)); });
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    return guard(info, [&] {
      Napi::Env env = info.Env();
      NetState& s = Live(env, true);
      bot::TrainStepArgs a;
      a.n = int_arg(info, 1, "n", 1, s.net->max_batch());
      ReadImages(info, s, 2, &a);
      return Queue(env, StepWorker::Kind::kForward, a);
    });
  }

  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      NetState& s = Live(env, false);
      const auto& ps = s.net->parameters();
      Napi::Array out = Napi::Array::New(env, ps.size());
      for (uint32_t i = 0; i < ps.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("name", ps[i].name);
        o.Set("shape", shape_value(env, ps[i].shape));
        o.Set("kind", kind_name(ps[i].kind));
        o.Set("trainable", ps[i].trainable);
        o.Set("decay", ps[i].decay);
        o.Set("lrScale", ps[i].lr_scale);
        out.Set(i, o);
      }
      return out;
    });
  }

  std::string NameArg(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) throw_error(info.Env(), "ERR_ARGUMENT", "Expected parameter name string");
    return info[0].As<Napi::String>().Utf8Value();
  }

  template <void (bot::Net::*Get)(const std::string&, float*) const>
  Napi::Value Read(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      NetState& s = Live(info.Env(), false);
      std::string name = NameArg(info);
      int64_t numel = s.net->parameter_numel(name);
      Napi::Float32Array out = new_f32(info.Env(), numel);
      (s.net.get()->*Get)(name, out.Data());
      return out;
    });
  }

  template <void (bot::Net::*Set)(const std::string&, const float*)>
  Napi::Value Write(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      NetState& s = Live(info.Env(), false);
      std::string name = NameArg(info);
      Napi::Float32Array data = f32_arg(info, 1, "data", s.net->parameter_numel(name));
      (s.net.get()->*Set)(name, data.Data());
      return info.Env().Undefined();
    });
  }

  Napi::Value GetParameter(const Napi::CallbackInfo& info) { return Read<&bot::Net::get_parameter>(info); }
  Napi::Value GetGradient(const Napi::CallbackInfo& info) { return Read<&bot::Net::get_gradient>(info); }
  Napi::Value GetMomentum(const Napi::CallbackInfo& info) { return Read<&bot::Net::get_momentum>(info); }
  Napi::Value SetParameter(const Napi::CallbackInfo& info) { return Write<&bot::Net::set_parameter>(info); }
  Napi::Value SetMomentum(const Napi::CallbackInfo& info) { return Write<&bot::Net::set_momentum>(info); }

  Napi::Value NumClasses(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      if (!state_) throw_error(info.Env(), "ERR_DISPOSED", "this Net was disposed");
      return Napi::Number::New(info.Env(), double(state_->net->num_classes()));
    });
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      if (!state_) return Napi::Number::New(info.Env(), 0);
      return Napi::Number::New(info.Env(), double(state_->total_bytes));
    });
  }

  Napi::Value Backend(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      if (!state_) return Napi::String::New(info.Env(), "cpu");
      return Napi::String::New(info.Env(), state_->net->backend() == bot::Backend::kCuda ? "cuda" : "cpu");
    });
  }

  Napi::Value SetProfiling(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      NetState& s = Live(info.Env(), false);
      s.net->set_profiling(bool_arg(info, 0, "on"));
      s.net->reset_profile();
      return info.Env().Undefined();
    });
  }

  Napi::Value Profile(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      NetState& s = Live(env, false);
      auto entries = s.net->profile();
      Napi::Array out = Napi::Array::New(env, entries.size());
      for (uint32_t i = 0; i < entries.size(); ++i) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("op", entries[i].op);
        o.Set("phase", entries[i].phase);
        o.Set("seconds", entries[i].seconds);
        o.Set("calls", double(entries[i].calls));
        out.Set(i, o);
      }
      return out;
    });
  }

  // setDistributed(bucketBytes | null): attach (or detach) a gradient averager over the
  // process group of dist.init().
  Napi::Value SetDistributed(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      NetState& s = Live(env, true);
      if (info[0].IsNull() || info[0].IsUndefined()) {
        s.net->set_gradient_averager(nullptr);
        s.averager.reset();
        return env.Undefined();
      }
      const int64_t bytes = int_arg(info, 0, "bucketBytes", 4, int64_t(1) << 31);
      auto averager = std::make_shared<bot::dist::GradientAverager>(world_comm(env), bytes);
      s.net->set_gradient_averager(averager);
      s.averager = averager;
      return env.Undefined();
    });
  }

  Napi::Value RequestStop(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      // Not Live(): a stop is asked for while a step runs (Ctrl-C); the next step carries it.
      if (!state_) throw_error(info.Env(), "ERR_DISPOSED", "this Net was disposed");
      state_->stop_request = bool_arg(info, 0, "stop");
      return info.Env().Undefined();
    });
  }

  // broadcastState(root) -> Promise<void>: every parameter, statistic and momentum from root.
  Napi::Value BroadcastState(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      NetState& s = Live(env, true);
      const int root = int(int_arg(info, 0, "root", 0, 1 << 20));
      std::shared_ptr<NetState> state = state_;
      s.busy = true;
      return OpWorker::Start(
          env,
          [state, root] {
            try {
              state->net->broadcast_state(root);
            } catch (...) {
              state->busy = false;
              throw;
            }
            state->busy = false;
          },
          [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  // distStats(reset) -> { steps, buckets, bytes, exposedSeconds, commSeconds, packSeconds,
  // bucketBytes, bucketNumel: number[] } or null without an averager.
  Napi::Value DistStats(const Napi::CallbackInfo& info) {
    return guard(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      NetState& s = Live(env, false);
      if (!s.averager) return env.Null();
      const bot::dist::AverageStats& st = s.averager->stats();
      Napi::Object o = Napi::Object::New(env);
      o.Set("steps", double(st.steps));
      o.Set("buckets", double(st.buckets));
      o.Set("bytes", double(st.bytes));
      o.Set("exposedSeconds", st.exposed_seconds);
      o.Set("commSeconds", st.comm_seconds);
      o.Set("packSeconds", st.pack_seconds);
      o.Set("bucketBytes", double(s.averager->bucket_bytes()));
      const auto sizes = s.averager->bucket_sizes();
      Napi::Array a = Napi::Array::New(env, sizes.size());
      for (uint32_t i = 0; i < sizes.size(); ++i) a.Set(i, double(sizes[i]));
      o.Set("bucketNumel", a);
      if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) s.averager->reset_stats();
      return o;
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Release(info.Env());
    return info.Env().Undefined();
  }
};

void InitNet(Napi::Env env, Napi::Object exports) { exports.Set("Net", NetWrap::Define(env)); }

}  // namespace botjs
