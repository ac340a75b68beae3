// The list of algorithms, written once. The kernel table, the per-ISA instantiation and the Python
// binding all expand it, so adding an algorithm adds one line here (plus its params struct, math
// header, reference function and Python class) and no plumbing.
#pragma once

// X(name, Params): `name` is the name on every layer (_core.<name>_step, math/<name>.h,
// <name>_step<T>, reference.<name>); `Params` is its struct in params.h.
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
