#pragma once

// The on-demand share, as a kube-scheduler extender (the `filter` and
// `prioritize` verbs of the extender protocol: ExtenderArgs in, an
// ExtenderFilterResult or a HostPriorityList out).
//
// For a pod carrying the percentage annotation (put there by the admission
// webhook), with N% asked of a workload that wants R replicas:
//   required  = ceil(N * R / 100)
//   on_demand = the workload's other pods on on-demand nodes, plus pods this
//               extender recently sent to on-demand that are not bound yet
//               (the scheduler binds asynchronously, so the API lags behind)
// If on_demand < required, `filter` keeps only on-demand nodes (the others
// fail with a reason naming the share) and `prioritize` scores them 10.
// Otherwise every node passes and `prioritize` prefers spot nodes (10, on-
// demand 0), so the rest of the workload goes to the cheaper capacity.
// Pods without the annotation (or with a malformed one) pass everywhere with
// score 0. Misplaced replicas are not moved (that would take evictions); new
// replicas go where they restore the share.
//
// A workload that cannot be read makes `filter` answer with `error`: the
// scheduler retries the pod later instead of placing it blindly.

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/common/clock.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"
#include "webhook/capacity.h"
#include "webhook/cluster_view.h"

namespace hollowtrees::webhook {

struct ExtenderOptions {
  // The pod annotation holding the percentage.
  std::string annotation_key = "app.banzaicloud.io/odPercentage";
  CapacityOptions capacity;
  // How long a pod sent to on-demand counts as such before the API shows it
  // bound. Default 60 s.
  absl::Duration assume_ttl = absl::Seconds(60);
  // Scores: the extender protocol's maximum is 10.
  int64_t max_score = 10;
};

// The decision for one pod, exposed for tests and logs.
struct ShareDecision {
  bool annotated = false;
  int percentage = 0;
  int desired = 0;
  int required = 0;
  int on_demand = 0;  // counted as described above, this pod excluded
  bool needs_on_demand = false;
  std::string workload;
};

// Thread-safe. `view` and `clock` must outlive it.
class Extender {
 public:
  Extender(ClusterView& view, ExtenderOptions options, std::shared_ptr<spdlog::logger> logger,
           Clock& clock = RealClock());

  // ExtenderArgs JSON in, ExtenderFilterResult JSON out. InvalidArgument
  // (HTTP 400) when the body is not ExtenderArgs.
  absl::StatusOr<nlohmann::json> Filter(const nlohmann::json& args);
  // ExtenderArgs JSON in, HostPriorityList JSON out.
  absl::StatusOr<nlohmann::json> Prioritize(const nlohmann::json& args);

  absl::StatusOr<ShareDecision> Decide(const nlohmann::json& pod);

 private:
  struct Assumed {
    std::string workload;
    absl::Time until;
  };
  // Pod uid -> what we sent to on-demand.
  int CountAssumed(const std::string& workload, const Workload& w, const std::string& self_uid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ClusterView& view_;
  const ExtenderOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
  Clock& clock_;
  absl::Mutex mu_;
  std::map<std::string, Assumed> assumed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hollowtrees::webhook
