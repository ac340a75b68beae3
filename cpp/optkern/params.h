// One plain struct per algorithm: everything a kernel needs for one step of one parameter group,
// and at the end of this file the list of algorithms.
//
// Python computes every field in float64 (each optimizer class's `_fixed_coefficients`, once per
// change of its hyperparameters, and `_step_coefficients`, the step-dependent scalars such as bias
// corrections, every step) and the reference receives the very same values, so the kernel never
// recomputes beta**t. Each struct is a template on its scalar type: the binding fills
// `<Name>Params<double>` from the dicts, and the generic step (optkern/step.h) casts it once to
// the compute type with `cast_params`, the one cast of every algorithm, as the reference's `_cast`
// does.
//
// `kArrays` names the arrays a tensor brings, in the order of the element function's arguments and
// of the reference function's arguments; `needs_array` says which optional ones this step uses.
// `for_each_field(visit, self...)` (OPTKERN_FIELDS below) lists the fields once: it calls
// visit(name, self.field...) for each field, so the binding sets one struct from a dict and
// cast_params walks two side by side.
//
// The structs have no constructors or default member initialisers, on purpose: they stay trivial,
// so the per-ISA kernels can make a Params<float> (`Params<float> c{}`) without calling an inline
// constructor that every ISA's unit would emit and the linker could merge into one copy (see
// isa_namespace.h). Code that makes one writes `Params<double> hp{}` (all fields zero).
#pragma once
#include <array>
#include <cstdint>
#include <type_traits>

// OPTKERN_FIELDS(a, b, ...) in a params struct defines
//   template <class Visit, class... Self> static void for_each_field(Visit&& visit, Self&... self)
// which calls visit("a", self.a...), visit("b", self.b...), ...: with no `self` the names alone,
// with one struct its fields (the binding), with two the same field of each (cast_params). The
// list names every field of the struct (up to 12), each name also the key of its value in the
// coefficient dicts Python passes.
#define OPTKERN_FIELDS(...)                                                                     \
  template <class Visit, class... Self>                                                         \
  static void for_each_field(Visit&& visit, Self&... self) {                                    \
    OPTKERN_FIELDS_PICK(__VA_ARGS__, OPTKERN_FIELDS_12, OPTKERN_FIELDS_11, OPTKERN_FIELDS_10,   \
                        OPTKERN_FIELDS_9, OPTKERN_FIELDS_8, OPTKERN_FIELDS_7, OPTKERN_FIELDS_6, \
                        OPTKERN_FIELDS_5, OPTKERN_FIELDS_4, OPTKERN_FIELDS_3, OPTKERN_FIELDS_2, \
                        OPTKERN_FIELDS_1, unused)(__VA_ARGS__)                                  \
  }
// The macro for n fields is the 13th argument once the names have shifted the list.
#define OPTKERN_FIELDS_PICK(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, name, ...) name
#define OPTKERN_FIELD(field) visit(#field, self.field...);
#define OPTKERN_FIELDS_1(a) OPTKERN_FIELD(a)
#define OPTKERN_FIELDS_2(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_1(__VA_ARGS__)
#define OPTKERN_FIELDS_3(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_2(__VA_ARGS__)
#define OPTKERN_FIELDS_4(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_3(__VA_ARGS__)
#define OPTKERN_FIELDS_5(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_4(__VA_ARGS__)
#define OPTKERN_FIELDS_6(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_5(__VA_ARGS__)
#define OPTKERN_FIELDS_7(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_6(__VA_ARGS__)
#define OPTKERN_FIELDS_8(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_7(__VA_ARGS__)
#define OPTKERN_FIELDS_9(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_8(__VA_ARGS__)
#define OPTKERN_FIELDS_10(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_9(__VA_ARGS__)
#define OPTKERN_FIELDS_11(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_10(__VA_ARGS__)
#define OPTKERN_FIELDS_12(a, ...) OPTKERN_FIELD(a) OPTKERN_FIELDS_11(__VA_ARGS__)

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
template <class T>
struct SgdParams {
  static constexpr const char* kName = "sgd";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "momentum_buffer"};
  // A multiply-add or two per element: twice the grain, so that plain SGD on 2 threads is never
  // slower than on 1 (bench/results/grain.md; it gives up SGD with momentum's gain at 49,152).
  static constexpr std::int64_t kGrainScale = 2;
  T lr, momentum, one_minus_dampening, weight_decay;
  bool nesterov, maximize;
  bool first_step;  // momentum buffer not yet initialised: torch sets it to the gradient
  bool needs_array(int role) const { return role < 2 || momentum != 0; }
  OPTKERN_FIELDS(lr, momentum, one_minus_dampening, weight_decay, nesterov, maximize, first_step)
};

// Twin: optkern.Adagrad._fixed_coefficients + _step_coefficients / optkern.reference.adagrad
template <class T>
struct AdagradParams {
  static constexpr const char* kName = "adagrad";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "sum"};
  T clr, eps, weight_decay;  // clr = lr / (1 + (t - 1) * lr_decay)
  bool maximize;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(clr, eps, weight_decay, maximize)
};

// Twin: optkern.RMSprop._fixed_coefficients + _step_coefficients / optkern.reference.rmsprop
template <class T>
struct RmspropParams {
  static constexpr const char* kName = "rmsprop";
  static constexpr std::array<const char*, 5> kArrays = {"param", "grad", "square_avg",
                                                         "momentum_buffer", "grad_avg"};
  T lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
  bool centered, maximize;
  bool needs_array(int role) const {
    return role < 3 || (role == 3 && momentum != 0) || (role == 4 && centered);
  }
  OPTKERN_FIELDS(lr, alpha, one_minus_alpha, eps, weight_decay, momentum, centered, maximize)
};

// Twin: optkern.Adam._fixed_coefficients + _step_coefficients / optkern.reference.adam
template <class T>
struct AdamParams {
  static constexpr const char* kName = "adam";
  static constexpr std::array<const char*, 5> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq",
                                                         "max_exp_avg_sq"};
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;
  T decay_factor;               // 1 - lr * weight_decay (decoupled weight decay)
  T step_size;                  // lr / (1 - beta1^t)
  T inv_bias_correction2_sqrt;  // 1 / sqrt(1 - beta2^t): a multiply, not a divide
  bool amsgrad, maximize, decoupled_weight_decay;
  bool needs_array(int role) const { return role < 4 || amsgrad; }
  OPTKERN_FIELDS(beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor,
                 step_size, inv_bias_correction2_sqrt, amsgrad, maximize, decoupled_weight_decay)
};

// Twin: optkern.Adadelta._fixed_coefficients + _step_coefficients / optkern.reference.adadelta
template <class T>
struct AdadeltaParams {
  static constexpr const char* kName = "adadelta";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "square_avg",
                                                         "acc_delta"};
  T lr, rho, one_minus_rho, eps, weight_decay;
  bool maximize;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, rho, one_minus_rho, eps, weight_decay, maximize)
};

// Twin: optkern.Adamax._fixed_coefficients + _step_coefficients / optkern.reference.adamax
template <class T>
struct AdamaxParams {
  static constexpr const char* kName = "adamax";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_inf"};
  T beta1, one_minus_beta1, beta2, eps, weight_decay;
  T clr;  // lr / (1 - beta1^t)
  bool maximize;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(beta1, one_minus_beta1, beta2, eps, weight_decay, clr, maximize)
};

// Twin: optkern.NAdam._fixed_coefficients + _step_coefficients / optkern.reference.nadam
template <class T>
struct NadamParams {
  static constexpr const char* kName = "nadam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq"};
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;
  T decay_factor;          // 1 - lr * weight_decay (decoupled weight decay)
  T inv_bias_correction2;  // 1 / (1 - beta2^t)
  T grad_coef;             // lr * (1 - mu_t) / (1 - prod_{i<=t} mu_i)
  T exp_avg_coef;          // lr * mu_{t+1} / (1 - prod_{i<=t+1} mu_i)
  bool maximize, decoupled_weight_decay;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor,
                 inv_bias_correction2, grad_coef, exp_avg_coef, maximize, decoupled_weight_decay)
};

// Twin: optkern.RAdam._fixed_coefficients + _step_coefficients / optkern.reference.radam
template <class T>
struct RadamParams {
  static constexpr const char* kName = "radam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "exp_avg", "exp_avg_sq"};
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;
  T decay_factor;  // 1 - lr * weight_decay (decoupled weight decay)
  // rectified: lr * r_t * sqrt(1 - beta2^t) / (1 - beta1^t); otherwise lr / (1 - beta1^t)
  T step_size;
  bool rectified;  // rho_t > 5: the variance is tractable and the adaptive step is used
  bool maximize, decoupled_weight_decay;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor,
                 step_size, rectified, maximize, decoupled_weight_decay)
};

// Twin: optkern.Lion._fixed_coefficients + _step_coefficients / optkern.reference.lion
template <class T>
struct LionParams {
  static constexpr const char* kName = "lion";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "exp_avg"};
  T lr, beta1, one_minus_beta1, beta2, one_minus_beta2;
  T weight_decay;
  T decay_factor;  // 1 - lr * weight_decay
  bool maximize;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay, decay_factor,
                 maximize)
};

// The textbook's optimizer classes ("Deep Learning from Scratch", common/optimizer.py), exact:
// the same NumPy expressions in the same order. Twins: optkern.textbook.<Class>._coefficients /
// optkern.reference.textbook_<name>. The textbook's plain SGD is the `sgd` kernel (momentum 0).

template <class T>
struct TextbookMomentumParams {
  static constexpr const char* kName = "textbook_momentum";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "v"};
  static constexpr std::int64_t kGrainScale = 2;  // SGD with momentum's traffic and arithmetic
  T lr, momentum;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, momentum)
};

template <class T>
struct TextbookNesterovParams {
  static constexpr const char* kName = "textbook_nesterov";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "v"};
  static constexpr std::int64_t kGrainScale = 2;  // SGD with momentum's traffic and arithmetic
  // momentum_squared = momentum * momentum and gradient_scale = (1 + momentum) * lr, in float64
  // (Python evaluates the scalar part of each expression first).
  T lr, momentum, momentum_squared, gradient_scale;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, momentum, momentum_squared, gradient_scale)
};

template <class T>
struct TextbookAdagradParams {
  static constexpr const char* kName = "textbook_adagrad";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "h"};
  T lr, eps;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, eps)
};

template <class T>
struct TextbookRmspropParams {
  static constexpr const char* kName = "textbook_rmsprop";
  static constexpr std::array<const char*, 3> kArrays = {"param", "grad", "h"};
  T lr, decay_rate, one_minus_decay_rate, eps;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr, decay_rate, one_minus_decay_rate, eps)
};

template <class T>
struct TextbookAdamParams {
  static constexpr const char* kName = "textbook_adam";
  static constexpr std::array<const char*, 4> kArrays = {"param", "grad", "m", "v"};
  // lr * sqrt(1 - beta2^t) / (1 - beta1^t). double in every instantiation: the float64 update below
  // multiplies by this float64 scalar, and the float32 one rounds it where it is used.
  double lr_t;
  T one_minus_beta1, one_minus_beta2, eps;
  // The textbook computes lr_t with np.sqrt, which makes it a NumPy float64 scalar. Under NumPy 2's
  // promotion rules (NEP 50) `lr_t * m` is then a float64 array, so for float32 parameters the last
  // line runs in float64 and rounds once to float32; NumPy 1 kept it in float32. This flag picks
  // the rule of the NumPy in use, so the kernel matches the textbook code under either.
  bool update_in_float64;
  bool needs_array(int) const { return true; }
  OPTKERN_FIELDS(lr_t, one_minus_beta1, one_minus_beta2, eps, update_in_float64)
};

}  // namespace optkern

// The list of algorithms, written once. The kernel table, the per-ISA instantiation, the Python
// binding and the benchmark all expand it, so adding an algorithm adds its struct above, one line
// here and its math header (cpp/optkern/math/<name>.h, included by kernels_impl.h), and no
// plumbing.
//
// X(name, Params): `name` is the name on every layer (_core.<name>_prepare, math/<name>.h,
// reference.<name>); `Params` is its struct template above (math::Algorithm<Params> its math).
#define OPTKERN_FOR_EACH_ALGORITHM(X)          \
  X(sgd, SgdParams)                            \
  X(adagrad, AdagradParams)                    \
  X(rmsprop, RmspropParams)                    \
  X(adam, AdamParams)                          \
  X(adadelta, AdadeltaParams)                  \
  X(adamax, AdamaxParams)                      \
  X(nadam, NadamParams)                        \
  X(radam, RadamParams)                        \
  X(lion, LionParams)                          \
  X(textbook_momentum, TextbookMomentumParams) \
  X(textbook_nesterov, TextbookNesterovParams) \
  X(textbook_adagrad, TextbookAdagradParams)   \
  X(textbook_rmsprop, TextbookRmspropParams)   \
  X(textbook_adam, TextbookAdamParams)
