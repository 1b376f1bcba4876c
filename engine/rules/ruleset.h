#pragma once

// An immutable, compiled ruleset: the validated Config plus an index by
// event type and each rule's resolved plugin chain. Shared across threads as
// std::shared_ptr<const Ruleset>; a reload builds a new one aside and swaps
// it in, and flows keep the snapshot they started with.

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/rules/config.h"
#include "engine/event/event.h"
#include "google/protobuf/struct.pb.h"

namespace hollowtrees::engine {

// One call in a rule's chain, resolved against the plugin list.
struct ChainStep {
  const PluginConfig* plugin;  // owned by the Ruleset's config
  absl::Duration timeout;      // rule entry > rule > plugin > default
  google::protobuf::Struct params;
};

struct Rule {
  const RuleConfig* config;  // owned by the Ruleset
  std::vector<ChainStep> chain;
};

class Ruleset {
 public:
  // Compiles a validated configuration. Cannot fail: ParseConfig checked it.
  static std::shared_ptr<const Ruleset> Build(Config config);

  const Config& config() const { return config_; }
  const std::vector<Rule>& rules() const { return rules_; }

  // Appends the rules that act on `event` (type, alert status, matchers).
  void Match(const Event& event, std::vector<const Rule*>* out) const;

  // The key of the flow group `event` falls in for `rule`: the group_by
  // labels' values, or the whole label set (an event without labels: its
  // source and id).
  static std::string GroupKey(const Rule& rule, const Event& event);

  // The loaded rules as JSON for GET /api/v1/rules.
  std::string ToJson() const;

 private:
  explicit Ruleset(Config config) : config_(std::move(config)) {}
  Config config_;
  std::vector<Rule> rules_;
  absl::flat_hash_map<std::string, std::vector<const Rule*>> by_type_;
};

}  // namespace hollowtrees::engine
