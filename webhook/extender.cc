#include "webhook/extender.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "webhook/admission.h"

namespace hollowtrees::webhook {

using nlohmann::json;

namespace {

std::map<std::string, std::string> LabelsOf(const json& obj) {
  std::map<std::string, std::string> out;
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return out;
  const json& md = obj["metadata"];
  if (!md.contains("labels") || !md["labels"].is_object()) return out;
  for (auto it = md["labels"].begin(); it != md["labels"].end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string NameOf(const json& obj) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const json& md = obj["metadata"];
  // Not value("name", ""): it throws when the name is not a string.
  return md.contains("name") && md["name"].is_string() ? md["name"].get<std::string>() : "";
}

// The candidate nodes of ExtenderArgs: name and labels (nullopt labels when
// only names were sent).
struct Candidate {
  std::string name;
  const json* node = nullptr;  // the Node object when sent
};

absl::StatusOr<std::vector<Candidate>> Candidates(const json& args, bool* by_object) {
  std::vector<Candidate> out;
  *by_object = false;
  if (args.contains("nodes") && !args["nodes"].is_null()) {
    const json& nodes = args["nodes"];
    if (!nodes.is_object() || (nodes.contains("items") && !nodes["items"].is_array() &&
                               !nodes["items"].is_null())) {
      return absl::InvalidArgumentError("ExtenderArgs.nodes is not a NodeList");
    }
    *by_object = true;
    if (nodes.contains("items") && nodes["items"].is_array()) {
      for (const json& n : nodes["items"]) {
        const std::string name = NameOf(n);
        if (name.empty()) return absl::InvalidArgumentError("a node in ExtenderArgs.nodes has no name");
        out.push_back({name, &n});
      }
    }
    return out;
  }
  if (args.contains("nodenames") && !args["nodenames"].is_null()) {
    if (!args["nodenames"].is_array()) {
      return absl::InvalidArgumentError("ExtenderArgs.nodenames is not a list of names");
    }
    for (const json& n : args["nodenames"]) {
      if (!n.is_string()) {
        return absl::InvalidArgumentError("ExtenderArgs.nodenames is not a list of names");
      }
      out.push_back({n.get<std::string>(), nullptr});
    }
    return out;
  }
  return absl::InvalidArgumentError("ExtenderArgs has neither nodes nor nodenames");
}

absl::Status CheckArgs(const json& args) {
  if (!args.is_object()) return absl::InvalidArgumentError("ExtenderArgs must be a JSON object");
  if (!args.contains("pod") || !args["pod"].is_object()) {
    return absl::InvalidArgumentError("ExtenderArgs has no pod");
  }
  // json::value() throws on a field of another type (a 500 before): the
  // pod's identity fields, read below, must be strings when present.
  const json& pod = args["pod"];
  if (pod.contains("metadata") && pod["metadata"].is_object()) {
    for (const char* field : {"name", "namespace", "uid"}) {
      const json& md = pod["metadata"];
      if (md.contains(field) && !md[field].is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat("ExtenderArgs.pod.metadata.", field, " must be a string"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

Extender::Extender(ClusterView& view, ExtenderOptions options,
                   std::shared_ptr<spdlog::logger> logger, Clock& clock)
    : view_(view), options_(std::move(options)), logger_(std::move(logger)), clock_(clock) {}

int Extender::CountAssumed(const std::string& workload, const Workload& w,
                           const std::string& self_uid) {
  const absl::Time now = clock_.Now();
  std::set<std::string> bound;
  for (const WorkloadPod& p : w.pods) {
    if (!p.node.empty()) bound.insert(p.uid);
  }
  int n = 0;
  for (auto it = assumed_.begin(); it != assumed_.end();) {
    if (it->second.until <= now || bound.count(it->first)) {
      it = assumed_.erase(it);  // expired, or the API now shows where it went
      continue;
    }
    if (it->second.workload == workload && it->first != self_uid) ++n;
    ++it;
  }
  return n;
}

absl::StatusOr<ShareDecision> Extender::Decide(const json& pod) {
  ShareDecision d;
  const json& md = pod.contains("metadata") && pod["metadata"].is_object() ? pod["metadata"]
                                                                             : json::object();
  const std::string pod_name =
      absl::StrCat(md.value("namespace", ""), "/", md.value("name", ""));
  if (!md.contains("annotations") || !md["annotations"].is_object() ||
      !md["annotations"].contains(options_.annotation_key)) {
    return d;
  }
  const json& raw = md["annotations"][options_.annotation_key];
  auto pct = ParsePercentage(raw.is_string() ? raw.get<std::string>() : raw.dump());
  if (!pct.ok()) {
    logger_->warn("pod {}: annotation {}: {}; scheduled as if absent", pod_name,
                  options_.annotation_key, pct.status().message());
    return d;
  }
  d.annotated = true;
  d.percentage = *pct;
  auto workload = view_.WorkloadOf(pod);
  if (!workload.ok()) {
    return absl::Status(workload.status().code(),
                        absl::StrCat("pod ", pod_name, ": ", workload.status().message()));
  }
  d.workload = workload->id;
  d.desired = std::max(0, workload->desired);
  d.required = (d.percentage * d.desired + 99) / 100;
  const std::string self_uid = md.value("uid", "");
  int on_demand = 0;
  for (const WorkloadPod& p : workload->pods) {
    if (p.node.empty() || (!self_uid.empty() && p.uid == self_uid)) continue;
    auto labels = view_.NodeLabels(p.node);
    if (!labels.ok()) continue;  // the node is gone; so is the pod, soon
    if (ClassifyNode(*labels, options_.capacity) == Capacity::kOnDemand) ++on_demand;
  }
  {
    absl::MutexLock lock(&mu_);
    on_demand += CountAssumed(d.workload, *workload, self_uid);
  }
  d.on_demand = on_demand;
  d.needs_on_demand = on_demand < d.required;
  return d;
}

absl::StatusOr<json> Extender::Filter(const json& args) {
  if (absl::Status s = CheckArgs(args); !s.ok()) return s;
  bool by_object = false;
  auto candidates = Candidates(args, &by_object);
  if (!candidates.ok()) return candidates.status();
  json result = {{"failedNodes", json::object()}};
  auto pass_all = [&]() {
    if (by_object) {
      result["nodes"] = args["nodes"];
    } else {
      result["nodenames"] = args["nodenames"];
    }
    return result;
  };
  auto decision = Decide(args["pod"]);
  if (!decision.ok()) {
    logger_->warn("filter: {}", decision.status());
    result["error"] = std::string(decision.status().message());
    if (by_object) {
      result["nodes"] = nullptr;
    } else {
      result["nodenames"] = nullptr;
    }
    return result;
  }
  if (!decision->annotated || !decision->needs_on_demand) return pass_all();
  json kept_nodes = json::array();
  json kept_names = json::array();
  const std::string reason = absl::StrCat(
      "spot node: ", decision->workload, " needs ", decision->required, " of ", decision->desired,
      " replicas (", decision->percentage, "%) on on-demand nodes and has ", decision->on_demand);
  for (const Candidate& c : *candidates) {
    std::map<std::string, std::string> labels;
    if (c.node != nullptr) {
      labels = LabelsOf(*c.node);
    } else {
      auto l = view_.NodeLabels(c.name);
      if (!l.ok()) {
        result["failedNodes"][c.name] = absl::StrCat("node labels unknown: ", l.status().message());
        continue;
      }
      labels = std::move(*l);
    }
    if (ClassifyNode(labels, options_.capacity) == Capacity::kOnDemand) {
      if (c.node != nullptr) kept_nodes.push_back(*c.node);
      kept_names.push_back(c.name);
    } else {
      result["failedNodes"][c.name] = reason;
    }
  }
  const json& pod_md = args["pod"].contains("metadata") ? args["pod"]["metadata"] : json::object();
  const std::string uid = pod_md.is_object() ? pod_md.value("uid", "") : "";
  if (!kept_names.empty() && !uid.empty()) {
    // The pod will land on one of these: count it before the API shows it.
    absl::MutexLock lock(&mu_);
    assumed_[uid] = {decision->workload, clock_.Now() + options_.assume_ttl};
  }
  logger_->debug("filter {}: {} needs on-demand ({} of {} required, {} there): {} of {} nodes kept",
                 pod_md.is_object() ? pod_md.value("name", "") : "", decision->workload,
                 decision->required, decision->desired, decision->on_demand, kept_names.size(),
                 candidates->size());
  if (by_object) {
    json list = args["nodes"];
    list["items"] = kept_nodes;
    result["nodes"] = list;
  } else {
    result["nodenames"] = kept_names;
  }
  return result;
}

absl::StatusOr<json> Extender::Prioritize(const json& args) {
  if (absl::Status s = CheckArgs(args); !s.ok()) return s;
  bool by_object = false;
  auto candidates = Candidates(args, &by_object);
  if (!candidates.ok()) return candidates.status();
  auto decision = Decide(args["pod"]);
  if (!decision.ok()) logger_->warn("prioritize: {}; neutral scores", decision.status());
  json out = json::array();
  for (const Candidate& c : *candidates) {
    int64_t score = 0;
    if (decision.ok() && decision->annotated) {
      std::map<std::string, std::string> labels;
      bool known = true;
      if (c.node != nullptr) {
        labels = LabelsOf(*c.node);
      } else {
        auto l = view_.NodeLabels(c.name);
        known = l.ok();
        if (known) labels = std::move(*l);
      }
      if (known) {
        const bool od = ClassifyNode(labels, options_.capacity) == Capacity::kOnDemand;
        score = (decision->needs_on_demand == od) ? options_.max_score : 0;
      }
    }
    out.push_back({{"host", c.name}, {"score", score}});
  }
  return out;
}

}  // namespace hollowtrees::webhook
