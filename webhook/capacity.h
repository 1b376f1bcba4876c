#pragma once

// Which nodes are on-demand and which are spot, from well-known node labels:
//   eks.amazonaws.com/capacityType  ON_DEMAND | SPOT      (EKS managed node groups)
//   karpenter.sh/capacity-type      on-demand | spot      (Karpenter)
//   node.kubernetes.io/lifecycle    normal | on-demand | spot  (kops, spot handlers)
// The label pairs are configurable. A node matching an on-demand pair is
// on-demand, else one matching a spot pair is spot; a node matching neither
// is `unlabeled_capacity` (on-demand by default: many clusters label only
// their spot nodes).

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hollowtrees::webhook {

enum class Capacity { kOnDemand, kSpot };

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

struct CapacityOptions {
  LabelPairs on_demand = {{"eks.amazonaws.com/capacityType", "ON_DEMAND"},
                          {"karpenter.sh/capacity-type", "on-demand"},
                          {"node.kubernetes.io/lifecycle", "normal"},
                          {"node.kubernetes.io/lifecycle", "on-demand"}};
  LabelPairs spot = {{"eks.amazonaws.com/capacityType", "SPOT"},
                     {"karpenter.sh/capacity-type", "spot"},
                     {"node.kubernetes.io/lifecycle", "spot"}};
  // For nodes matching no pair. Default: on-demand.
  Capacity unlabeled_capacity = Capacity::kOnDemand;
};

Capacity ClassifyNode(const std::map<std::string, std::string>& labels,
                      const CapacityOptions& options);

// Parses "key=value,key=value" (spaces around items allowed).
// InvalidArgument naming the bad item.
absl::StatusOr<LabelPairs> ParseLabelPairs(absl::string_view text);
// Parses "on-demand" or "spot".
absl::StatusOr<Capacity> ParseCapacity(absl::string_view text);
const char* CapacityName(Capacity c);

}  // namespace hollowtrees::webhook
