#include "engine/rules/config.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/common/duration.h"
#include "lib/common/file.h"
#include "lib/common/status_macros.h"
#include "lib/http/http_client.h"
#include "lib/http/server_util.h"
#include "lib/kube/leader_election.h"
#include "simdjson.h"
#include "yaml-cpp/yaml.h"

namespace hollowtrees::engine {
namespace {

struct Problem {
  int line;
  int col;
  std::string message;
};

// Walks the YAML tree, collecting every problem with its position.
class Decoder {
 public:
  explicit Decoder(std::string filename) : filename_(std::move(filename)) {}

  void Error(const YAML::Node& at, std::string message) {
    const YAML::Mark m = at.Mark();
    // yaml-cpp marks are 0-based; a node without a mark reports -1.
    problems_.push_back({m.line + 1, m.column + 1, std::move(message)});
  }
  void ErrorAtMark(const YAML::Mark& m, std::string message) {
    problems_.push_back({m.line + 1, m.column + 1, std::move(message)});
  }
  void ErrorAt(int line, int col, std::string message) {
    problems_.push_back({line, col, std::move(message)});
  }

  bool ok() const { return problems_.empty(); }

  std::string Report() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return a.line != b.line ? a.line < b.line : a.col < b.col;
    });
    std::vector<std::string> lines;
    for (const auto& p : problems_) {
      lines.push_back(absl::StrCat(filename_, ":", std::max(p.line, 1), ":", std::max(p.col, 1),
                                   ": ", p.message));
    }
    return absl::StrJoin(lines, "\n");
  }

  // Checks that `node` is a map whose keys are all in `allowed`, reporting
  // unknown and duplicate keys. False when it is not a map at all.
  bool CheckMap(const YAML::Node& node, const std::string& what,
                std::initializer_list<const char*> allowed) {
    if (!node.IsMap()) {
      Error(node, absl::StrCat(what, ": must be a mapping"));
      return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
      bool known = false;
      for (const char* a : allowed) known = known || key == a;
      if (!known) {
        Error(it->first, absl::StrCat(what, ": unknown key \"", key, "\" (known: ",
                                      absl::StrJoin(allowed, ", "), ")"));
      }
      if (!seen.insert(key).second) {
        Error(it->first, absl::StrCat(what, ": duplicate key \"", key, "\""));
      }
    }
    return true;
  }

  bool String(const YAML::Node& n, const std::string& what, std::string* out) {
    if (!n.IsScalar()) {
      Error(n, absl::StrCat(what, ": must be a string"));
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  bool Duration(const YAML::Node& n, const std::string& what, absl::Duration* out) {
    std::string text;
    if (!String(n, what, &text)) return false;
    auto d = ParsePromDuration(text);
    if (!d.ok()) {
      Error(n, absl::StrCat(what, ": ", d.status().message()));
      return false;
    }
    *out = *d;
    return true;
  }

  bool Int(const YAML::Node& n, const std::string& what, int64_t min, int64_t max, int64_t* out) {
    std::string text;
    if (!String(n, what, &text)) return false;
    int64_t v;
    if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
      Error(n, absl::StrCat(what, ": must be a whole number from ", min, " to ", max, ", not \"",
                            text, "\""));
      return false;
    }
    *out = v;
    return true;
  }

  bool StringList(const YAML::Node& n, const std::string& what, std::vector<std::string>* out) {
    if (!n.IsSequence()) {
      Error(n, absl::StrCat(what, ": must be a list of strings"));
      return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string s;
      if (String(n[i], absl::StrCat(what, "[", i, "]"), &s)) {
        out->push_back(std::move(s));
      } else {
        ok = false;
      }
    }
    return ok;
  }

  // `n` as a timeout of `label`: reported unless positive (and kept either
  // way: a reported problem refuses the whole file).
  void Timeout(const YAML::Node& n, const std::string& label, std::optional<absl::Duration>* out) {
    absl::Duration t;
    if (!Duration(n, label + " timeout", &t)) return;
    if (t <= absl::ZeroDuration()) Error(n, label + ": timeout must be positive");
    *out = t;
  }

  // `n` as one of the named `choices`; the message lists them ("a or b",
  // "a, b or c").
  template <typename E>
  bool OneOf(const YAML::Node& n, const std::string& what,
             std::initializer_list<std::pair<const char*, E>> choices, E* out) {
    std::string v;
    if (!String(n, what, &v)) return false;
    std::vector<std::string> names;
    for (const auto& [name, value] : choices) {
      if (v == name) {
        *out = value;
        return true;
      }
      names.push_back(name);
    }
    const std::string last = names.back();
    names.pop_back();
    Error(n, absl::StrCat(what, ": must be ", absl::StrJoin(names, ", "), " or ", last, ", not \"",
                          v, "\""));
    return false;
  }

  // A required string `key` of `n`, not empty. `label` names the owner in
  // the messages, `what` the value when it is not a string.
  bool NonEmpty(const YAML::Node& n, const char* key, const std::string& label,
                const std::string& what, std::string* out) {
    if (!n[key]) {
      Error(n, absl::StrCat(label, ": missing ", key));
      return false;
    }
    if (!String(n[key], what, out)) return false;
    if (out->empty()) {
      Error(n[key], absl::StrCat(label, ": ", key, " must not be empty"));
      return false;
    }
    return true;
  }

  const std::string& filename() const { return filename_; }

 private:
  std::string filename_;
  std::vector<Problem> problems_;
};

// YAML -> JSON for plugin params: plain scalars typed (bool, null, number),
// quoted ones strings.
nlohmann::json ToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it) obj[it->first.Scalar()] = ToJson(it->second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& item : n) arr.push_back(ToJson(item));
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
      int64_t i;
      if (absl::SimpleAtoi(s, &i)) return i;
      double d;
      if (s.find_first_of("0123456789") != std::string::npos && absl::SimpleAtod(s, &d)) return d;
      return s;
    }
    default:
      return nullptr;
  }
}

void DecodeTls(Decoder& d, const YAML::Node& n, const std::string& what, TlsConfig* tls) {
  if (!d.CheckMap(n, what, {"ca_file", "cert_file", "key_file", "server_name"})) return;
  if (n["ca_file"]) d.String(n["ca_file"], what + ".ca_file", &tls->ca_file);
  if (n["cert_file"]) d.String(n["cert_file"], what + ".cert_file", &tls->cert_file);
  if (n["key_file"]) d.String(n["key_file"], what + ".key_file", &tls->key_file);
  if (n["server_name"]) d.String(n["server_name"], what + ".server_name", &tls->server_name);
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    d.Error(n, absl::StrCat(what, ": cert_file and key_file go together"));
  }
}

void DecodePlugin(Decoder& d, const YAML::Node& n, size_t index, Config* config,
                  std::vector<YAML::Node>* nodes) {
  const std::string what = absl::StrCat("action_plugins[", index, "]");
  if (!d.CheckMap(n, what, {"name", "address", "timeout", "tls"})) return;
  PluginConfig p;
  d.NonEmpty(n, "name", what, what + ".name", &p.name);
  const std::string label = p.name.empty() ? what : absl::StrCat("action plugin \"", p.name, "\"");
  d.NonEmpty(n, "address", label, label + " address", &p.address);
  if (n["timeout"]) d.Timeout(n["timeout"], label, &p.timeout);
  if (n["tls"]) {
    TlsConfig tls;
    DecodeTls(d, n["tls"], label + " tls", &tls);
    p.tls = tls;
  }
  config->action_plugins.push_back(std::move(p));
  nodes->push_back(n);
}

// A rule's action_plugins entry written as a mapping. False when it names no
// plugin.
bool DecodeRulePluginMap(Decoder& d, const YAML::Node& item, const std::string& what,
                         RulePluginRef* ref, YAML::Mark* name_mark) {
  if (!d.CheckMap(item, what, {"name", "timeout", "params"})) return false;
  if (!item["name"]) {
    d.Error(item, what + ": missing name");
    return false;
  }
  *name_mark = item["name"].Mark();
  if (!d.String(item["name"], what + ".name", &ref->name)) return false;
  if (item["timeout"]) d.Timeout(item["timeout"], what, &ref->timeout);
  if (item["params"]) {
    if (!item["params"].IsMap()) {
      d.Error(item["params"], what + " params: must be a mapping");
    } else {
      ref->params = ToJson(item["params"]);
    }
  }
  return true;
}

void DecodeRulePlugins(Decoder& d, const YAML::Node& n, const std::string& rule_label,
                       const Config& config, RuleConfig* rule) {
  if (!n.IsSequence() || n.size() == 0) {
    d.Error(n, rule_label + " action_plugins: must be a non-empty list");
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    const YAML::Node item = n[i];
    const std::string what = absl::StrCat(rule_label, " action_plugins[", i, "]");
    RulePluginRef ref;
    // A mark, not a Node: yaml-cpp's Node::operator= writes through to the
    // node it refers to.
    YAML::Mark name_mark = item.Mark();
    if (item.IsScalar()) {
      ref.name = item.Scalar();
    } else if (!item.IsMap()) {
      d.Error(item, what + ": must be a plugin name or a mapping with name, timeout, params");
      continue;
    } else if (!DecodeRulePluginMap(d, item, what, &ref, &name_mark)) {
      continue;
    }
    if (config.FindPlugin(ref.name) == nullptr) {
      d.ErrorAtMark(name_mark, absl::StrCat(what, ": unknown plugin \"", ref.name, "\""));
    }
    rule->action_plugins.push_back(std::move(ref));
  }
}

void DecodeRuleName(Decoder& d, const YAML::Node& n, const std::string& what,
                    absl::flat_hash_set<std::string>* names, RuleConfig* rule) {
  if (!d.NonEmpty(n, "name", what, what + ".name", &rule->name)) return;
  if (!names->insert(rule->name).second) {
    d.Error(n["name"], absl::StrCat(what, ": duplicate rule name \"", rule->name, "\""));
  }
}

void DecodeEventTypes(Decoder& d, const YAML::Node& n, const std::string& label, RuleConfig* rule) {
  if (n["event_type"]) {
    std::string t;
    if (d.String(n["event_type"], label + " event_type", &t)) rule->event_types.push_back(t);
  }
  if (n["event_types"]) d.StringList(n["event_types"], label + " event_types", &rule->event_types);
  if (!n["event_type"] && !n["event_types"]) {
    d.Error(n, label + ": missing event_type (or event_types)");
  }
  for (size_t i = 0; i < rule->event_types.size(); ++i) {
    if (rule->event_types[i].empty()) d.Error(n, label + ": an event type must not be empty");
  }
}

// `match:` is a list of {label: value} mappings, each an equality matcher.
void DecodeMatch(Decoder& d, const YAML::Node& match, const std::string& label, RuleConfig* rule) {
  if (!match.IsSequence()) {
    d.Error(match, label + " match: must be a list of label: value mappings");
    return;
  }
  for (size_t i = 0; i < match.size(); ++i) {
    const YAML::Node entry = match[i];
    if (!entry.IsMap()) {
      d.Error(entry, absl::StrCat(label, " match[", i, "]: must be a label: value mapping"));
      continue;
    }
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      const std::string key = it->first.Scalar();
      std::string value;
      if (!d.String(it->second, absl::StrCat(label, " match[", i, "].", key), &value)) continue;
      auto m = LabelMatcher::Make(key, LabelMatcher::Op::kEqual, value);
      if (!m.ok()) {
        d.Error(it->first, absl::StrCat(label, " match[", i, "]: ", m.status().message()));
      } else {
        rule->matchers.push_back(*std::move(m));
      }
    }
  }
}

// `matchers:` is a list of Prometheus-style matcher strings.
void DecodeMatchers(Decoder& d, const YAML::Node& matchers, const std::string& label,
                    RuleConfig* rule) {
  std::vector<std::string> texts;
  if (!d.StringList(matchers, label + " matchers", &texts)) return;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto m = LabelMatcher::Parse(texts[i]);
    if (!m.ok()) {
      d.Error(matchers[i], absl::StrCat(label, " matchers[", i, "]: ", m.status().message()));
    } else {
      rule->matchers.push_back(*std::move(m));
    }
  }
}

void DecodeGroupBy(Decoder& d, const YAML::Node& group_by, const std::string& label,
                   RuleConfig* rule) {
  if (!d.StringList(group_by, label + " group_by", &rule->group_by)) return;
  for (size_t i = 0; i < rule->group_by.size(); ++i) {
    if (!IsValidLabelName(rule->group_by[i])) {
      d.Error(group_by[i], absl::StrCat(label, " group_by[", i, "]: invalid label name \"",
                                        rule->group_by[i], "\""));
    }
  }
}

// cooldown, retries, timeout, concurrency, on_failure, alert_status.
void DecodeRuleLimits(Decoder& d, const YAML::Node& n, const std::string& label, RuleConfig* rule) {
  if (n["cooldown"] && d.Duration(n["cooldown"], label + " cooldown", &rule->cooldown) &&
      rule->cooldown < absl::ZeroDuration()) {
    d.Error(n["cooldown"], label + ": cooldown must not be negative");
  }
  int64_t v;
  if (n["retries"] && d.Int(n["retries"], label + " retries", 0, 100, &v)) {
    rule->retries = static_cast<int>(v);
  }
  if (n["timeout"]) d.Timeout(n["timeout"], label, &rule->timeout);
  if (n["concurrency"] && d.Int(n["concurrency"], label + " concurrency", 0, 100000, &v)) {
    rule->concurrency = static_cast<int>(v);
  }
  if (n["on_failure"]) {
    d.OneOf(n["on_failure"], label + " on_failure",
            {{"stop", OnFailure::kStop}, {"continue", OnFailure::kContinue}}, &rule->on_failure);
  }
  if (n["alert_status"]) {
    d.OneOf(n["alert_status"], label + " alert_status",
            {{"firing", StatusFilter::kFiring},
             {"resolved", StatusFilter::kResolved},
             {"any", StatusFilter::kAny}},
            &rule->alert_status);
  }
}

void DecodeRule(Decoder& d, const YAML::Node& n, size_t index, Config* config,
                absl::flat_hash_set<std::string>* names) {
  const std::string what = absl::StrCat("rules[", index, "]");
  if (!d.CheckMap(n, what,
                  {"name", "description", "event_type", "event_types", "match", "matchers",
                   "group_by", "cooldown", "retries", "timeout", "concurrency", "on_failure",
                   "alert_status", "action_plugins"})) {
    return;
  }
  RuleConfig rule;
  DecodeRuleName(d, n, what, names, &rule);
  const std::string label = rule.name.empty() ? what : absl::StrCat("rule \"", rule.name, "\"");
  if (n["description"]) d.String(n["description"], label + " description", &rule.description);
  DecodeEventTypes(d, n, label, &rule);
  if (n["match"]) DecodeMatch(d, n["match"], label, &rule);
  if (n["matchers"]) DecodeMatchers(d, n["matchers"], label, &rule);
  if (n["group_by"]) DecodeGroupBy(d, n["group_by"], label, &rule);
  DecodeRuleLimits(d, n, label, &rule);
  if (!n["action_plugins"]) {
    d.Error(n, label + ": missing action_plugins");
  } else {
    DecodeRulePlugins(d, n["action_plugins"], label, *config, &rule);
  }
  config->rules.push_back(std::move(rule));
}

// --- Security sections: tls, auth (docs/security.md) ---

void RequiredFile(Decoder& d, const YAML::Node& parent, const char* key, const std::string& what,
                  std::string* out) {
  if (!parent[key]) {
    d.Error(parent, absl::StrCat(what, ": missing ", key));
  } else if (d.String(parent[key], absl::StrCat(what, ".", key), out) && out->empty()) {
    d.Error(parent[key], absl::StrCat(what, ".", key, ": must not be empty"));
  }
}

void DecodeListenerTls(Decoder& d, const YAML::Node& n, Config* config) {
  if (!d.CheckMap(n, "tls", {"cert_file", "key_file", "client_ca_file"})) return;
  ListenerTlsConfig tls;
  RequiredFile(d, n, "cert_file", "tls", &tls.cert_file);
  RequiredFile(d, n, "key_file", "tls", &tls.key_file);
  if (n["client_ca_file"]) {
    RequiredFile(d, n, "client_ca_file", "tls", &tls.client_ca_file);
  }
  config->tls = tls;
}

void DecodeJwt(Decoder& d, const YAML::Node& jwt, JwtConfig* out) {
  if (!d.CheckMap(jwt, "auth.jwt",
                  {"hs256_secret_file", "key_encoding", "require_cluster_match", "issuer",
                   "audience", "leeway"})) {
    return;
  }
  RequiredFile(d, jwt, "hs256_secret_file", "auth.jwt", &out->hs256_secret_file);
  if (jwt["key_encoding"]) {
    d.OneOf(jwt["key_encoding"], "auth.jwt.key_encoding",
            {{"raw", JwtKeyEncoding::kRaw}, {"base32", JwtKeyEncoding::kBase32}},
            &out->key_encoding);
  }
  if (jwt["require_cluster_match"]) {
    d.OneOf(jwt["require_cluster_match"], "auth.jwt.require_cluster_match",
            {{"true", true}, {"false", false}}, &out->require_cluster_match);
  }
  if (jwt["issuer"]) d.String(jwt["issuer"], "auth.jwt.issuer", &out->issuer);
  if (jwt["audience"]) d.String(jwt["audience"], "auth.jwt.audience", &out->audience);
  if (jwt["leeway"] && d.Duration(jwt["leeway"], "auth.jwt.leeway", &out->leeway) &&
      (out->leeway < absl::ZeroDuration() || out->leeway > absl::Hours(1))) {
    d.Error(jwt["leeway"], "auth.jwt.leeway: must be from 0s to 1h");
  }
}

void DecodeProtect(Decoder& d, const YAML::Node& protect, std::vector<EndpointClass>* out) {
  std::vector<std::string> names;
  if (!d.StringList(protect, "auth.protect", &names)) return;
  out->clear();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "intake") {
      out->push_back(EndpointClass::kIntake);
    } else if (names[i] == "api") {
      out->push_back(EndpointClass::kApi);
    } else if (names[i] == "metrics") {
      out->push_back(EndpointClass::kMetrics);
    } else {
      d.Error(protect[i], absl::StrCat("auth.protect[", i, "]: unknown endpoint class \"", names[i],
                                       "\" (known: intake, api, metrics)"));
    }
  }
  if (names.empty())
    d.Error(protect, "auth.protect: must name at least one of intake, api, metrics");
}

void DecodeAuth(Decoder& d, const YAML::Node& n, Config* config) {
  if (!d.CheckMap(n, "auth", {"bearer_tokens_file", "jwt", "protect"})) return;
  AuthConfig auth;
  if (n["bearer_tokens_file"]) {
    RequiredFile(d, n, "bearer_tokens_file", "auth", &auth.bearer_tokens_file);
  }
  if (n["jwt"]) {
    auth.jwt_enabled = true;
    DecodeJwt(d, n["jwt"], &auth.jwt);
  }
  if (!n["bearer_tokens_file"] && !n["jwt"]) {
    d.Error(n, "auth: configure bearer_tokens_file or jwt (or both)");
  }
  if (n["protect"]) DecodeProtect(d, n["protect"], &auth.protect);
  config->auth = auth;
}

// --- The top level ---

void DecodeListen(Decoder& d, const YAML::Node& listen, Config* config) {
  if (!d.String(listen, "listen", &config->listen)) return;
  auto hp = http::ParseHostPort(config->listen);
  if (!hp.ok()) d.Error(listen, absl::StrCat("listen: ", hp.status().message()));
}

void DecodeLog(Decoder& d, const YAML::Node& log, Config* config) {
  if (!d.CheckMap(log, "log", {"level", "format"})) return;
  if (log["level"]) d.String(log["level"], "log.level", &config->log.level);
  if (log["format"]) d.String(log["format"], "log.format", &config->log.format);
  if (absl::Status s = ValidateLogOptions(config->log); !s.ok()) {
    d.Error(log, absl::StrCat("log: ", s.message()));
  }
}

void DecodeIntake(Decoder& d, const YAML::Node& intake, IntakeConfig* out) {
  if (!d.CheckMap(intake, "intake",
                  {"max_body_bytes", "dedup_window", "max_dedup_entries", "default_source",
                   "queue_capacity", "http_threads", "max_labels", "max_label_name_bytes",
                   "max_label_value_bytes", "max_attribute_bytes"})) {
    return;
  }
  int64_t v;
  if (intake["max_body_bytes"] &&
      d.Int(intake["max_body_bytes"], "intake.max_body_bytes", 1024, int64_t{1} << 30, &v)) {
    out->max_body_bytes = static_cast<size_t>(v);
  }
  if (intake["dedup_window"]) {
    d.Duration(intake["dedup_window"], "intake.dedup_window", &out->dedup_window);
  }
  if (intake["max_dedup_entries"] &&
      d.Int(intake["max_dedup_entries"], "intake.max_dedup_entries", 1000, 100000000, &v)) {
    out->max_dedup_entries = static_cast<size_t>(v);
  }
  if (intake["default_source"]) {
    d.String(intake["default_source"], "intake.default_source", &out->default_source);
  }
  if (intake["queue_capacity"] &&
      d.Int(intake["queue_capacity"], "intake.queue_capacity", 1, 100000000, &v)) {
    out->queue_capacity = static_cast<size_t>(v);
  }
  if (intake["http_threads"] && d.Int(intake["http_threads"], "intake.http_threads", 1, 1024, &v)) {
    out->http_threads = static_cast<int>(v);
  }
  const std::pair<const char*, size_t*> limits[] = {
      {"max_labels", &out->limits.max_labels},
      {"max_label_name_bytes", &out->limits.max_label_name_bytes},
      {"max_label_value_bytes", &out->limits.max_label_value_bytes},
      {"max_attribute_bytes", &out->limits.max_attribute_bytes},
  };
  for (const auto& [key, field] : limits) {
    if (intake[key] && d.Int(intake[key], absl::StrCat("intake.", key), 1, 1 << 24, &v)) {
      *field = static_cast<size_t>(v);
    }
  }
}

// A queue URL as SQS gives it: http(s)://HOST[:PORT]/ACCOUNT/QUEUE (the
// account 12 digits; the name up to 80 letters, digits, '-' and '_', with
// ".fifo" for FIFO queues).
absl::Status CheckQueueUrl(const std::string& url) {
  auto u = http::ParseUrl(url);
  if (!u.ok()) return u.status();
  const std::vector<std::string> parts = absl::StrSplit(u->path, '/');
  // "/123456789012/name" splits into "", account, name.
  if (parts.size() != 3 || !parts[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", url, "\" is not a queue URL (want https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"));
  }
  const std::string& account = parts[1];
  if (account.size() != 12 || !std::all_of(account.begin(), account.end(), absl::ascii_isdigit)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", url, "\": the account \"", account, "\" is not 12 digits"));
  }
  absl::string_view name = parts[2];
  absl::ConsumeSuffix(&name, ".fifo");
  if (name.empty() || parts[2].size() > 80 ||
      !std::all_of(name.begin(), name.end(),
                   [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; })) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", url, "\": the queue name \"", parts[2],
        "\" must be 1 to 80 letters, digits, '-' or '_' (FIFO queues end in .fifo)"));
  }
  return absl::OkStatus();
}

void DecodeSqsSource(Decoder& d, const YAML::Node& n, size_t i, SourcesConfig* out,
                     absl::flat_hash_set<std::string>* names) {
  const std::string what = absl::StrCat("sources.sqs[", i, "]");
  if (!d.CheckMap(n, what, {"name", "queue_url", "region"})) return;
  SqsSourceConfig s;
  if (!n["name"]) {
    d.Error(n, absl::StrCat(what, ": name is required"));
  } else if (d.String(n["name"], what + ".name", &s.name)) {
    if (s.name.empty() || s.name.size() > 64 ||
        !std::all_of(s.name.begin(), s.name.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
        })) {
      d.Error(n["name"], absl::StrCat(what, ".name: \"", s.name,
                                      "\" must be 1 to 64 letters, digits, '-', '_' or '.'"));
    } else if (!names->insert(s.name).second) {
      d.Error(n["name"], absl::StrCat(what, ": duplicate source name \"", s.name, "\""));
    }
  }
  if (!n["queue_url"]) {
    d.Error(n, absl::StrCat(what, ": queue_url is required"));
  } else if (d.String(n["queue_url"], what + ".queue_url", &s.queue_url)) {
    if (absl::Status st = CheckQueueUrl(s.queue_url); !st.ok()) {
      d.Error(n["queue_url"], absl::StrCat(what, ".queue_url: ", st.message()));
    }
  }
  if (n["region"] && d.String(n["region"], what + ".region", &s.region)) {
    if (s.region.empty() ||
        !std::all_of(s.region.begin(), s.region.end(),
                     [](char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-'; })) {
      d.Error(n["region"], absl::StrCat(what, ".region: \"", s.region,
                                        "\" is not a region name (like us-east-1)"));
    }
  }
  out->sqs.push_back(std::move(s));
}

void DecodeSources(Decoder& d, const YAML::Node& n, SourcesConfig* out) {
  if (!d.CheckMap(n, "sources", {"sqs"})) return;
  if (!n["sqs"]) return;
  if (!n["sqs"].IsSequence()) {
    d.Error(n["sqs"], "sources.sqs: must be a list");
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < n["sqs"].size(); ++i) DecodeSqsSource(d, n["sqs"][i], i, out, &names);
}

// A DNS-1123 label: what a namespace may be called.
bool IsDnsLabel(absl::string_view s) {
  return !s.empty() && s.size() <= 63 && absl::ascii_isalnum(s.front()) &&
         absl::ascii_isalnum(s.back()) && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
         });
}

void DecodeHa(Decoder& d, const YAML::Node& n, Config* config) {
  if (!d.CheckMap(n, "ha",
                  {"namespace", "lease_name", "identity", "lease_duration", "renew_deadline",
                   "retry_period", "kubeconfig"})) {
    return;
  }
  HaConfig& ha = config->ha.emplace();
  if (n["namespace"] && d.String(n["namespace"], "ha.namespace", &ha.ns) && !IsDnsLabel(ha.ns)) {
    d.Error(n["namespace"], absl::StrCat("ha.namespace: \"", ha.ns,
                                         "\" is not a namespace name (lowercase letters, digits "
                                         "and '-', at most 63)"));
  }
  // The ConfigMaps are named after the lease: <lease_name>-state and
  // <lease_name>-inbox-<identity>, so it stays short enough for both.
  if (n["lease_name"] && d.String(n["lease_name"], "ha.lease_name", &ha.lease_name) &&
      !IsDnsLabel(ha.lease_name)) {
    d.Error(n["lease_name"], absl::StrCat("ha.lease_name: \"", ha.lease_name,
                                          "\" must be lowercase letters, digits and '-', at most "
                                          "63"));
  }
  if (n["identity"] && d.String(n["identity"], "ha.identity", &ha.identity) &&
      (ha.identity.size() > 128 ||
       !std::all_of(ha.identity.begin(), ha.identity.end(),
                    [](char c) { return absl::ascii_isgraph(c); }))) {
    d.Error(n["identity"], "ha.identity: must be at most 128 printable characters, no spaces");
  }
  if (n["kubeconfig"]) d.String(n["kubeconfig"], "ha.kubeconfig", &ha.kubeconfig);
  bool timings = true;
  if (n["lease_duration"]) {
    timings &= d.Duration(n["lease_duration"], "ha.lease_duration", &ha.lease_duration);
  }
  if (n["renew_deadline"]) {
    timings &= d.Duration(n["renew_deadline"], "ha.renew_deadline", &ha.renew_deadline);
  }
  if (n["retry_period"]) {
    timings &= d.Duration(n["retry_period"], "ha.retry_period", &ha.retry_period);
  }
  if (!timings) return;
  // client-go's rules: lease_duration > renew_deadline > 1.2 x retry_period.
  kube::LeaderElectionConfig election{.identity = "check",
                                      .lease_duration = ha.lease_duration,
                                      .renew_deadline = ha.renew_deadline,
                                      .retry_period = ha.retry_period};
  if (absl::Status s = kube::ValidateLeaderElectionConfig(election); !s.ok()) {
    d.Error(n, absl::StrCat("ha: ", s.message()));
  }
}

// The action_plugins list, then its duplicate names.
void DecodePlugins(Decoder& d, const YAML::Node& plugins, Config* config) {
  std::vector<YAML::Node> nodes;
  if (!plugins.IsSequence()) {
    d.Error(plugins, "action_plugins: must be a list");
  } else {
    for (size_t i = 0; i < plugins.size(); ++i) DecodePlugin(d, plugins[i], i, config, &nodes);
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < config->action_plugins.size(); ++i) {
    const std::string& name = config->action_plugins[i].name;
    if (!name.empty() && !names.insert(name).second) {
      d.Error(nodes[i]["name"],
              absl::StrCat("action_plugins[", i, "]: duplicate plugin name \"", name, "\""));
    }
  }
}

void DecodeRules(Decoder& d, const YAML::Node& rules, Config* config) {
  if (!rules.IsSequence()) {
    d.Error(rules, "rules: must be a list");
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (size_t i = 0; i < rules.size(); ++i) DecodeRule(d, rules[i], i, config, &names);
}

// The typed decode of the whole file; problems go to `d`. Sections that
// refer to others (rules to plugins) come after them.
void DecodeRoot(Decoder& d, const YAML::Node& root, Config* config) {
  if (!root.IsDefined() || root.IsNull()) {
    d.ErrorAt(1, 1, "the configuration is empty");
    return;
  }
  if (!d.CheckMap(
          root, "configuration",
          {"listen", "data_dir", "log", "intake", "sources", "ha", "action_plugins", "rules",
           "tls", "auth"})) {
    return;
  }
  if (root["listen"]) DecodeListen(d, root["listen"], config);
  if (root["data_dir"]) d.String(root["data_dir"], "data_dir", &config->data_dir);
  if (root["log"]) DecodeLog(d, root["log"], config);
  if (root["intake"]) DecodeIntake(d, root["intake"], &config->intake);
  if (root["sources"]) DecodeSources(d, root["sources"], &config->sources);
  if (root["ha"]) DecodeHa(d, root["ha"], config);
  if (root["tls"]) DecodeListenerTls(d, root["tls"], config);
  if (root["auth"]) DecodeAuth(d, root["auth"], config);
  if (root["action_plugins"]) DecodePlugins(d, root["action_plugins"], config);
  if (root["rules"]) DecodeRules(d, root["rules"], config);
}

}  // namespace

const PluginConfig* Config::FindPlugin(absl::string_view name) const {
  for (const auto& p : action_plugins) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// The line and column (1-based) of the first byte that is not valid UTF-8,
// or {0, 0}. YAML is Unicode; yaml-cpp does not check (found by fuzzing:
// such a name later broke the JSON views of the rules).
static std::pair<int, int> FirstInvalidUtf8(absl::string_view text) {
  if (simdjson::validate_utf8(text.data(), text.size())) return {0, 0};
  int line = 1, col = 1;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > text.size() ||
        !simdjson::validate_utf8(text.data() + i, len)) {
      return {line, col};
    }
    if (c == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
    i += len;
  }
  return {line, col};
}

// The YAML syntax stage: UTF-8, then yaml-cpp's parse. InvalidArgument with
// the position of the first problem.
static absl::StatusOr<YAML::Node> LoadYaml(Decoder& d, absl::string_view text) {
  if (auto [line, col] = FirstInvalidUtf8(text); line > 0) {
    d.ErrorAt(line, col, "not valid UTF-8 (YAML files are Unicode text)");
    return absl::InvalidArgumentError(d.Report());
  }
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    d.ErrorAt(e.mark.line + 1, e.mark.column + 1, absl::StrCat("YAML syntax error: ", e.msg));
    return absl::InvalidArgumentError(d.Report());
  }
}

absl::StatusOr<Config> ParseConfig(absl::string_view text, const std::string& filename) {
  Decoder d(filename);
  HT_ASSIGN_OR_RETURN(const YAML::Node root, LoadYaml(d, text));
  Config config;
  config.file = filename;
  try {
    DecodeRoot(d, root, &config);
  } catch (const YAML::Exception& e) {
    d.ErrorAt(e.mark.line + 1, e.mark.column + 1, absl::StrCat("YAML error: ", e.msg));
  }
  if (!d.ok()) return absl::InvalidArgumentError(d.Report());
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read the configuration file ", text.status().message()));
  }
  return ParseConfig(*text, path);
}

}  // namespace hollowtrees::engine
