#pragma once

// A small Prometheus client: counters, gauges and histograms with labels, and
// the text exposition format (version 0.0.4). Debian has no prometheus-cpp.
//
// Hot paths resolve a labelled child once (Family::WithLabels) and keep the
// reference; updates are then lock-free atomics. Children live as long as the
// Registry unless removed with Family::Remove / Family::Clear, after which the
// references handed out for them must no longer be used.
//
// Thread safety: everything here may be used from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/synchronization/mutex.h"

namespace hollowtrees::metrics {

class Counter {
 public:
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `bounds` are the upper bounds of the buckets, ascending; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative count of observations <= bounds()[i].
  uint64_t CumulativeCount(size_t i) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0.0};
};

// Buckets for latencies in seconds, from 100us to 2 minutes.
std::vector<double> LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// The common part of a metric family, for the registry's exposition.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, Type type)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        type_(type) {}
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  void Expose(std::string& out) const;

 protected:
  virtual void ExposeChildren(std::string& out) const = 0;
  void AppendLabels(std::string& out, const std::vector<std::string>& values,
                    absl::string_view extra_name = {}, absl::string_view extra_value = {}) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const Type type_;
};

template <typename T>
class Family : public FamilyBase {
 public:
  using FamilyBase::FamilyBase;
  Family(std::string name, std::string help, std::vector<std::string> label_names, Type type,
         std::vector<double> bounds)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type),
        bounds_(std::move(bounds)) {}

  // The child for these label values (as many as label names), made on first
  // use. The reference stays valid until Remove/Clear drops that child.
  T& WithLabels(const std::vector<std::string>& values) {
    absl::MutexLock lock(&mu_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      it = children_.emplace(values, MakeChild()).first;
    }
    return *it->second;
  }
  T& Get() { return WithLabels({}); }
  void Remove(const std::vector<std::string>& values) {
    absl::MutexLock lock(&mu_);
    children_.erase(values);
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    children_.clear();
  }

 protected:
  void ExposeChildren(std::string& out) const override;

 private:
  std::unique_ptr<T> MakeChild() const;

  const std::vector<double> bounds_ = {};  // {} so that clang accepts the inherited constructor
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

// Owns metric families and writes their exposition.
class Registry {
 public:
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> bounds);
  // A gauge whose value is read by `fn` at exposition time.
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> fn);

  // The text exposition format, families in registration order.
  std::string Expose() const;

  static constexpr absl::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  template <typename F>
  F& Add(std::unique_ptr<F> family);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<FamilyBase>> families_ ABSL_GUARDED_BY(mu_);
};

// Appends `v` as Prometheus writes sample values (+Inf, -Inf, NaN, shortest
// round-trip decimal).
void AppendValue(std::string& out, double v);

}  // namespace hollowtrees::metrics
