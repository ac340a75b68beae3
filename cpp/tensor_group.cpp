// TensorGroup checks. Messages name the parameter as Python labelled it (group and position, or
// dict key) and say what was expected.
#include "tensor_group.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "numpy_access.h"
#include "optkern/rounding_hash.h"

namespace optkern {
namespace {

// `module.name` as a new reference, or nullptr while `module` has not been imported (then nothing
// of it can exist yet, and there is no need to import it).
PyObject* attribute_if_imported(const char* module, const char* name) {
  const py::dict modules = py::module_::import("sys").attr("modules");
  if (!modules.contains(module)) return nullptr;
  return py::object(modules[module].attr(name)).release().ptr();
}

// ml_dtypes.bfloat16 once ml_dtypes is imported (optkern never imports it itself). Kept once
// found (a reference never released; the GIL guards it).
PyObject* bfloat16_type() {
  static PyObject* type = nullptr;
  if (type == nullptr) type = attribute_if_imported("ml_dtypes", "bfloat16");
  return type;
}

// -1 for anything but native-endian float16/float32/float64 or ml_dtypes.bfloat16.
int dtype_code(const py::dtype& dt) {
  const char order = dt.byteorder();
  const bool native =
      order == '=' || order == '|' || (order == '<') == (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
  if (!native) return -1;
  if (dt.kind() == 'f') {
    if (dt.itemsize() == 4) return kFloat32;
    if (dt.itemsize() == 8) return kFloat64;
    if (dt.itemsize() == 2) return kFloat16;
    return -1;
  }
  if (dt.itemsize() == 2 && dt.kind() == 'V') {
    PyObject* bfloat16 = bfloat16_type();
    if (bfloat16 != nullptr && py::object(dt.attr("type")).ptr() == bfloat16) return kBFloat16;
  }
  return -1;
}
int dtype_code(const py::array& a) { return dtype_code(a.dtype()); }

std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }
const char* dtype_name(DType d) {
  switch (d) {
    case kFloat32:
      return "float32";
    case kFloat64:
      return "float64";
    case kFloat16:
      return "float16";
    case kBFloat16:
      return "bfloat16";
  }
  return "?";
}

bool is_16_bit(DType d) { return d == kFloat16 || d == kBFloat16; }
std::int64_t bytes_of(DType d) { return d == kFloat64 ? 8 : is_16_bit(d) ? 2 : 4; }
StoredAs stored_as(DType d) {
  return d == kFloat16 ? kStoredFloat16 : d == kBFloat16 ? kStoredBFloat16 : kStoredFloat32;
}

// The float32 descriptor, for the fast check of a float32 gradient of a 16-bit parameter.
PyObject* float32_descr() {
  static PyObject* descr = py::dtype::of<float>().release().ptr();  // never released
  return descr;
}

std::string shape_of(const py::array& a) {
  std::ostringstream out;
  out << '(';
  for (py::ssize_t i = 0; i < a.ndim(); ++i) out << (i ? ", " : "") << a.shape(i);
  out << (a.ndim() == 1 ? ",)" : ")");
  return out.str();
}

bool same_shape(const py::array& a, const py::array& b) {
  if (a.ndim() != b.ndim()) return false;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (a.shape(i) != b.shape(i)) return false;
  }
  return true;
}

bool c_contiguous(const py::array& a) { return (a.flags() & numpy_access::kCContiguous) != 0; }
bool aligned(const py::array& a) { return (a.flags() & numpy_access::kAligned) != 0; }

py::object descr_of(const py::array& a) {
  return py::reinterpret_borrow<py::object>(numpy_access::descr(a.ptr()));
}

std::uintptr_t address(const py::array& a) { return reinterpret_cast<std::uintptr_t>(a.data()); }

// numpy.matrix, looked up the first time an array is not exactly a numpy.ndarray.
PyObject* matrix_type() {
  PYBIND11_CONSTINIT static py::gil_safe_call_once_and_store<py::object> storage;
  return storage
      .call_once_and_store_result([] { return py::module_::import("numpy").attr("matrix"); })
      .get_stored()
      .ptr();
}

// numpy.ma.MaskedArray once numpy.ma is imported (NumPy 2 loads it on first use). Kept once
// found.
PyObject* masked_array_type() {
  static PyObject* type = nullptr;
  if (type == nullptr) type = attribute_if_imported("numpy.ma", "MaskedArray");
  return type;
}

bool is_instance(const py::handle& obj, PyObject* type) {
  const int result = PyObject_IsInstance(obj.ptr(), type);
  if (result < 0) throw py::error_already_set();
  return result == 1;
}

// The kernels treat every array as flat memory, and optkern.reference uses the array's own
// operators; for these two subclasses those mean something else, so the backends would disagree.
// Other subclasses (np.memmap ...) are updated like the ndarray they are.
void refuse_other_operators(const py::handle& obj, const std::string& label, const char* what) {
  PyObject* masked = masked_array_type();
  if (masked != nullptr && is_instance(obj, masked)) {
    throw py::type_error(label + ": " + what +
                         " is a numpy.ma.MaskedArray; its mask cannot be honoured by an in-place "
                         "update of every element (pass its .data if the mask should be ignored)");
  }
  if (is_instance(obj, matrix_type())) {
    const bool updated = std::string(what) != "gradient";
    throw py::type_error(label + ": " + what +
                         " is a numpy.matrix, whose * is a matrix product; pass np.asarray(m)" +
                         (updated ? ", an ndarray view sharing its memory, so the in-place update "
                                    "still reaches the matrix"
                                  : ""));
  }
}

py::array as_array(const py::handle& obj, const std::string& label, const char* what) {
  if (!numpy_access::is_exact_ndarray(obj.ptr())) {  // exactly numpy.ndarray: the usual case
    if (!numpy_access::is_ndarray(obj.ptr())) {
      throw py::type_error(label + ": " + what + " must be a numpy.ndarray, got " +
                           py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
    }
    refuse_other_operators(obj, label, what);
  }
  return py::reinterpret_borrow<py::array>(obj);
}

// Layout checks shared by parameters, states and gradients.
void check_layout(const py::array& a, const std::string& label, const char* what) {
  if (!c_contiguous(a)) {
    throw py::value_error(label + ": " + what +
                          " is not C-contiguous (optkern updates arrays in place and never "
                          "copies); pass a contiguous array");
  }
  if (!aligned(a)) {
    throw py::value_error(label + ": " + what + " is not aligned to its element size");
  }
}

}  // namespace

TensorGroup::TensorGroup(std::vector<std::string> roles, const py::list& params,
                         const py::list& states, std::vector<std::string> param_labels,
                         std::vector<std::string> grad_labels, std::vector<std::int64_t> grad_index,
                         const py::object& state_dtype, const py::list& masters, bool stochastic,
                         std::uint64_t seed)
    : roles_(std::move(roles)),
      param_labels_(std::move(param_labels)),
      grad_labels_(std::move(grad_labels)),
      grad_index_(std::move(grad_index)) {
  const std::size_t count = params.size();
  if (roles_.size() < 2 || roles_.size() > static_cast<std::size_t>(kMaxArrays) ||
      states.size() != count || param_labels_.size() != count || grad_labels_.size() != count ||
      grad_index_.size() != count || (masters.size() != 0 && masters.size() != count)) {
    throw py::value_error("TensorGroup: params, states, labels and grad_index differ in length");
  }
  if (!state_dtype.is_none()) {
    const int state_code = dtype_code(py::dtype::from_args(state_dtype));
    if (state_code < 0) throw py::type_error("TensorGroup: unsupported state dtype");
    state_dtype_ = static_cast<DType>(state_code);
  }
  has_masters_ = masters.size() != 0;
  stochastic_ = stochastic;
  seed_ = seed;
  if (count >= (std::size_t{1} << 32) ||
      (count != 0 && *std::max_element(grad_index_.begin(), grad_index_.end()) >= (1ll << 32))) {
    // The rounding hash takes the tensor's index as a 32-bit word.
    throw py::value_error("TensorGroup: at most 2^32 parameters per optimizer");
  }
  has_role_.assign(roles_.size(), false);
  has_role_[kParamRole] = has_role_[kGradRole] = true;
  for (std::size_t t = 0; t < count; ++t) {
    const std::string& label = param_labels_[t];
    py::array param = as_array(params[t], label, "parameter");
    const int code = dtype_code(param);
    if (code < 0) {
      throw py::type_error(label + ": parameter dtype " + dtype_name(param) +
                           " is not supported; expected float32, float64, float16 or "
                           "bfloat16 (ml_dtypes)");
    }
    if (t == 0) {
      dtype_ = static_cast<DType>(code);
      descr_ = descr_of(param);
      if (state_dtype.is_none()) state_dtype_ = is_16_bit(dtype_) ? kFloat32 : dtype_;
      // Python picks the state dtype and master weights; these are its invariants.
      const bool wide = dtype_ == kFloat64;
      if (wide != (state_dtype_ == kFloat64) || state_dtype_ == kFloat16 ||
          (has_masters_ && !is_16_bit(dtype_))) {
        throw py::value_error(label + ": state dtype " + dtype_name(state_dtype_) +
                              (has_masters_ ? " with master weights" : "") +
                              " does not go with a parameter of dtype " + dtype_name(dtype_));
      }
    }
    if (code != dtype_) {
      throw py::type_error(label + ": parameter dtype " + dtype_name(param) +
                           " differs from the group's " + dtype_name(dtype_));
    }
    check_layout(param, label, "parameter");
    if (!param.writeable()) {
      throw py::value_error(label + ": parameter is read-only; optkern updates it in place");
    }
    bind_range(param, label, dtype_);

    if (has_masters_) {
      const std::string master_label = label + " state 'master_weight'";
      py::array master = as_array(masters[t], master_label, "state");
      if (dtype_code(master) != kFloat32 || master.size() != param.size()) {
        throw py::value_error(master_label + ": expected float32 with " +
                              std::to_string(param.size()) + " elements, got " +
                              dtype_name(master) + " with " + std::to_string(master.size()));
      }
      check_layout(master, master_label, "state");
      if (!master.writeable()) throw py::value_error(master_label + ": state is read-only");
      bind_range(master, master_label, kFloat32);
      masters_.push_back(std::move(master));
    } else {
      masters_.push_back(py::none());
    }

    const py::list tensor_states = py::reinterpret_borrow<py::list>(states[t]);
    if (tensor_states.size() != roles_.size() - 2) {
      throw py::value_error(label + ": expected " + std::to_string(roles_.size() - 2) +
                            " state slots");
    }
    std::vector<py::object> kept;
    for (std::size_t r = 2; r < roles_.size(); ++r) {
      const py::handle obj = tensor_states[r - 2];
      const bool present = !obj.is_none();
      if (t > 0 && present != has_role_[r]) {
        throw py::value_error(label + ": state '" + roles_[r] +
                              "' is bound for some parameters of the group but not others");
      }
      has_role_[r] = present;
      if (present) {
        const std::string state_label = label + " state '" + roles_[r] + "'";
        py::array state = as_array(obj, state_label, "state");
        if (dtype_code(state) != state_dtype_ || state.size() != param.size()) {
          throw py::value_error(state_label + ": expected " + dtype_name(state_dtype_) + " with " +
                                std::to_string(param.size()) + " elements, got " +
                                dtype_name(state) + " with " + std::to_string(state.size()));
        }
        check_layout(state, state_label, "state");
        if (!state.writeable()) throw py::value_error(state_label + ": state is read-only");
        bind_range(state, state_label, state_dtype_);
      }
      kept.push_back(py::reinterpret_borrow<py::object>(obj));
    }
    sizes_.push_back(static_cast<std::int64_t>(param.size()));
    params_.push_back(std::move(param));
    states_.push_back(std::move(kept));
  }
  if (stochastic_ && storage_signature() == kConverted) {
    const bool sixteen_bit = dtype_ == kBFloat16 || dtype_ == kFloat16;
    if (sixteen_bit && !has_masters_) stochastic_roles_.push_back(kParamRole);
    for (std::size_t r = 2; r < roles_.size(); ++r) {
      if (has_role_[r] && state_dtype_ == kBFloat16)
        stochastic_roles_.push_back(static_cast<int>(r));
    }
  }
  // Empty arrays occupy no memory and cannot overlap anything.
  ranges_.erase(std::remove_if(ranges_.begin(), ranges_.end(),
                               [](const MemoryRange& r) { return r.begin == r.end; }),
                ranges_.end());
  MemoryIndex::sort_and_check(ranges_);
}

void TensorGroup::bind_range(const py::array& array, const std::string& label, DType dtype) {
  range_labels_.push_back(label);
  bound_.push_back({array, array.data(), array.size(), descr_of(array), dtype, label});
  ranges_.push_back({address(array), address(array) + static_cast<std::uintptr_t>(array.nbytes()),
                     &range_labels_.back()});
}

py::list TensorGroup::params() const {
  py::list out;
  for (const auto& p : params_) out.append(p);
  return out;
}

py::list TensorGroup::masters() const {
  py::list out;
  for (const auto& m : masters_) out.append(m);
  return out;
}

py::list TensorGroup::states() const {
  py::list out;
  for (const auto& tensor_states : states_) {
    py::list row;
    for (const auto& s : tensor_states) row.append(s);
    out.append(row);
  }
  return out;
}

void TensorGroup::check_bound_arrays_unchanged() const {
  for (const BoundArray& bound : bound_) {
    // `a.dtype = ...` replaces the descriptor in place. The very object bound is the same dtype;
    // another one may still be an equal dtype (an equal descriptor need not be the same object).
    if (numpy_access::descr(bound.array.ptr()) != bound.descr.ptr() &&
        dtype_code(bound.array) != bound.dtype) {
      throw py::value_error(bound.label + ": the array's dtype was changed in place (to " +
                            dtype_name(bound.array) + ") after the optimizer bound it as " +
                            dtype_name(bound.dtype) + "; the kernels would read its bytes as " +
                            dtype_name(bound.dtype));
    }
    if (bound.array.data() != bound.data || bound.array.size() != bound.size) {
      throw py::value_error(bound.label +
                            ": the array was resized or reallocated after the optimizer bound it; "
                            "build a new optimizer for arrays of a new size");
    }
    if (!bound.array.writeable()) {
      throw py::value_error(bound.label + ": array is read-only; optkern updates it in place");
    }
  }
}

py::object TensorGroup::checked_grad(std::size_t t, const py::handle& grad,
                                     const MemoryIndex& bound) const {
  const std::string& label = grad_labels_[t];
  py::array g = as_array(grad, label, "gradient");
  const py::array& param = params_[t];
  // NumPy's built-in dtypes are singletons: the same descriptor object means the same dtype. A
  // 16-bit parameter's gradient may also be float32.
  PyObject* descr = numpy_access::descr(g.ptr());
  if (descr != descr_.ptr() && !(is_16_bit(dtype_) && descr == float32_descr())) {
    const int code = dtype_code(g);
    if (code != dtype_ && !(is_16_bit(dtype_) && code == kFloat32)) {
      throw py::type_error(label + ": gradient dtype " + dtype_name(g) +
                           " does not match its parameter's " + dtype_name(dtype_) +
                           (is_16_bit(dtype_) ? " (a 16-bit parameter's gradient is of its dtype "
                                                "or float32)"
                                              : ""));
    }
  }
  if (!same_shape(g, param)) {
    throw py::value_error(label + ": gradient shape " + shape_of(g) +
                          " does not match its parameter's shape " + shape_of(param));
  }
  constexpr int kLayout = numpy_access::kCContiguous | numpy_access::kAligned;
  if ((numpy_access::flags(g.ptr()) & kLayout) != kLayout) {
    check_layout(g, label, "gradient");
  }
  const std::uintptr_t begin = address(g);
  const std::uintptr_t end = begin + static_cast<std::uintptr_t>(g.nbytes());
  if (const std::string* owner = bound.overlapping(begin, end)) {
    throw py::value_error(label + ": gradient shares memory with " + *owner +
                          "; a gradient must not alias a parameter or optimizer state");
  }
  return g;
}

std::vector<void*> TensorGroup::pointer_table() const {
  std::vector<void*> table(params_.size() * kMaxArrays);
  for (std::size_t t = 0; t < params_.size(); ++t) {
    void** row = &table[t * kMaxArrays];
    // With master weights the step updates the master copy (and rounds it into the parameter).
    const py::array& updated =
        has_masters_ ? py::reinterpret_borrow<py::array>(masters_[t]) : params_[t];
    void* param = const_cast<void*>(updated.data());
    for (int r = 0; r < kMaxArrays; ++r) row[r] = param;  // the gradient is set per step
    for (std::size_t r = 2; r < roles_.size(); ++r) {
      if (has_role_[r]) {
        row[r] = py::reinterpret_borrow<py::array>(states_[t][r - 2]).mutable_data();
      }
    }
  }
  return table;
}

std::vector<TensorStorage> TensorGroup::storage_table() const {
  if (storage_signature() != kConverted) return {};
  TensorStorage row{};
  for (int r = 0; r < kMaxArrays; ++r) {
    const bool bound =
        r < static_cast<int>(roles_.size()) && has_role_[static_cast<std::size_t>(r)];
    row.role[r] = !bound ? kUnbound : stored_as(state_dtype_);
  }
  row.role[kParamRole] = has_masters_ ? kStoredFloat32 : stored_as(dtype_);
  row.role[kGradRole] = stored_as(dtype_);  // set per step
  for (const int r : stochastic_roles_) {
    row.role[r] =
        row.role[r] == kStoredFloat16 ? kStoredFloat16Stochastic : kStoredBFloat16Stochastic;
  }
  row.rounded_as = stored_as(dtype_);  // master to parameter: to nearest, whatever the rounding
  std::vector<TensorStorage> table(params_.size(), row);
  for (std::size_t t = 0; t < params_.size() && has_masters_; ++t) {
    table[t].rounded_param = const_cast<void*>(params_[t].data());
  }
  return table;
}

std::int64_t TensorGroup::param_role_bytes() const { return has_masters_ ? 4 : bytes_of(dtype_); }

const StepPlan& TensorGroup::plan(int threads, const std::vector<py::object>& grads,
                                  std::uint64_t step) {
  const std::int64_t grain = scaled_min_elements_per_thread(grain_scale_);
  if (!plan_ || plan_threads_ != threads || plan_grain_ != grain) {
    plan_ = std::make_unique<StepPlan>(pointer_table(), sizes_, param_role_bytes(), threads, grain,
                                       storage_table());
    plan_threads_ = threads;
    plan_grain_ = grain;
  }
  const bool converted = storage_signature() == kConverted;
  for (std::size_t t = 0; t < params_.size(); ++t) {
    const auto& grad = grads[static_cast<std::size_t>(grad_index_[t])];
    plan_->set_array(t, kGradRole, numpy_access::data(grad.ptr()));
    if (converted) {
      // Checked already: of the parameter's dtype or float32 (the slow look only for a descriptor
      // that is neither singleton).
      PyObject* descr = numpy_access::descr(grad.ptr());
      const bool as_param =
          descr == descr_.ptr() ||
          (descr != float32_descr() &&
           dtype_code(py::reinterpret_borrow<py::array>(grad)) == static_cast<int>(dtype_));
      plan_->set_stored_as(t, kGradRole, as_param ? stored_as(dtype_) : kStoredFloat32);
    }
  }
  if (!stochastic_roles_.empty()) {
    // The keys change with the step: a few integer rounds per tensor and role, in this loop
    // rather than per block in the kernel (rounding_hash.h).
    const std::uint32_t step_key = rounding_step_key(seed_, step);
    for (std::size_t t = 0; t < params_.size(); ++t) {
      const std::uint32_t tensor_key =
          rounding_tensor_key(step_key, static_cast<std::uint32_t>(grad_index_[t]));
      for (const int role : stochastic_roles_) {
        rounding_role_keys(tensor_key, role, plan_->rounding_key(t, role));
      }
    }
  }
  return *plan_;
}

std::unique_lock<std::mutex> TensorGroup::step_lock() {
  return lock_or_refuse_second_thread(step_mutex_);
}

std::unique_lock<std::mutex> lock_or_refuse_second_thread(std::mutex& mutex) {
  std::unique_lock<std::mutex> lock(mutex, std::try_to_lock);
  if (!lock.owns_lock()) {
    throw std::runtime_error(
        "the optimizer is being stepped by another thread right now; one optimizer must not "
        "step from two threads at once");
  }
  return lock;
}

void MemoryIndex::sort_and_check(std::vector<MemoryRange>& ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const MemoryRange& a, const MemoryRange& b) { return a.begin < b.begin; });
  // Sorted by begin, the ranges are disjoint exactly when each begins at or after the end of the
  // one before (then the ends are sorted too); the first that does not overlaps that one.
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      throw py::value_error(*ranges[i].label + " shares memory with " + *ranges[i - 1].label +
                            "; every parameter and state must be a distinct array");
    }
  }
}

const std::string* MemoryIndex::overlapping(std::uintptr_t begin, std::uintptr_t end) const {
  if (begin == end) return nullptr;
  // The first range ending after `begin` (the ends are sorted): the only one that can overlap.
  auto it = std::upper_bound(ranges_->begin(), ranges_->end(), begin,
                             [](std::uintptr_t x, const MemoryRange& r) { return x < r.end; });
  if (it != ranges_->end() && it->begin < end) return it->label;
  return nullptr;
}

void check_disjoint(const std::vector<const TensorGroup*>& groups) {
  MemoryIndex{groups};  // building it is the check
}

void checked_grads(const std::vector<TensorGroup*>& groups, const MemoryIndex& bound,
                   const py::handle& grads, std::vector<py::object>& out) {
  if (!py::isinstance<py::list>(grads) && !py::isinstance<py::tuple>(grads)) {
    const std::string expected =
        "grads must be a list or tuple of numpy arrays (one per parameter)";
    const std::string type = py::str(py::type::of(grads).attr("__name__")).cast<std::string>();
    // The textbook style passes dicts, to update(): say so rather than only naming the type.
    if (py::isinstance(grads, py::module_::import("collections.abc").attr("Mapping"))) {
      throw py::type_error(expected + ", got a dict" + (type == "dict" ? "" : " (" + type + ")") +
                           ": for gradients keyed like the parameters call update(params, grads), "
                           "or pass list(grads.values()) if they are in the parameters' order");
    }
    throw py::type_error(expected + ", got " + type);
  }
  const py::sequence seq = py::reinterpret_borrow<py::sequence>(grads);
  std::size_t expected = 0;
  for (const TensorGroup* group : groups) expected += group->size();
  if (seq.size() != expected) {
    throw py::value_error("expected " + std::to_string(expected) +
                          " gradients (one per parameter), got " + std::to_string(seq.size()));
  }
  // Every group first: `bound` holds the memory as bound, which is where the arrays still are.
  for (const TensorGroup* group : groups) group->check_bound_arrays_unchanged();
  out.assign(expected, py::object());  // keeps its capacity from the last step
  for (const TensorGroup* group : groups) {
    for (std::size_t t = 0; t < group->size(); ++t) {
      const auto index = static_cast<std::size_t>(group->grad_index()[t]);
      if (index >= expected || out[index]) {
        throw py::value_error("internal error: gradient positions of the groups overlap");
      }
      out[index] = group->checked_grad(t, seq[index], bound);
    }
  }
}

}  // namespace optkern

namespace optkern {

std::vector<GradArray> checked_grad_arrays(const py::handle& arrays, const std::string& name,
                                           const char* what, bool in_place,
                                           std::vector<py::object>& keep) {
  if (!PyList_Check(arrays.ptr()) && !PyTuple_Check(arrays.ptr())) {
    throw py::type_error(name + " must be a list or tuple of numpy arrays, got " +
                         py::str(py::type::of(arrays).attr("__name__")).cast<std::string>());
  }
  // Labels are made only for an error: with 2,000 gradients, making each one's string cost more
  // than the kernel.
  const auto label = [&](std::size_t i) { return name + "[" + std::to_string(i) + "]"; };
  static PyObject* const float64_descr = py::dtype::of<double>().release().ptr();  // never freed
  constexpr int kLayout = numpy_access::kCContiguous | numpy_access::kAligned;
  PyObject** items = PySequence_Fast_ITEMS(arrays.ptr());
  const auto count = static_cast<std::size_t>(PySequence_Fast_GET_SIZE(arrays.ptr()));
  std::vector<GradArray> out;
  out.reserve(count);
  struct Range {
    std::uintptr_t begin, end;
    std::size_t index;
  };
  std::vector<Range> ranges;
  for (std::size_t i = 0; i < count; ++i) {
    PyObject* item = items[i];
    DType dtype;
    PyObject* descr = numpy_access::is_exact_ndarray(item) ? numpy_access::descr(item) : nullptr;
    if ((descr == float32_descr() || descr == float64_descr) &&
        (numpy_access::flags(item) & kLayout) == kLayout &&
        (!in_place || py::reinterpret_borrow<py::array>(item).writeable())) {
      dtype = descr == float64_descr ? kFloat64 : kFloat32;  // the usual case, from the struct
    } else {
      const std::string at = label(i);
      as_array(item, at, what);  // a TypeError for anything but an ndarray, before any field read
      const auto a = py::reinterpret_borrow<py::array>(item);
      const bool writeable_enough = !in_place || a.writeable();
      const int code = dtype_code(a);
      if (code < 0) {
        throw py::type_error(at + ": " + what +
                             " must have dtype float32, float64, float16 or bfloat16, got " +
                             dtype_name(a));
      }
      check_layout(a, at, what);
      if (!writeable_enough) {
        throw py::value_error(at + ": " + what + " is read-only, and this function writes it");
      }
      dtype = static_cast<DType>(code);
    }
    const auto a = py::reinterpret_borrow<py::array>(item);
    const auto size = static_cast<std::int64_t>(a.size());
    if (in_place && size > 0) {
      const std::uintptr_t begin = address(a);
      ranges.push_back({begin, begin + static_cast<std::uintptr_t>(a.nbytes()), i});
    }
    // Written only with in_place, checked writeable above.
    out.push_back({const_cast<void*>(a.data()), size, dtype});
    keep.push_back(a);
  }
  // Two views of the same memory would be scaled or clamped twice.
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& x, const Range& y) { return x.begin < y.begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].begin < ranges[i - 1].end) {
      throw py::value_error(label(ranges[i].index) + " shares memory with " +
                            label(ranges[i - 1].index) + "; each " + what +
                            " must be a distinct array, or it would be written twice");
    }
  }
  return out;
}

std::vector<GradArray> checked_array_pairs(const py::handle& targets, const py::handle& sources,
                                           const std::string& target_name, const char* target_what,
                                           const std::string& source_name, const char* source_what,
                                           std::vector<py::object>& keep) {
  std::vector<GradArray> pairs = checked_grad_arrays(targets, target_name, target_what, true, keep);
  const std::vector<GradArray> read =
      checked_grad_arrays(sources, source_name, source_what, false, keep);
  if (read.size() != pairs.size()) {
    throw py::value_error(source_name + " has " + std::to_string(read.size()) + " arrays, " +
                          target_name + " " + std::to_string(pairs.size()) +
                          ": one is needed per array");
  }
  const auto target_list = py::reinterpret_borrow<py::sequence>(targets);
  const auto source_list = py::reinterpret_borrow<py::sequence>(sources);
  struct Range {
    std::uintptr_t begin, end;
    bool target;
    std::size_t index;
  };
  std::vector<Range> ranges;
  const auto bytes = [](DType d) { return static_cast<std::uintptr_t>(bytes_of(d)); };
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::string source_label = source_name + "[" + std::to_string(i) + "]";
    const auto target = py::reinterpret_borrow<py::array>(target_list[i]);
    const auto source = py::reinterpret_borrow<py::array>(source_list[i]);
    if (!same_shape(target, source)) {
      throw py::value_error(source_label + " has shape " + shape_of(source) + ", but " +
                            target_name + "[" + std::to_string(i) + "] has shape " +
                            shape_of(target));
    }
    if ((pairs[i].dtype == kFloat64) != (read[i].dtype == kFloat64)) {
      throw py::type_error(source_label + " has dtype " + dtype_name(source) + " beside " +
                           target_name + "[" + std::to_string(i) + "] of dtype " +
                           dtype_name(target) +
                           ": float64 goes only with float64 (the others compute in float32)");
    }
    pairs[i].source = read[i].data;
    pairs[i].source_dtype = read[i].dtype;
    const auto begin = [](const GradArray& a) { return reinterpret_cast<std::uintptr_t>(a.data); };
    if (pairs[i].n > 0) {
      ranges.push_back(
          {begin(pairs[i]),
           begin(pairs[i]) + static_cast<std::uintptr_t>(pairs[i].n) * bytes(pairs[i].dtype), true,
           i});
      ranges.push_back(
          {begin(read[i]),
           begin(read[i]) + static_cast<std::uintptr_t>(read[i].n) * bytes(read[i].dtype), false,
           i});
    }
  }
  // A source may share memory with another source, never with a target: sorted by begin, each
  // range is checked against the furthest-reaching earlier target (and, for a target, against
  // the furthest-reaching earlier range of either kind).
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  const Range* furthest_target = nullptr;
  const Range* furthest_any = nullptr;
  const auto label = [&](const Range& r) {
    return (r.target ? target_name : source_name) + "[" + std::to_string(r.index) + "]";
  };
  for (const Range& range : ranges) {
    const Range* other = range.target ? furthest_any : furthest_target;
    if (other != nullptr && range.begin < other->end) {
      throw py::value_error(label(range) + " shares memory with " + label(*other) +
                            ", which this function writes");
    }
    if (range.target && (furthest_target == nullptr || range.end > furthest_target->end))
      furthest_target = &range;
    if (furthest_any == nullptr || range.end > furthest_any->end) furthest_any = &range;
  }
  return pairs;
}

}  // namespace optkern
