// One plain struct per algorithm: everything a kernel needs for one step of one parameter group.
//
// Python computes every field in float64 (each optimizer class's `_fixed_coefficients`, once per
// change of its hyperparameters, and `_step_coefficients`, the step-dependent scalars such as bias
// corrections, every step) and the reference receives the very same values, so the kernel never
// recomputes beta**t. Each kernel casts the doubles to the array dtype
// in exactly one place (its *Coefficients<T> constructor), as the reference does.
//
// `kArrays` names the arrays a tensor brings, in the order of the math function's arguments and of
// the reference function's arguments; `needs_array` says which optional ones this step uses.
// `for_each_field` lists the fields once, for the Python binding (constructed from a dict).
#pragma once
#include <array>
#include <cstdint>
#include <type_traits>

namespace optkern {

// How many times the library's grain (config.h, kDefaultMinElementsPerThread) each thread of a
// step of this algorithm must have before the step uses another thread: Params::kGrainScale where
// an algorithm sets it, else 1. An algorithm with only a multiply-add or two per element finishes
// its share so fast that waking a second thread pays only from about twice the elements an
// adaptive method (square root and division per element) needs.
template <class Params, class = void>
struct GrainScale : std::integral_constant<std::int64_t, 1> {};
template <class Params>
struct GrainScale<Params, std::void_t<decltype(Params::kGrainScale)>>
    : std::integral_constant<std::int64_t, Params::kGrainScale> {};

// Twin: optkern.SGD._fixed_coefficients + _step_coefficients / optkern.reference.sgd
struct SgdParams {
  static constexpr const char* kName = "sgd";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "momentum_buffer"};
  // A multiply-add or two per element: twice the grain, so that plain SGD on 2 threads is never
  // slower than on 1 (bench/results/grain.md; it gives up SGD with momentum's gain at 49,152).
  static constexpr std::int64_t kGrainScale = 2;
  double lr = 0, momentum = 0, one_minus_dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  bool first_step = false;  // momentum buffer not yet initialised: torch sets it to the gradient
  bool needs_array(int role) const { return role < 2 || momentum != 0; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &SgdParams::lr);
    visit("momentum", &SgdParams::momentum);
    visit("one_minus_dampening", &SgdParams::one_minus_dampening);
    visit("weight_decay", &SgdParams::weight_decay);
    visit("nesterov", &SgdParams::nesterov);
    visit("maximize", &SgdParams::maximize);
    visit("first_step", &SgdParams::first_step);
  }
};

// Twin: optkern.Adagrad._fixed_coefficients + _step_coefficients / optkern.reference.adagrad
struct AdagradParams {
  static constexpr const char* kName = "adagrad";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "sum"};
  double clr = 0, eps = 0, weight_decay = 0;  // clr = lr / (1 + (t - 1) * lr_decay)
  bool maximize = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("clr", &AdagradParams::clr);
    visit("eps", &AdagradParams::eps);
    visit("weight_decay", &AdagradParams::weight_decay);
    visit("maximize", &AdagradParams::maximize);
  }
};

// Twin: optkern.RMSprop._fixed_coefficients + _step_coefficients / optkern.reference.rmsprop
struct RmspropParams {
  static constexpr const char* kName = "rmsprop";
  static constexpr std::array<const char*, 5> kArrays = {"param", "grad", "square_avg",
                                                         "momentum_buffer", "grad_avg"};
  double lr = 0, alpha = 0, one_minus_alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
  bool needs_array(int role) const {
    return role < 3 || (role == 3 && momentum != 0) || (role == 4 && centered);
  }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &RmspropParams::lr);
    visit("alpha", &RmspropParams::alpha);
    visit("one_minus_alpha", &RmspropParams::one_minus_alpha);
    visit("eps", &RmspropParams::eps);
    visit("weight_decay", &RmspropParams::weight_decay);
    visit("momentum", &RmspropParams::momentum);
    visit("centered", &RmspropParams::centered);
    visit("maximize", &RmspropParams::maximize);
  }
};

// Twin: optkern.Adam._fixed_coefficients + _step_coefficients / optkern.reference.adam
struct AdamParams {
  static constexpr const char* kName = "adam";
  static constexpr std::array<const char*, 5> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq",
                                                         "max_exp_avg_sq"};
  double beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0, eps = 0;
  double weight_decay = 0;
  double decay_factor = 0;               // 1 - lr * weight_decay (decoupled weight decay)
  double step_size = 0;                  // lr / (1 - beta1^t)
  double inv_bias_correction2_sqrt = 0;  // 1 / sqrt(1 - beta2^t): a multiply, not a divide
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
  bool needs_array(int role) const { return role < 4 || amsgrad; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("beta1", &AdamParams::beta1);
    visit("one_minus_beta1", &AdamParams::one_minus_beta1);
    visit("beta2", &AdamParams::beta2);
    visit("one_minus_beta2", &AdamParams::one_minus_beta2);
    visit("eps", &AdamParams::eps);
    visit("weight_decay", &AdamParams::weight_decay);
    visit("decay_factor", &AdamParams::decay_factor);
    visit("step_size", &AdamParams::step_size);
    visit("inv_bias_correction2_sqrt", &AdamParams::inv_bias_correction2_sqrt);
    visit("amsgrad", &AdamParams::amsgrad);
    visit("maximize", &AdamParams::maximize);
    visit("decoupled_weight_decay", &AdamParams::decoupled_weight_decay);
  }
};

// Twin: optkern.Adadelta._fixed_coefficients + _step_coefficients / optkern.reference.adadelta
struct AdadeltaParams {
  static constexpr const char* kName = "adadelta";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "square_avg",
                                                         "acc_delta"};
  double lr = 0, rho = 0, one_minus_rho = 0, eps = 0, weight_decay = 0;
  bool maximize = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &AdadeltaParams::lr);
    visit("rho", &AdadeltaParams::rho);
    visit("one_minus_rho", &AdadeltaParams::one_minus_rho);
    visit("eps", &AdadeltaParams::eps);
    visit("weight_decay", &AdadeltaParams::weight_decay);
    visit("maximize", &AdadeltaParams::maximize);
  }
};

// Twin: optkern.Adamax._fixed_coefficients + _step_coefficients / optkern.reference.adamax
struct AdamaxParams {
  static constexpr const char* kName = "adamax";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_inf"};
  double beta1 = 0, one_minus_beta1 = 0, beta2 = 0, eps = 0, weight_decay = 0;
  double clr = 0;  // lr / (1 - beta1^t)
  bool maximize = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("beta1", &AdamaxParams::beta1);
    visit("one_minus_beta1", &AdamaxParams::one_minus_beta1);
    visit("beta2", &AdamaxParams::beta2);
    visit("eps", &AdamaxParams::eps);
    visit("weight_decay", &AdamaxParams::weight_decay);
    visit("clr", &AdamaxParams::clr);
    visit("maximize", &AdamaxParams::maximize);
  }
};

// Twin: optkern.NAdam._fixed_coefficients + _step_coefficients / optkern.reference.nadam
struct NadamParams {
  static constexpr const char* kName = "nadam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq"};
  double beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0, eps = 0;
  double weight_decay = 0;
  double decay_factor = 0;          // 1 - lr * weight_decay (decoupled weight decay)
  double inv_bias_correction2 = 0;  // 1 / (1 - beta2^t)
  double grad_coef = 0;             // lr * (1 - mu_t) / (1 - prod_{i<=t} mu_i)
  double exp_avg_coef = 0;          // lr * mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
  bool maximize = false, decoupled_weight_decay = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("beta1", &NadamParams::beta1);
    visit("one_minus_beta1", &NadamParams::one_minus_beta1);
    visit("beta2", &NadamParams::beta2);
    visit("one_minus_beta2", &NadamParams::one_minus_beta2);
    visit("eps", &NadamParams::eps);
    visit("weight_decay", &NadamParams::weight_decay);
    visit("decay_factor", &NadamParams::decay_factor);
    visit("inv_bias_correction2", &NadamParams::inv_bias_correction2);
    visit("grad_coef", &NadamParams::grad_coef);
    visit("exp_avg_coef", &NadamParams::exp_avg_coef);
    visit("maximize", &NadamParams::maximize);
    visit("decoupled_weight_decay", &NadamParams::decoupled_weight_decay);
  }
};

// Twin: optkern.RAdam._fixed_coefficients + _step_coefficients / optkern.reference.radam
struct RadamParams {
  static constexpr const char* kName = "radam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq"};
  double beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0, eps = 0;
  double weight_decay = 0;
  double decay_factor = 0;  // 1 - lr * weight_decay (decoupled weight decay)
  // rectified: lr * r_t * sqrt(1 - beta2^t) / (1 - beta1^t); otherwise lr / (1 - beta1^t)
  double step_size = 0;
  bool rectified = false;  // rho_t > 5: the variance is tractable and the adaptive step is used
  bool maximize = false, decoupled_weight_decay = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("beta1", &RadamParams::beta1);
    visit("one_minus_beta1", &RadamParams::one_minus_beta1);
    visit("beta2", &RadamParams::beta2);
    visit("one_minus_beta2", &RadamParams::one_minus_beta2);
    visit("eps", &RadamParams::eps);
    visit("weight_decay", &RadamParams::weight_decay);
    visit("decay_factor", &RadamParams::decay_factor);
    visit("step_size", &RadamParams::step_size);
    visit("rectified", &RadamParams::rectified);
    visit("maximize", &RadamParams::maximize);
    visit("decoupled_weight_decay", &RadamParams::decoupled_weight_decay);
  }
};

// Twin: optkern.Lion._fixed_coefficients + _step_coefficients / optkern.reference.lion
struct LionParams {
  static constexpr const char* kName = "lion";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "exp_avg"};
  double lr = 0, beta1 = 0, one_minus_beta1 = 0, beta2 = 0, one_minus_beta2 = 0;
  double weight_decay = 0;
  double decay_factor = 0;  // 1 - lr * weight_decay
  bool maximize = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &LionParams::lr);
    visit("beta1", &LionParams::beta1);
    visit("one_minus_beta1", &LionParams::one_minus_beta1);
    visit("beta2", &LionParams::beta2);
    visit("one_minus_beta2", &LionParams::one_minus_beta2);
    visit("weight_decay", &LionParams::weight_decay);
    visit("decay_factor", &LionParams::decay_factor);
    visit("maximize", &LionParams::maximize);
  }
};

// The textbook's optimizer classes ("Deep Learning from Scratch", common/optimizer.py), exact:
// the same NumPy expressions in the same order. Twins: optkern.textbook.<Class>._coefficients /
// optkern.reference.textbook_<name>. The textbook's plain SGD is the `sgd` kernel (momentum 0).

struct TextbookMomentumParams {
  static constexpr const char* kName = "textbook_momentum";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "v"};
  static constexpr std::int64_t kGrainScale = 2;  // SGD with momentum's traffic and arithmetic
  double lr = 0, momentum = 0;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &TextbookMomentumParams::lr);
    visit("momentum", &TextbookMomentumParams::momentum);
  }
};

struct TextbookNesterovParams {
  static constexpr const char* kName = "textbook_nesterov";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "v"};
  static constexpr std::int64_t kGrainScale = 2;  // SGD with momentum's traffic and arithmetic
  // momentum_squared = momentum * momentum and gradient_scale = (1 + momentum) * lr, in float64
  // (Python evaluates the scalar part of each expression first).
  double lr = 0, momentum = 0, momentum_squared = 0, gradient_scale = 0;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &TextbookNesterovParams::lr);
    visit("momentum", &TextbookNesterovParams::momentum);
    visit("momentum_squared", &TextbookNesterovParams::momentum_squared);
    visit("gradient_scale", &TextbookNesterovParams::gradient_scale);
  }
};

struct TextbookAdagradParams {
  static constexpr const char* kName = "textbook_adagrad";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "h"};
  double lr = 0, eps = 0;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &TextbookAdagradParams::lr);
    visit("eps", &TextbookAdagradParams::eps);
  }
};

struct TextbookRmspropParams {
  static constexpr const char* kName = "textbook_rmsprop";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "h"};
  double lr = 0, decay_rate = 0, one_minus_decay_rate = 0, eps = 0;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr", &TextbookRmspropParams::lr);
    visit("decay_rate", &TextbookRmspropParams::decay_rate);
    visit("one_minus_decay_rate", &TextbookRmspropParams::one_minus_decay_rate);
    visit("eps", &TextbookRmspropParams::eps);
  }
};

struct TextbookAdamParams {
  static constexpr const char* kName = "textbook_adam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "m", "v"};
  double lr_t = 0;  // lr * sqrt(1 - beta2^t) / (1 - beta1^t), in float64
  double one_minus_beta1 = 0, one_minus_beta2 = 0, eps = 0;
  // The textbook computes lr_t with np.sqrt, which makes it a NumPy float64 scalar. Under NumPy 2's
  // promotion rules (NEP 50) `lr_t * m` is then a float64 array, so for float32 parameters the last
  // line runs in float64 and rounds once to float32; NumPy 1 kept it in float32. This flag picks
  // the rule of the NumPy in use, so the kernel matches the textbook code under either.
  bool update_in_float64 = false;
  bool needs_array(int) const { return true; }
  template <class Visit>
  static void for_each_field(Visit&& visit) {
    visit("lr_t", &TextbookAdamParams::lr_t);
    visit("one_minus_beta1", &TextbookAdamParams::one_minus_beta1);
    visit("one_minus_beta2", &TextbookAdamParams::one_minus_beta2);
    visit("eps", &TextbookAdamParams::eps);
    visit("update_in_float64", &TextbookAdamParams::update_in_float64);
  }
};

}  // namespace optkern
