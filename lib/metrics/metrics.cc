#include "lib/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "lib/common/check.h"

namespace hollowtrees::metrics {
namespace {

void AppendEscaped(std::string& out, absl::string_view s, bool is_help) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && !is_help) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

class CallbackGaugeFamily : public FamilyBase {
 public:
  CallbackGaugeFamily(std::string name, std::string help, std::function<double()> fn)
      : FamilyBase(std::move(name), std::move(help), {}, Type::kGauge), fn_(std::move(fn)) {}

 protected:
  void ExposeChildren(std::string& out) const override {
    out += name_;
    out += ' ';
    AppendValue(out, fn_());
    out += '\n';
  }

 private:
  std::function<double()> fn_;
};

}  // namespace

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, res.ptr);
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  HT_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()), "histogram bounds must ascend");
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

uint64_t Histogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j <= bounds_.size(); ++j) {
    total += buckets_[j].load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60,   120};
}

void FamilyBase::Expose(std::string& out) const {
  absl::StrAppend(&out, "# HELP ", name_, " ");
  AppendEscaped(out, help_, /*is_help=*/true);
  static constexpr absl::string_view kTypes[] = {"counter", "gauge", "histogram"};
  absl::StrAppend(&out, "\n# TYPE ", name_, " ", kTypes[static_cast<int>(type_)], "\n");
  ExposeChildren(out);
}

void FamilyBase::AppendLabels(std::string& out, const std::vector<std::string>& values,
                              absl::string_view extra_name, absl::string_view extra_value) const {
  if (label_names_.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  for (size_t i = 0; i < label_names_.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += label_names_[i];
    out += "=\"";
    AppendEscaped(out, i < values.size() ? values[i] : "", /*is_help=*/false);
    out += '"';
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    absl::StrAppend(&out, extra_name, "=\"", extra_value, "\"");
  }
  out += '}';
}

template <>
std::unique_ptr<Counter> Family<Counter>::MakeChild() const {
  return std::make_unique<Counter>();
}
template <>
std::unique_ptr<Gauge> Family<Gauge>::MakeChild() const {
  return std::make_unique<Gauge>();
}
template <>
std::unique_ptr<Histogram> Family<Histogram>::MakeChild() const {
  return std::make_unique<Histogram>(bounds_);
}

template <typename T>
void Family<T>::ExposeChildren(std::string& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, child] : children_) {
    out += name_;
    AppendLabels(out, values);
    out += ' ';
    AppendValue(out, child->Value());
    out += '\n';
  }
}

template <>
void Family<Histogram>::ExposeChildren(std::string& out) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [values, h] : children_) {
    std::string le;
    for (size_t i = 0; i <= h->bounds().size(); ++i) {
      le.clear();
      if (i < h->bounds().size()) {
        AppendValue(le, h->bounds()[i]);
      } else {
        le = "+Inf";
      }
      absl::StrAppend(&out, name_, "_bucket");
      AppendLabels(out, values, "le", le);
      absl::StrAppend(&out, " ", h->CumulativeCount(i), "\n");
    }
    absl::StrAppend(&out, name_, "_sum");
    AppendLabels(out, values);
    out += ' ';
    AppendValue(out, h->Sum());
    absl::StrAppend(&out, "\n", name_, "_count");
    AppendLabels(out, values);
    absl::StrAppend(&out, " ", h->Count(), "\n");
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename F>
F& Registry::Add(std::unique_ptr<F> family) {
  absl::MutexLock lock(&mu_);
  for (const auto& f : families_) {
    HT_CHECK(f->name() != family->name(), family->name().c_str());
  }
  F& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  return Add(std::make_unique<Family<Counter>>(std::move(name), std::move(help),
                                               std::move(label_names), Type::kCounter));
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  return Add(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                             std::move(label_names), Type::kGauge));
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  return Add(std::make_unique<Family<Histogram>>(std::move(name), std::move(help),
                                                 std::move(label_names), Type::kHistogram,
                                                 std::move(bounds)));
}

void Registry::AddGaugeCallback(std::string name, std::string help, std::function<double()> fn) {
  Add(std::make_unique<CallbackGaugeFamily>(std::move(name), std::move(help), std::move(fn)));
}

std::string Registry::Expose() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& f : families_) f->Expose(out);
  return out;
}

}  // namespace hollowtrees::metrics
