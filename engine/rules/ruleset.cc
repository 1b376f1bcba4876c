#include "engine/rules/ruleset.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "lib/common/duration.h"

namespace hollowtrees::engine {

std::shared_ptr<const Ruleset> Ruleset::Build(Config config) {
  std::shared_ptr<Ruleset> rs(new Ruleset(std::move(config)));
  rs->rules_.reserve(rs->config_.rules.size());
  for (const RuleConfig& rc : rs->config_.rules) {
    Rule rule{&rc, {}};
    for (const RulePluginRef& ref : rc.action_plugins) {
      ChainStep step;
      step.plugin = rs->config_.FindPlugin(ref.name);
      step.timeout = ref.timeout ? *ref.timeout
                     : rc.timeout ? *rc.timeout
                     : step.plugin->timeout ? *step.plugin->timeout
                                            : kDefaultPluginTimeout;
      // Params were decoded from YAML into JSON objects; this cannot fail.
      (void)google::protobuf::util::JsonStringToMessage(ref.params.dump(), &step.params);
      rule.chain.push_back(std::move(step));
    }
    rs->rules_.push_back(std::move(rule));
  }
  for (const Rule& rule : rs->rules_) {
    for (const std::string& type : rule.config->event_types) rs->by_type_[type].push_back(&rule);
  }
  return rs;
}

void Ruleset::Match(const Event& event, std::vector<const Rule*>* out) const {
  auto it = by_type_.find(event.type);
  if (it == by_type_.end()) return;
  for (const Rule* rule : it->second) {
    const StatusFilter want = rule->config->alert_status;
    if (want == StatusFilter::kFiring && event.status != AlertStatus::kFiring) continue;
    if (want == StatusFilter::kResolved && event.status != AlertStatus::kResolved) continue;
    bool all = true;
    for (const LabelMatcher& m : rule->config->matchers) {
      if (!m.Matches(event.labels)) {
        all = false;
        break;
      }
    }
    if (all) out->push_back(rule);
  }
}

std::string Ruleset::GroupKey(const Rule& rule, const Event& event) {
  if (!rule.config->group_by.empty()) {
    std::string key;
    for (const std::string& name : rule.config->group_by) {
      const std::string* v = FindLabel(event.labels, name);
      absl::StrAppend(&key, name, "=", v != nullptr ? *v : "", ",");
    }
    key.pop_back();
    return key;
  }
  if (!event.labels.empty()) return FingerprintHex(Fingerprint(event.labels));
  return event.DedupKey();
}

std::string Ruleset::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const Rule& rule : rules_) {
    const RuleConfig& rc = *rule.config;
    nlohmann::json r;
    r["name"] = rc.name;
    r["description"] = rc.description;
    r["event_types"] = rc.event_types;
    nlohmann::json matchers = nlohmann::json::array();
    for (const auto& m : rc.matchers) matchers.push_back(m.ToString());
    r["matchers"] = matchers;
    r["group_by"] = rc.group_by;
    r["cooldown"] = FormatPromDuration(rc.cooldown);
    r["retries"] = rc.retries;
    r["concurrency"] = rc.concurrency;
    r["on_failure"] = rc.on_failure == OnFailure::kStop ? "stop" : "continue";
    r["alert_status"] = rc.alert_status == StatusFilter::kFiring    ? "firing"
                        : rc.alert_status == StatusFilter::kResolved ? "resolved"
                                                                     : "any";
    nlohmann::json chain = nlohmann::json::array();
    for (size_t i = 0; i < rule.chain.size(); ++i) {
      chain.push_back({{"plugin", rule.chain[i].plugin->name},
                       {"address", rule.chain[i].plugin->address},
                       {"timeout", FormatPromDuration(rule.chain[i].timeout)},
                       {"params", rc.action_plugins[i].params}});
    }
    r["action_plugins"] = chain;
    out.push_back(std::move(r));
  }
  return nlohmann::json{{"file", config_.file}, {"rules", out}}.dump();
}

}  // namespace hollowtrees::engine
