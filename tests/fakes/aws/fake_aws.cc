#include "tests/fakes/aws/fake_aws.h"

#include <httplib.h>

#include <algorithm>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/aws/query_client.h"
#include "lib/aws/sigv4.h"
#include "lib/common/rfc3339.h"
#include "lib/http/server_util.h"
#include "pugixml.hpp"
#include "tests/fakes/aws/fake_sqs.h"
#include "tests/fakes/aws/fake_xml.h"

namespace hollowtrees::testing {
namespace {

constexpr char kAsgNs[] = "http://autoscaling.amazonaws.com/doc/2011-01-01/";
constexpr char kEc2Ns[] = "http://ec2.amazonaws.com/doc/2016-11-15/";
constexpr char kStsNs[] = "https://sts.amazonaws.com/doc/2011-06-15/";
constexpr char kAccount[] = "123456789012";

// An error answer: AWS code, HTTP status, message.
struct Fault {
  std::string code;
  int status = 400;
  std::string message;
};

struct IssuedCredentials {
  std::string secret;
  std::string token;
  absl::Time expiration;
  std::string role_arn;
  bool expired = false;
};

struct InjectedFault {
  std::string code;
  int status;
  int remaining;
  std::string message;
  int skip = 0;
};

using fake_xml::Add;
using fake_xml::ToString;

int Ec2StateCode(const std::string& state) {
  if (state == "pending") return 0;
  if (state == "running") return 16;
  if (state == "shutting-down") return 32;
  if (state == "terminated") return 48;
  if (state == "stopping") return 64;
  if (state == "stopped") return 80;
  return 16;
}

bool ValidInstanceId(absl::string_view id) {
  if (!absl::StartsWith(id, "i-")) return false;
  absl::string_view hex = id.substr(2);
  if (hex.size() != 8 && hex.size() != 17) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

// EC2 filter values: '*' matches any run of characters, '?' one.
bool GlobMatch(absl::string_view pattern, absl::string_view text) {
  size_t p = 0, t = 0, star = std::string::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// Members of "Prefix.member.N" (Auto Scaling) or "Prefix.N" (EC2), in order.
std::vector<std::string> ListParam(const std::map<std::string, std::string>& p,
                                   const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 1; i < 1000; ++i) {
    auto it = p.find(absl::StrCat(prefix, ".", i));
    if (it == p.end()) break;
    out.push_back(it->second);
  }
  return out;
}

}  // namespace

class FakeAws::Impl {
 public:
  explicit Impl(const FakeAwsOptions& o)
      : options(o),
        clock(o.clock != nullptr ? *o.clock : RealClock()),
        sqs(o.region, clock),
        credentials(o.credentials) {}

  void Handle(const httplib::Request& req, httplib::Response& res);

  FakeAwsOptions options;
  Clock& clock;
  FakeSqs sqs;  // its own lock; taken after mu, never before
  absl::Mutex mu;
  std::map<std::string, std::string> credentials ABSL_GUARDED_BY(mu);
  std::map<std::string, IssuedCredentials> issued ABSL_GUARDED_BY(mu);
  std::map<std::string, FakeGroup> groups ABSL_GUARDED_BY(mu);
  std::map<std::string, FakeInstance> instances ABSL_GUARDED_BY(mu);
  std::vector<std::string> order ABSL_GUARDED_BY(mu);  // instance ids, launch order
  std::vector<std::string> launched ABSL_GUARDED_BY(mu);
  std::map<std::string, InjectedFault> faults ABSL_GUARDED_BY(mu);
  std::vector<FakeCall> calls ABSL_GUARDED_BY(mu);
  // Lifecycle hooks by group, then name; actions by token, in start order.
  std::map<std::string, std::map<std::string, FakeLifecycleHook>> hooks ABSL_GUARDED_BY(mu);
  std::map<std::string, FakeLifecycleAction> actions ABSL_GUARDED_BY(mu);
  std::vector<std::string> action_order ABSL_GUARDED_BY(mu);
  uint64_t next_id ABSL_GUARDED_BY(mu) = 0x5000;
  uint64_t request_counter ABSL_GUARDED_BY(mu) = 0;

  std::string NewRequestId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++request_counter;
    return absl::StrFormat("0f1e2d3c-%04x-4b5a-8c7d-%012x", request_counter & 0xffff,
                           request_counter);
  }
  std::string NewInstanceId() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return absl::StrFormat("i-%017x", next_id++);
  }
  std::string Random(const char* alphabet, int n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::string out;
    const size_t len = strlen(alphabet);
    for (int i = 0; i < n; ++i) out.push_back(alphabet[absl::Uniform<size_t>(rng, 0, len)]);
    return out;
  }
  absl::BitGen rng ABSL_GUARDED_BY(mu);

  std::vector<std::string> Members(const std::string& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::string> out;
    for (const std::string& id : order) {
      const FakeInstance& i = instances[id];
      if (i.group == group) out.push_back(id);
    }
    return out;
  }
  // Members that count toward the desired capacity.
  std::vector<std::string> Counted(const std::string& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::string> out;
    for (const std::string& id : Members(group)) {
      const std::string& s = instances[id].lifecycle_state;
      if (s == "InService" || s == "Pending" || absl::StartsWith(s, "Pending:")) out.push_back(id);
    }
    return out;
  }
  std::string Launch(const FakeGroup& g, const std::string& type, const std::string& az)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    FakeInstance i;
    i.id = NewInstanceId();
    i.group = g.name;
    i.type = type.empty() ? (g.mixed_instance_types.empty() ? "m5.large" : g.mixed_instance_types[0])
                          : type;
    i.az = az.empty() ? (g.azs.empty() ? options.region + "a" : g.azs[0]) : az;
    i.lifecycle_state = "Pending";
    i.state = "pending";
    i.tags["aws:autoscaling:groupName"] = g.name;
    instances[i.id] = i;
    order.push_back(i.id);
    launched.push_back(i.id);
    return i.id;
  }
  // Launches or terminates members until the counted ones match desired.
  void Reconcile(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    FakeGroup& g = groups[name];
    std::vector<std::string> counted = Counted(name);
    for (int n = static_cast<int>(counted.size()); n < g.desired; ++n) Launch(g, "", "");
    for (int n = static_cast<int>(counted.size()); n > g.desired; --n) {
      // Newest unprotected instance first.
      for (auto it = counted.rbegin(); it != counted.rend(); ++it) {
        FakeInstance& i = instances[*it];
        if (i.protected_from_scale_in || i.lifecycle_state == "Terminating") continue;
        i.lifecycle_state = "Terminating";
        i.state = "shutting-down";
        i.group.clear();
        break;
      }
    }
  }

  // Requests.
  struct Ctx {
    std::string service;
    std::string action;
    std::map<std::string, std::string> params;
    std::string request_id;
    std::string access_key_id;
  };
  absl::StatusOr<Ctx> Authenticate(const httplib::Request& req, Ctx ctx, Fault* fault)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool Dispatch(Ctx& ctx, std::string* body, Fault* fault) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // Auto Scaling.
  bool DescribeGroups(Ctx& c, pugi::xml_node result, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool DescribeAsgInstances(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool DetachInstances(Ctx& c, pugi::xml_node result, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool UpdateGroup(Ctx& c, pugi::xml_node result, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool SetDesiredCapacity(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Lifecycle hooks (fake_aws.cc, "Lifecycle hooks").
  bool PutLifecycleHookAction(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool DescribeLifecycleHooks(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool CompleteLifecycleAction(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool RecordLifecycleActionHeartbeat(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The active action a Complete/Heartbeat names (by token or instance id).
  FakeLifecycleAction* FindAction(Ctx& c, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  absl::StatusOr<std::string> StartAction(const std::string& instance_id,
                                          LifecycleTransition transition,
                                          const std::string& hook_name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Ends an action with a result: the instance moves on.
  void EndAction(FakeLifecycleAction& a, const std::string& result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Ends every action past its deadline with its hook's DefaultResult.
  void ExpireActions() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // What Auto Scaling sends to an SQS notification target.
  void Notify(const FakeLifecycleHook& h, const nlohmann::json& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // EC2.
  bool DescribeInstances(Ctx& c, pugi::xml_node root, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool TerminateInstances(Ctx& c, pugi::xml_node root, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  bool CheckEc2Ids(const std::vector<std::string>& ids, Fault* f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // STS.
  bool AssumeRoleWithWebIdentity(Ctx& c, pugi::xml_node result, Fault* f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  void WriteGroup(pugi::xml_node m, const FakeGroup& g) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  nlohmann::json StateJson() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
};

// ---------------------------------------------------------------------------
// Authentication: SigV4 as AWS checks it.

absl::StatusOr<FakeAws::Impl::Ctx> FakeAws::Impl::Authenticate(const httplib::Request& req, Ctx ctx,
                                                              Fault* fault) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.empty()) {
    if (ctx.action == "AssumeRoleWithWebIdentity" || ctx.action == "AssumeRoleWithSAML") {
      ctx.service = "sts";  // the only unsigned calls AWS takes
      return ctx;
    }
    *fault = {"MissingAuthenticationToken", 403, "Request is missing Authentication Token"};
    return absl::UnauthenticatedError("unsigned");
  }
  auto parsed = aws::ParseAuthorization(auth);
  if (!parsed.ok()) {
    *fault = {"IncompleteSignature", 400, std::string(parsed.status().message())};
    return absl::UnauthenticatedError("bad authorization");
  }
  ctx.service = parsed->service;
  ctx.access_key_id = parsed->access_key_id;
  if (ctx.service != "autoscaling" && ctx.service != "ec2" && ctx.service != "sts" &&
      ctx.service != "sqs") {
    *fault = {"InvalidAction", 400,
              absl::StrCat("This fake serves autoscaling, ec2, sts and sqs, not \"", ctx.service,
                           "\"")};
    return absl::UnauthenticatedError("service");
  }
  const bool ec2 = ctx.service == "ec2";
  if (parsed->region != options.region) {
    *fault = {"SignatureDoesNotMatch", 403,
              absl::StrCat("Credential should be scoped to a valid region, not '", parsed->region,
                           "'. ")};
    return absl::UnauthenticatedError("region");
  }
  const std::vector<std::string>& signed_headers = parsed->signed_headers;
  auto has = [&](const char* h) {
    return std::find(signed_headers.begin(), signed_headers.end(), h) != signed_headers.end();
  };
  if (!has("host")) {
    *fault = {"SignatureDoesNotMatch", 403, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."};
    return absl::UnauthenticatedError("host");
  }
  std::string date_text = req.get_header_value("X-Amz-Date");
  if (date_text.empty() || !has("x-amz-date")) {
    *fault = {"IncompleteSignature", 400,
              "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."};
    return absl::UnauthenticatedError("date");
  }
  auto date = aws::ParseAmzDate(date_text);
  if (!date.ok() || aws::FormatAmzShortDate(*date) != parsed->date) {
    *fault = {"SignatureDoesNotMatch", 403,
              absl::StrCat("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '",
                           parsed->date, "' != '", date_text.substr(0, 8), "'")};
    return absl::UnauthenticatedError("date");
  }
  const absl::Time now = absl::Now();
  if (absl::AbsDuration(now - *date) > options.max_clock_skew) {
    *fault = {ec2 ? "RequestExpired" : "SignatureDoesNotMatch", ec2 ? 400 : 403,
              absl::StrCat("Signature expired: ", date_text, " is now earlier than ",
                           aws::FormatAmzDate(now - options.max_clock_skew))};
    return absl::UnauthenticatedError("skew");
  }
  std::string secret;
  auto lt = credentials.find(parsed->access_key_id);
  if (lt != credentials.end()) {
    secret = lt->second;
  } else {
    auto tmp = issued.find(parsed->access_key_id);
    if (tmp == issued.end() ||
        req.get_header_value("X-Amz-Security-Token") != tmp->second.token) {
      *fault = ec2 ? Fault{"AuthFailure", 401, "AWS was not able to validate the provided access credentials"}
                   : Fault{"InvalidClientTokenId", 403,
                           "The security token included in the request is invalid."};
      return absl::UnauthenticatedError("key");
    }
    if (tmp->second.expired || now >= tmp->second.expiration) {
      *fault = {"ExpiredToken", 400, "The security token included in the request is expired"};
      return absl::UnauthenticatedError("expired");
    }
    if (!has("x-amz-security-token")) {
      *fault = {"SignatureDoesNotMatch", 403, "x-amz-security-token must be signed"};
      return absl::UnauthenticatedError("token");
    }
    secret = tmp->second.secret;
  }
  aws::SignableRequest sr;
  sr.method = req.method;
  const size_t q = req.target.find('?');
  sr.path = req.target.substr(0, q);
  sr.query = q == std::string::npos ? "" : req.target.substr(q + 1);
  for (const auto& [k, v] : req.headers) sr.headers.emplace_back(k, v);
  sr.body = req.body;
  const std::string want = aws::ComputeSignature(
      sr, signed_headers, secret,
      {.region = parsed->region, .service = parsed->service, .time = *date});
  if (want != parsed->signature) {
    *fault = {ec2 ? "AuthFailure" : "SignatureDoesNotMatch", ec2 ? 401 : 403,
              "The request signature we calculated does not match the signature you provided. "
              "Check your AWS Secret Access Key and signing method. Consult the service "
              "documentation for details."};
    return absl::UnauthenticatedError("signature");
  }
  return ctx;
}

// ---------------------------------------------------------------------------
// Auto Scaling.

void FakeAws::Impl::WriteGroup(pugi::xml_node m, const FakeGroup& g) {
  Add(m, "AutoScalingGroupName", g.name);
  Add(m, "AutoScalingGroupARN",
      absl::StrCat("arn:aws:autoscaling:", options.region, ":", kAccount,
                   ":autoScalingGroup:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0:autoScalingGroupName/",
                   g.name));
  if (g.mixed_instance_types.empty()) {
    pugi::xml_node lt = m.append_child("LaunchTemplate");
    Add(lt, "LaunchTemplateId", g.launch_template);
    Add(lt, "LaunchTemplateName", g.name + "-template");
    Add(lt, "Version", "$Default");
  } else {
    pugi::xml_node mip = m.append_child("MixedInstancesPolicy");
    pugi::xml_node lt = mip.append_child("LaunchTemplate");
    pugi::xml_node spec = lt.append_child("LaunchTemplateSpecification");
    Add(spec, "LaunchTemplateId", g.launch_template);
    Add(spec, "LaunchTemplateName", g.name + "-template");
    Add(spec, "Version", "$Default");
    pugi::xml_node overrides = lt.append_child("Overrides");
    for (const std::string& t : g.mixed_instance_types) {
      Add(overrides.append_child("member"), "InstanceType", t);
    }
    pugi::xml_node dist = mip.append_child("InstancesDistribution");
    Add(dist, "OnDemandAllocationStrategy", "prioritized");
    Add(dist, "OnDemandBaseCapacity", "0");
    Add(dist, "OnDemandPercentageAboveBaseCapacity", "0");
    Add(dist, "SpotAllocationStrategy", "price-capacity-optimized");
  }
  Add(m, "MinSize", absl::StrCat(g.min_size));
  Add(m, "MaxSize", absl::StrCat(g.max_size));
  Add(m, "DesiredCapacity", absl::StrCat(g.desired));
  Add(m, "DefaultCooldown", "300");
  pugi::xml_node azs = m.append_child("AvailabilityZones");
  for (const std::string& az : g.azs) Add(azs, "member", az);
  m.append_child("LoadBalancerNames");
  m.append_child("TargetGroupARNs");
  Add(m, "HealthCheckType", "EC2");
  Add(m, "HealthCheckGracePeriod", "300");
  pugi::xml_node insts = m.append_child("Instances");
  for (const std::string& id : Members(g.name)) {
    const FakeInstance& i = instances[id];
    pugi::xml_node im = insts.append_child("member");
    Add(im, "InstanceId", i.id);
    Add(im, "InstanceType", i.type);
    Add(im, "AvailabilityZone", i.az);
    Add(im, "LifecycleState", i.lifecycle_state);
    Add(im, "HealthStatus", i.health);
    Add(im, "ProtectedFromScaleIn", i.protected_from_scale_in ? "true" : "false");
  }
  Add(m, "CreatedTime", "2026-01-01T00:00:00.000Z");
  m.append_child("SuspendedProcesses");
  Add(m, "VPCZoneIdentifier", "subnet-0a1b2c3d4e5f60718");
  m.append_child("EnabledMetrics");
  pugi::xml_node tags = m.append_child("Tags");
  (void)tags;
  pugi::xml_node tp = m.append_child("TerminationPolicies");
  Add(tp, "member", "Default");
  Add(m, "NewInstancesProtectedFromScaleIn", "false");
  Add(m, "ServiceLinkedRoleARN",
      absl::StrCat("arn:aws:iam::", kAccount,
                   ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"));
  Add(m, "CapacityRebalance", "false");
}

bool FakeAws::Impl::DescribeGroups(Ctx& c, pugi::xml_node result, Fault* f) {
  std::vector<std::string> names = ListParam(c.params, "AutoScalingGroupNames.member");
  pugi::xml_node list = result.append_child("AutoScalingGroups");
  for (auto& [name, g] : groups) {
    if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end()) continue;
    WriteGroup(list.append_child("member"), g);
  }
  return true;
}

bool FakeAws::Impl::DescribeAsgInstances(Ctx& c, pugi::xml_node result, Fault* f) {
  std::vector<std::string> ids = ListParam(c.params, "InstanceIds.member");
  pugi::xml_node list = result.append_child("AutoScalingInstances");
  for (const std::string& id : order) {
    const FakeInstance& i = instances[id];
    if (i.group.empty()) continue;
    if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    pugi::xml_node m = list.append_child("member");
    Add(m, "InstanceId", i.id);
    Add(m, "InstanceType", i.type);
    Add(m, "AutoScalingGroupName", i.group);
    Add(m, "AvailabilityZone", i.az);
    Add(m, "LifecycleState", i.lifecycle_state);
    Add(m, "HealthStatus", absl::AsciiStrToUpper(i.health));
    pugi::xml_node lt = m.append_child("LaunchTemplate");
    Add(lt, "LaunchTemplateId", groups[i.group].launch_template);
    Add(lt, "Version", "1");
    Add(m, "ProtectedFromScaleIn", i.protected_from_scale_in ? "true" : "false");
  }
  return true;
}

bool FakeAws::Impl::DetachInstances(Ctx& c, pugi::xml_node result, Fault* f) {
  auto name = c.params.find("AutoScalingGroupName");
  if (name == c.params.end()) {
    *f = {"ValidationError", 400,
          "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy "
          "constraint: Member must not be null"};
    return false;
  }
  auto dec = c.params.find("ShouldDecrementDesiredCapacity");
  if (dec == c.params.end()) {
    *f = {"ValidationError", 400,
          "1 validation error detected: Value null at 'shouldDecrementDesiredCapacity' failed to "
          "satisfy constraint: Member must not be null"};
    return false;
  }
  if (dec->second != "true" && dec->second != "false") {
    *f = {"MalformedInput", 400,
          absl::StrCat("Value '", dec->second, "' for ShouldDecrementDesiredCapacity is not a boolean")};
    return false;
  }
  const bool decrement = dec->second == "true";
  auto git = groups.find(name->second);
  if (git == groups.end()) {
    *f = {"ValidationError", 400,
          absl::StrCat("AutoScalingGroup name not found - AutoScalingGroup ", name->second,
                       " not found")};
    return false;
  }
  FakeGroup& g = git->second;
  std::vector<std::string> ids = ListParam(c.params, "InstanceIds.member");
  if (ids.size() > 20) {
    *f = {"ValidationError", 400, "The number of instances must be between 1 and 20"};
    return false;
  }
  for (const std::string& id : ids) {
    auto it = instances.find(id);
    if (it == instances.end() || it->second.group != g.name) {
      *f = {"ValidationError", 400,
            absl::StrCat("The instance ", id, " is not part of Auto Scaling group ", g.name, ".")};
      return false;
    }
    const std::string& s = it->second.lifecycle_state;
    if (s != "InService" && s != "Standby") {
      *f = {"ValidationError", 400,
            absl::StrCat("The instance ", id, " is not in InService or Standby.")};
      return false;
    }
  }
  int counted_detached = 0;
  for (const std::string& id : ids) {
    if (instances[id].lifecycle_state == "InService") ++counted_detached;
  }
  if (decrement && g.desired - counted_detached < g.min_size) {
    *f = {"ValidationError", 400,
          absl::StrCat("Desired capacity:", g.desired - counted_detached,
                       " must be between the specified min size:", g.min_size,
                       " and max size:", g.max_size)};
    return false;
  }
  pugi::xml_node acts = result.append_child("Activities");
  for (const std::string& id : ids) {
    FakeInstance& i = instances[id];
    const bool counted = i.lifecycle_state == "InService";
    i.group.clear();
    i.lifecycle_state = "Detached";
    if (decrement && counted) --g.desired;
    pugi::xml_node a = acts.append_child("member");
    Add(a, "ActivityId", absl::StrFormat("%08x-1111-2222-3333-%012x", next_id, next_id));
    ++next_id;
    Add(a, "AutoScalingGroupName", g.name);
    Add(a, "Description", absl::StrCat("Detaching EC2 instance: ", id));
    Add(a, "Cause",
        absl::StrCat("At ", FormatRfc3339(absl::Now(), Rfc3339Fraction::kNone), " instance ", id,
                     " was detached in response to a user request",
                     decrement ? ", shrinking the capacity from " : ".",
                     decrement ? absl::StrCat(g.desired + 1, " to ", g.desired, ".") : ""));
    Add(a, "StartTime", FormatRfc3339(absl::Now(), Rfc3339Fraction::kNone));
    Add(a, "StatusCode", "InProgress");
    Add(a, "Progress", "50");
    Add(a, "Details", absl::StrCat("{\"Availability Zone\":\"", i.az, "\"}"));
  }
  // Without the decrement the group launches replacements at once.
  for (int n = static_cast<int>(Counted(g.name).size()); n < g.desired; ++n) {
    const FakeInstance& gone = instances[ids[std::min<size_t>(n, ids.size() - 1)]];
    Launch(g, gone.type, gone.az);
  }
  return true;
}

bool FakeAws::Impl::UpdateGroup(Ctx& c, pugi::xml_node result, Fault* f) {
  auto name = c.params.find("AutoScalingGroupName");
  if (name == c.params.end()) {
    *f = {"ValidationError", 400,
          "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy "
          "constraint: Member must not be null"};
    return false;
  }
  auto git = groups.find(name->second);
  if (git == groups.end()) {
    *f = {"ValidationError", 400, "AutoScalingGroup name not found - null"};
    return false;
  }
  FakeGroup& g = git->second;
  auto get = [&](const char* key, std::optional<int>* out) {
    auto it = c.params.find(key);
    if (it == c.params.end()) return true;
    int v;
    if (!absl::SimpleAtoi(it->second, &v) || v < 0) {
      *f = {"ValidationError", 400,
            absl::StrCat("1 validation error detected: Value '", it->second, "' at '", key,
                         "' failed to satisfy constraint: Member must have value greater than or equal to 0")};
      return false;
    }
    *out = v;
    return true;
  };
  std::optional<int> min, max, desired;
  if (!get("MinSize", &min) || !get("MaxSize", &max) || !get("DesiredCapacity", &desired)) {
    return false;
  }
  const int new_min = min.value_or(g.min_size);
  const int new_max = max.value_or(g.max_size);
  if (new_min > new_max) {
    *f = {"ValidationError", 400,
          absl::StrCat("Max bound, ", new_max, ", must be greater than or equal to min bound, ",
                       new_min)};
    return false;
  }
  int new_desired = g.desired;
  if (desired) {
    if (*desired < new_min || *desired > new_max) {
      *f = {"ValidationError", 400,
            absl::StrCat("Desired capacity:", *desired, " must be between the specified min size:",
                         new_min, " and max size:", new_max)};
      return false;
    }
    new_desired = *desired;
  } else {
    // A new bound the capacity lies outside of moves the capacity with it.
    new_desired = std::clamp(new_desired, new_min, new_max);
  }
  g.min_size = new_min;
  g.max_size = new_max;
  g.desired = new_desired;
  Reconcile(g.name);
  return true;
}

bool FakeAws::Impl::SetDesiredCapacity(Ctx& c, pugi::xml_node result, Fault* f) {
  auto name = c.params.find("AutoScalingGroupName");
  auto d = c.params.find("DesiredCapacity");
  if (name == c.params.end() || d == c.params.end()) {
    *f = {"ValidationError", 400, "AutoScalingGroupName and DesiredCapacity are required"};
    return false;
  }
  auto git = groups.find(name->second);
  int v = 0;
  if (git == groups.end()) {
    *f = {"ValidationError", 400, "AutoScalingGroup name not found - null"};
    return false;
  }
  if (!absl::SimpleAtoi(d->second, &v) || v < git->second.min_size || v > git->second.max_size) {
    *f = {"ValidationError", 400,
          absl::StrCat("New SetDesiredCapacity value ", d->second,
                       " is below min value ", git->second.min_size, " or above max value ",
                       git->second.max_size, " for the AutoScalingGroup.")};
    return false;
  }
  git->second.desired = v;
  Reconcile(git->first);
  return true;
}

// ---------------------------------------------------------------------------
// Lifecycle hooks.

namespace {

constexpr char kLaunching[] = "autoscaling:EC2_INSTANCE_LAUNCHING";
constexpr char kTerminating[] = "autoscaling:EC2_INSTANCE_TERMINATING";

Fault NullParam(const char* member) {
  return {"ValidationError", 400,
          absl::StrCat("1 validation error detected: Value null at '", member,
                       "' failed to satisfy constraint: Member must not be null")};
}

Fault GroupNotFound(const std::string& name) {
  return {"ValidationError", 400,
          absl::StrCat("AutoScalingGroup name not found - AutoScalingGroup ", name, " not found")};
}

int GlobalTimeoutSeconds(int heartbeat) { return std::min(100 * heartbeat, 172800); }

bool ValidHookName(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (char ch : name) {
    if (!absl::ascii_isalnum(ch) && ch != '-' && ch != '_' && ch != '/') return false;
  }
  return true;
}

}  // namespace

void FakeAws::Impl::Notify(const FakeLifecycleHook& h, const nlohmann::json& message) {
  if (!absl::StartsWith(h.notification_target_arn, "arn:aws:sqs:")) return;
  (void)sqs.EnqueueByArn(h.notification_target_arn, message.dump());
}

bool FakeAws::Impl::PutLifecycleHookAction(Ctx& c, pugi::xml_node result, Fault* f) {
  auto& p = c.params;
  if (!p.count("LifecycleHookName")) {
    *f = NullParam("lifecycleHookName");
    return false;
  }
  if (!p.count("AutoScalingGroupName")) {
    *f = NullParam("autoScalingGroupName");
    return false;
  }
  const std::string name = p["LifecycleHookName"];
  const std::string group = p["AutoScalingGroupName"];
  if (!ValidHookName(name)) {
    *f = {"ValidationError", 400,
          absl::StrCat("1 validation error detected: Value '", name,
                       "' at 'lifecycleHookName' failed to satisfy constraint: Member must "
                       "satisfy regular expression pattern: [A-Za-z0-9\\-_\\/]+")};
    return false;
  }
  if (!groups.count(group)) {
    *f = GroupNotFound(group);
    return false;
  }
  auto existing = hooks[group].find(name);
  FakeLifecycleHook h;
  if (existing != hooks[group].end()) {
    h = existing->second;
  } else {
    h.name = name;
    h.group = group;
    h.transition.clear();
  }
  if (p.count("LifecycleTransition")) {
    const std::string& t = p["LifecycleTransition"];
    if (t != kLaunching && t != kTerminating) {
      *f = {"ValidationError", 400,
            absl::StrCat("Invalid Lifecycle Transition: ", t, ". Valid values are ", kLaunching,
                         " and ", kTerminating)};
      return false;
    }
    h.transition = t;
  }
  if (h.transition.empty()) {
    *f = {"ValidationError", 400, "LifecycleTransition is required to create a lifecycle hook"};
    return false;
  }
  if (p.count("HeartbeatTimeout")) {
    int v = 0;
    if (!absl::SimpleAtoi(p["HeartbeatTimeout"], &v) || v < 30 || v > 7200) {
      *f = {"ValidationError", 400,
            absl::StrCat("1 validation error detected: Value '", p["HeartbeatTimeout"],
                         "' at 'heartbeatTimeout' failed to satisfy constraint: Member must have "
                         "value ",
                         v < 30 ? "greater than or equal to 30" : "less than or equal to 7200")};
      return false;
    }
    h.heartbeat_timeout_seconds = v;
  }
  if (p.count("DefaultResult")) {
    const std::string& r = p["DefaultResult"];
    if (r != "CONTINUE" && r != "ABANDON") {
      *f = {"ValidationError", 400,
            absl::StrCat("Invalid DefaultResult: ", r, ". Valid values are CONTINUE and ABANDON")};
      return false;
    }
    h.default_result = r;
  }
  if (p.count("RoleARN")) h.role_arn = p["RoleARN"];
  if (p.count("NotificationMetadata")) h.notification_metadata = p["NotificationMetadata"];
  const bool new_target = p.count("NotificationTargetARN") > 0 && !p["NotificationTargetARN"].empty();
  if (p.count("NotificationTargetARN")) h.notification_target_arn = p["NotificationTargetARN"];
  if (new_target) {
    if (h.role_arn.empty()) {
      *f = {"ValidationError", 400,
            "RoleARN is required when NotificationTargetARN is specified"};
      return false;
    }
    // Auto Scaling sends a test message to the target and refuses the hook
    // when it cannot.
    const bool ours = absl::StartsWith(h.notification_target_arn,
                                       absl::StrCat("arn:aws:sqs:", options.region, ":", kAccount, ":"));
    if (absl::StartsWith(h.notification_target_arn, "arn:aws:sqs:") &&
        (!ours || !sqs.HasQueueArn(h.notification_target_arn))) {
      *f = {"ValidationError", 400,
            absl::StrCat("Unable to publish test message to notification target ",
                         h.notification_target_arn, " using IAM role ", h.role_arn,
                         ". Please check your target and role configuration and try to put "
                         "lifecycle hook again.")};
      return false;
    }
  }
  hooks[group][name] = h;
  if (new_target) {
    Notify(h, {{"AccountId", kAccount},
               {"RequestId", c.request_id},
               {"AutoScalingGroupARN",
                absl::StrCat("arn:aws:autoscaling:", options.region, ":", kAccount,
                             ":autoScalingGroup:0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0:"
                             "autoScalingGroupName/",
                             group)},
               {"AutoScalingGroupName", group},
               {"Service", "AWS Auto Scaling"},
               {"Event", "autoscaling:TEST_NOTIFICATION"},
               {"Time", FormatRfc3339(clock.Now(), Rfc3339Fraction::kMillis)}});
  }
  return true;
}

bool FakeAws::Impl::DescribeLifecycleHooks(Ctx& c, pugi::xml_node result, Fault* f) {
  if (!c.params.count("AutoScalingGroupName")) {
    *f = NullParam("autoScalingGroupName");
    return false;
  }
  const std::string group = c.params["AutoScalingGroupName"];
  if (!groups.count(group)) {
    *f = GroupNotFound(group);
    return false;
  }
  std::vector<std::string> names = ListParam(c.params, "LifecycleHookNames.member");
  if (names.size() > 50) {
    *f = {"ValidationError", 400,
          "1 validation error detected: Value at 'lifecycleHookNames' failed to satisfy constraint: "
          "Member must have length less than or equal to 50"};
    return false;
  }
  pugi::xml_node list = result.append_child("LifecycleHooks");
  for (const auto& [name, h] : hooks[group]) {
    if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end()) continue;
    pugi::xml_node m = list.append_child("member");
    Add(m, "LifecycleHookName", h.name);
    Add(m, "AutoScalingGroupName", h.group);
    Add(m, "LifecycleTransition", h.transition);
    if (!h.notification_target_arn.empty()) Add(m, "NotificationTargetARN", h.notification_target_arn);
    if (!h.role_arn.empty()) Add(m, "RoleARN", h.role_arn);
    if (!h.notification_metadata.empty()) Add(m, "NotificationMetadata", h.notification_metadata);
    Add(m, "HeartbeatTimeout", absl::StrCat(h.heartbeat_timeout_seconds));
    Add(m, "GlobalTimeout", absl::StrCat(GlobalTimeoutSeconds(h.heartbeat_timeout_seconds)));
    Add(m, "DefaultResult", h.default_result);
  }
  return true;
}

FakeLifecycleAction* FakeAws::Impl::FindAction(Ctx& c, Fault* f) {
  auto& p = c.params;
  if (!p.count("LifecycleHookName")) {
    *f = NullParam("lifecycleHookName");
    return nullptr;
  }
  if (!p.count("AutoScalingGroupName")) {
    *f = NullParam("autoScalingGroupName");
    return nullptr;
  }
  const bool by_token = p.count("LifecycleActionToken") > 0;
  const std::string token = by_token ? p["LifecycleActionToken"] : "";
  if (by_token && token.size() != 36) {
    *f = {"ValidationError", 400,
          absl::StrCat("1 validation error detected: Value '", token,
                       "' at 'lifecycleActionToken' failed to satisfy constraint: Member must have "
                       "length ",
                       token.size() < 36 ? "greater than or equal to 36" : "less than or equal to 36")};
    return nullptr;
  }
  const std::string instance = p.count("InstanceId") ? p["InstanceId"] : "";
  if (!by_token && instance.empty()) {
    *f = {"ValidationError", 400, "Either LifecycleActionToken or InstanceId must be specified."};
    return nullptr;
  }
  if (instance.size() > 19) {
    *f = {"ValidationError", 400,
          absl::StrCat("1 validation error detected: Value '", instance,
                       "' at 'instanceId' failed to satisfy constraint: Member must have length "
                       "less than or equal to 19")};
    return nullptr;
  }
  const std::string& group = p["AutoScalingGroupName"];
  if (!groups.count(group)) {
    *f = GroupNotFound(group);
    return nullptr;
  }
  for (const std::string& t : action_order) {
    FakeLifecycleAction& a = actions[t];
    if (a.completed || a.expired || a.group != group || a.hook != p["LifecycleHookName"]) continue;
    if (by_token ? a.token == token : a.instance_id == instance) return &a;
  }
  *f = {"ValidationError", 400,
        by_token ? absl::StrCat("No active Lifecycle Action found with token ", token)
                 : absl::StrCat("No active Lifecycle Action found with instance ID ", instance)};
  return nullptr;
}

bool FakeAws::Impl::CompleteLifecycleAction(Ctx& c, pugi::xml_node result, Fault* f) {
  if (!c.params.count("LifecycleActionResult")) {
    *f = NullParam("lifecycleActionResult");
    return false;
  }
  const std::string r = c.params["LifecycleActionResult"];
  if (r != "CONTINUE" && r != "ABANDON") {
    *f = {"ValidationError", 400,
          absl::StrCat("Invalid LifecycleActionResult: ", r,
                       ". Valid values are CONTINUE and ABANDON")};
    return false;
  }
  FakeLifecycleAction* a = FindAction(c, f);
  if (a == nullptr) return false;
  a->completed = true;
  a->completed_by_instance_id = !c.params.count("LifecycleActionToken");
  EndAction(*a, r);
  return true;
}

bool FakeAws::Impl::RecordLifecycleActionHeartbeat(Ctx& c, pugi::xml_node result, Fault* f) {
  FakeLifecycleAction* a = FindAction(c, f);
  if (a == nullptr) return false;
  int heartbeat = 3600;
  auto hs = hooks.find(a->group);
  if (hs != hooks.end()) {
    auto h = hs->second.find(a->hook);
    if (h != hs->second.end()) heartbeat = h->second.heartbeat_timeout_seconds;
  }
  ++a->heartbeats;
  a->deadline = std::min(clock.Now() + absl::Seconds(heartbeat), a->global_deadline);
  return true;
}

void FakeAws::Impl::EndAction(FakeLifecycleAction& a, const std::string& result) {
  a.result = result;
  auto it = instances.find(a.instance_id);
  if (it == instances.end()) return;
  FakeInstance& i = it->second;
  const bool launching = a.transition == kLaunching;
  if (launching && result == "ABANDON") {
    // An abandoned launch ends at once, whatever other hooks wait.
    i.lifecycle_state = "Terminating:Proceed";
    i.state = "shutting-down";
    return;
  }
  for (const auto& [t, other] : actions) {
    if (&other != &a && other.instance_id == a.instance_id && other.transition == a.transition &&
        !other.completed && !other.expired) {
      return;  // the instance waits for every hook
    }
  }
  if (launching) {
    if (i.lifecycle_state == "Pending:Wait") {
      i.lifecycle_state = "InService";
      i.state = "running";
    }
  } else {
    i.lifecycle_state = "Terminating:Proceed";
    i.state = "shutting-down";
  }
}

void FakeAws::Impl::ExpireActions() {
  const absl::Time now = clock.Now();
  for (const std::string& t : action_order) {
    FakeLifecycleAction& a = actions[t];
    if (a.completed || a.expired || now < a.deadline) continue;
    a.expired = true;
    std::string result = "ABANDON";
    auto hs = hooks.find(a.group);
    if (hs != hooks.end()) {
      auto h = hs->second.find(a.hook);
      if (h != hs->second.end()) result = h->second.default_result;
    }
    EndAction(a, result);
  }
}

absl::StatusOr<std::string> FakeAws::Impl::StartAction(const std::string& instance_id,
                                                       LifecycleTransition transition,
                                                       const std::string& hook_name) {
  auto it = instances.find(instance_id);
  if (it == instances.end() || it->second.group.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(instance_id, " is in no Auto Scaling group"));
  }
  FakeInstance& i = it->second;
  const std::string want = transition == LifecycleTransition::kLaunching ? kLaunching : kTerminating;
  const FakeLifecycleHook* hook = nullptr;
  for (const auto& [name, h] : hooks[i.group]) {
    if (h.transition == want && (hook_name.empty() || name == hook_name)) {
      hook = &h;
      break;
    }
  }
  if (hook == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("group ", i.group, " has no ", want, " hook ",
                                                      hook_name));
  }
  FakeLifecycleAction a;
  a.token = absl::StrFormat("%s-%s-%s-%s-%s", Random("0123456789abcdef", 8),
                            Random("0123456789abcdef", 4), Random("0123456789abcdef", 4),
                            Random("0123456789abcdef", 4), Random("0123456789abcdef", 12));
  a.group = i.group;
  a.hook = hook->name;
  a.instance_id = instance_id;
  a.transition = want;
  a.started = clock.Now();
  a.deadline = a.started + absl::Seconds(hook->heartbeat_timeout_seconds);
  a.global_deadline = a.started + absl::Seconds(GlobalTimeoutSeconds(hook->heartbeat_timeout_seconds));
  actions[a.token] = a;
  action_order.push_back(a.token);
  const bool launching = transition == LifecycleTransition::kLaunching;
  i.lifecycle_state = launching ? "Pending:Wait" : "Terminating:Wait";
  nlohmann::json message = {{"Origin", launching ? "EC2" : "AutoScalingGroup"},
                            {"Destination", launching ? "AutoScalingGroup" : "EC2"},
                            {"LifecycleHookName", hook->name},
                            {"AccountId", kAccount},
                            {"RequestId", NewRequestId()},
                            {"LifecycleTransition", want},
                            {"AutoScalingGroupName", i.group},
                            {"Service", "AWS Auto Scaling"},
                            {"Time", FormatRfc3339(a.started, Rfc3339Fraction::kMillis)},
                            {"EC2InstanceId", instance_id},
                            {"LifecycleActionToken", a.token}};
  if (!hook->notification_metadata.empty()) {
    message["NotificationMetadata"] = hook->notification_metadata;
  }
  Notify(*hook, message);
  return a.token;
}

// ---------------------------------------------------------------------------
// EC2.

bool FakeAws::Impl::CheckEc2Ids(const std::vector<std::string>& ids, Fault* f) {
  std::vector<std::string> missing;
  for (const std::string& id : ids) {
    if (!ValidInstanceId(id)) {
      *f = {"InvalidInstanceID.Malformed", 400, absl::StrCat("Invalid id: \"", id, "\"")};
      return false;
    }
    if (!instances.count(id)) missing.push_back(id);
  }
  if (!missing.empty()) {
    *f = {"InvalidInstanceID.NotFound", 400,
          missing.size() == 1
              ? absl::StrCat("The instance ID '", missing[0], "' does not exist")
              : absl::StrCat("The instance IDs '", absl::StrJoin(missing, ", "), "' do not exist")};
    return false;
  }
  return true;
}

bool FakeAws::Impl::DescribeInstances(Ctx& c, pugi::xml_node root, Fault* f) {
  std::vector<std::string> ids = ListParam(c.params, "InstanceId");
  struct Filter {
    std::string name;
    std::vector<std::string> values;
  };
  std::vector<Filter> filters;
  for (int n = 1; n < 1000; ++n) {
    auto it = c.params.find(absl::StrCat("Filter.", n, ".Name"));
    if (it == c.params.end()) break;
    static const std::set<std::string> kKnown = {
        "instance-id",       "instance-state-name", "instance-state-code", "instance-type",
        "availability-zone", "instance-lifecycle",  "tag-key",             "tag-value",
        "owner-id",          "reservation-id"};
    if (!kKnown.count(it->second) && !absl::StartsWith(it->second, "tag:")) {
      *f = {"InvalidParameterValue", 400, absl::StrCat("The filter '", it->second, "' is invalid")};
      return false;
    }
    filters.push_back({it->second, ListParam(c.params, absl::StrCat("Filter.", n, ".Value"))});
  }
  std::optional<int> max_results;
  if (auto it = c.params.find("MaxResults"); it != c.params.end()) {
    if (!ids.empty()) {
      *f = {"InvalidParameterCombination", 400,
            "The parameter instancesSet cannot be used with the parameter maxResults"};
      return false;
    }
    int v = 0;
    if (!absl::SimpleAtoi(it->second, &v)) {
      *f = {"InvalidParameterValue", 400,
            absl::StrCat("Invalid value '", it->second, "' for maxResults")};
      return false;
    }
    if (v < 5 || v > 1000) {
      *f = {"InvalidParameterValue", 400,
            absl::StrCat("Value ( ", v, " ) for parameter maxResults is invalid. Expecting a value ",
                         v < 5 ? "greater than 5." : "less than 1000.")};
      return false;
    }
    max_results = v;
  }
  size_t start = 0;
  if (auto it = c.params.find("NextToken"); it != c.params.end()) {
    std::string raw;
    if (!absl::WebSafeBase64Unescape(it->second, &raw) || !absl::StartsWith(raw, "ec2-page:") ||
        !absl::SimpleAtoi(raw.substr(9), &start)) {
      *f = {"InvalidPaginationToken", 400,
            "The specified pagination token is not valid or is expired."};
      return false;
    }
  }
  if (!CheckEc2Ids(ids, f)) return false;
  auto matches = [&](const FakeInstance& i, const Filter& fl) {
    std::vector<std::string> have;
    if (fl.name == "instance-id") have = {i.id};
    if (fl.name == "instance-state-name") have = {i.state};
    if (fl.name == "instance-state-code") have = {absl::StrCat(Ec2StateCode(i.state))};
    if (fl.name == "instance-type") have = {i.type};
    if (fl.name == "availability-zone") have = {i.az};
    if (fl.name == "instance-lifecycle" && i.spot) have = {"spot"};
    if (fl.name == "owner-id") have = {kAccount};
    if (fl.name == "reservation-id") have = {absl::StrCat("r-", i.id.substr(2))};
    for (const auto& [k, v] : i.tags) {
      if (fl.name == "tag-key") have.push_back(k);
      if (fl.name == "tag-value") have.push_back(v);
      if (fl.name == "tag:" + k) have.push_back(v);
    }
    for (const std::string& want : fl.values) {
      for (const std::string& h : have) {
        if (GlobMatch(want, h)) return true;
      }
    }
    return false;
  };
  std::vector<std::string> matched;
  for (const std::string& id : order) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
    const FakeInstance& i = instances[id];
    bool all = true;
    for (const Filter& fl : filters) all = all && matches(i, fl);
    if (all) matched.push_back(id);
  }
  const size_t page = max_results ? static_cast<size_t>(*max_results) : matched.size();
  pugi::xml_node rs = root.append_child("reservationSet");
  size_t n = start;
  for (; n < matched.size() && n - start < page; ++n) {
    const FakeInstance& i = instances[matched[n]];
    pugi::xml_node r = rs.append_child("item");
    Add(r, "reservationId", absl::StrCat("r-", i.id.substr(2)));
    Add(r, "ownerId", kAccount);
    r.append_child("groupSet");
    pugi::xml_node item = r.append_child("instancesSet").append_child("item");
    Add(item, "instanceId", i.id);
    Add(item, "imageId", "ami-0abcdef1234567890");
    pugi::xml_node st = item.append_child("instanceState");
    Add(st, "code", absl::StrCat(Ec2StateCode(i.state)));
    Add(st, "name", i.state);
    const int octet = static_cast<int>(std::hash<std::string>()(i.id) % 250) + 2;
    Add(item, "privateDnsName", absl::StrCat("ip-10-0-0-", octet, ".ec2.internal"));
    Add(item, "instanceType", i.type);
    Add(item, "launchTime", "2026-01-01T00:00:00.000Z");
    pugi::xml_node pl = item.append_child("placement");
    Add(pl, "availabilityZone", i.az);
    Add(pl, "groupName", "");
    Add(pl, "tenancy", "default");
    Add(item, "privateIpAddress", absl::StrCat("10.0.0.", octet));
    if (i.spot) {
      Add(item, "spotInstanceRequestId", absl::StrCat("sir-", i.id.substr(2, 8)));
      Add(item, "instanceLifecycle", "spot");
    }
    if (!i.tags.empty()) {
      pugi::xml_node ts = item.append_child("tagSet");
      for (const auto& [k, v] : i.tags) {
        pugi::xml_node t = ts.append_child("item");
        Add(t, "key", k);
        Add(t, "value", v);
      }
    }
  }
  if (max_results && n < matched.size()) {
    Add(root, "nextToken", absl::WebSafeBase64Escape(absl::StrCat("ec2-page:", n)));
  }
  return true;
}

bool FakeAws::Impl::TerminateInstances(Ctx& c, pugi::xml_node root, Fault* f) {
  std::vector<std::string> ids = ListParam(c.params, "InstanceId");
  if (ids.empty()) {
    *f = {"MissingParameter", 400, "The request must contain the parameter InstanceId"};
    return false;
  }
  if (!CheckEc2Ids(ids, f)) return false;
  pugi::xml_node set = root.append_child("instancesSet");
  for (const std::string& id : ids) {
    FakeInstance& i = instances[id];
    const std::string previous = i.state;
    if (i.state != "terminated") i.state = "shutting-down";
    pugi::xml_node item = set.append_child("item");
    Add(item, "instanceId", id);
    pugi::xml_node cur = item.append_child("currentState");
    Add(cur, "code", absl::StrCat(Ec2StateCode(i.state)));
    Add(cur, "name", i.state);
    pugi::xml_node prev = item.append_child("previousState");
    Add(prev, "code", absl::StrCat(Ec2StateCode(previous)));
    Add(prev, "name", previous);
    if (!i.group.empty()) {
      // The group sees its member go and replaces it.
      const std::string group = i.group;
      i.group.clear();
      i.lifecycle_state = "Terminating";
      Reconcile(group);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------
// STS.

bool FakeAws::Impl::AssumeRoleWithWebIdentity(Ctx& c, pugi::xml_node result, Fault* f) {
  for (const char* key : {"RoleArn", "RoleSessionName", "WebIdentityToken"}) {
    if (!c.params.count(key)) {
      *f = {"MissingParameter", 400, absl::StrCat("The request must contain the parameter ", key)};
      return false;
    }
  }
  const std::string& token = c.params["WebIdentityToken"];
  const auto& accepted = options.web_identity_tokens;
  if (std::find(accepted.begin(), accepted.end(), token) == accepted.end()) {
    *f = {"InvalidIdentityToken", 400, "Incorrect token audience"};
    return false;
  }
  const std::string& role = c.params["RoleArn"];
  if (!absl::StartsWith(role, "arn:aws:iam::")) {
    *f = {"ValidationError", 400,
          absl::StrCat("1 validation error detected: Value '", role,
                       "' at 'roleArn' failed to satisfy constraint: Member must have length "
                       "greater than or equal to 20")};
    return false;
  }
  absl::Duration lifetime = options.issued_credentials_lifetime;
  if (c.params.count("DurationSeconds")) {
    int s = 0;
    if (!absl::SimpleAtoi(c.params["DurationSeconds"], &s) || s < 900 || s > 43200) {
      *f = {"ValidationError", 400,
            "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: "
            "Member must have value between 900 and 43200"};
      return false;
    }
    lifetime = absl::Seconds(s);
  }
  IssuedCredentials ic;
  const std::string akid = "ASIA" + Random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
  ic.secret = Random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
  ic.token = "FwoGZXIvYXdzEFAKE" + Random("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 120);
  ic.expiration = absl::Now() + lifetime;
  ic.role_arn = role;
  issued[akid] = ic;
  const std::string role_name = role.substr(role.rfind('/') + 1);
  Add(result, "SubjectFromWebIdentityToken", "system:serviceaccount:kube-system:hollowtrees");
  Add(result, "Audience", "sts.amazonaws.com");
  pugi::xml_node user = result.append_child("AssumedRoleUser");
  Add(user, "Arn", absl::StrCat("arn:aws:sts::", kAccount, ":assumed-role/", role_name, "/",
                                c.params["RoleSessionName"]));
  Add(user, "AssumedRoleId", absl::StrCat("AROAFAKEROLEID:", c.params["RoleSessionName"]));
  pugi::xml_node cr = result.append_child("Credentials");
  Add(cr, "SessionToken", ic.token);
  Add(cr, "SecretAccessKey", ic.secret);
  Add(cr, "Expiration", FormatRfc3339(ic.expiration, Rfc3339Fraction::kNone));
  Add(cr, "AccessKeyId", akid);
  Add(result, "Provider", "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/FAKE");
  return true;
}

// ---------------------------------------------------------------------------

bool FakeAws::Impl::Dispatch(Ctx& c, std::string* body, Fault* f) {
  pugi::xml_document doc;
  doc.append_child(pugi::node_declaration).append_attribute("version") = "1.0";
  const std::string response_name = c.action + "Response";
  pugi::xml_node root = doc.append_child(response_name.c_str());
  bool ok = false;
  if (c.service == "autoscaling") {
    ExpireActions();
    root.append_attribute("xmlns") = kAsgNs;
    pugi::xml_node result = root.append_child((c.action + "Result").c_str());
    if (c.action == "PutLifecycleHook") {
      ok = PutLifecycleHookAction(c, result, f);
    } else if (c.action == "DescribeLifecycleHooks") {
      ok = DescribeLifecycleHooks(c, result, f);
    } else if (c.action == "CompleteLifecycleAction") {
      ok = CompleteLifecycleAction(c, result, f);
    } else if (c.action == "RecordLifecycleActionHeartbeat") {
      ok = RecordLifecycleActionHeartbeat(c, result, f);
    } else if (c.action == "DescribeAutoScalingGroups") {
      ok = DescribeGroups(c, result, f);
    } else if (c.action == "DescribeAutoScalingInstances") {
      ok = DescribeAsgInstances(c, result, f);
    } else if (c.action == "DetachInstances") {
      ok = DetachInstances(c, result, f);
    } else if (c.action == "UpdateAutoScalingGroup") {
      ok = UpdateGroup(c, result, f);
      root.remove_child(result);  // this action has no result element
    } else if (c.action == "SetDesiredCapacity") {
      ok = SetDesiredCapacity(c, result, f);
      root.remove_child(result);
    } else {
      *f = {"InvalidAction", 400,
            absl::StrCat("Could not find operation ", c.action, " for version 2011-01-01")};
      return false;
    }
    Add(root.append_child("ResponseMetadata"), "RequestId", c.request_id);
  } else if (c.service == "ec2") {
    root.append_attribute("xmlns") = kEc2Ns;
    Add(root, "requestId", c.request_id);
    if (c.action == "DescribeInstances") {
      ok = DescribeInstances(c, root, f);
    } else if (c.action == "TerminateInstances") {
      ok = TerminateInstances(c, root, f);
    } else {
      *f = {"InvalidAction", 400,
            absl::StrCat("The action ", c.action, " is not valid for this web service.")};
      return false;
    }
  } else {
    root.append_attribute("xmlns") = kStsNs;
    pugi::xml_node result = root.append_child((c.action + "Result").c_str());
    if (c.action == "AssumeRoleWithWebIdentity") {
      ok = AssumeRoleWithWebIdentity(c, result, f);
    } else if (c.action == "GetCallerIdentity") {
      Add(result, "Arn", absl::StrCat("arn:aws:iam::", kAccount, ":user/hollowtrees-test"));
      Add(result, "UserId", c.access_key_id);
      Add(result, "Account", kAccount);
      ok = true;
    } else {
      *f = {"InvalidAction", 400,
            absl::StrCat("Could not find operation ", c.action, " for version 2011-06-15")};
      return false;
    }
    Add(root.append_child("ResponseMetadata"), "RequestId", c.request_id);
  }
  if (ok) *body = ToString(doc);
  return ok;
}

void FakeAws::Impl::Handle(const httplib::Request& req, httplib::Response& res) {
  Ctx ctx;
  const size_t q = req.target.find('?');
  const std::string path = req.target.substr(0, q);
  const std::string ct = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  // AWS JSON 1.0 (only SQS speaks it here): the action is in X-Amz-Target.
  const bool json = req.method == "POST" && absl::StartsWith(ct, "application/x-amz-json-1.0");
  nlohmann::json json_body = nlohmann::json::object();
  Fault fault;
  bool early_fault = false;
  if (json) {
    const std::string target = req.get_header_value("X-Amz-Target");
    json_body = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
    if (!absl::StartsWith(target, "AmazonSQS.")) {
      fault = {"UnknownOperationException", 400, ""};
      early_fault = true;
    } else if (!json_body.is_object()) {
      fault = {"SerializationException", 400, "Start of structure or map found where not expected."};
      early_fault = true;
    }
    ctx.action = absl::StartsWith(target, "AmazonSQS.") ? target.substr(10) : target;
    if (json_body.is_object()) {
      for (const auto& [k, v] : json_body.items()) {
        ctx.params[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
  } else {
    // Parameters from the query string and the form body, like AWS.
    aws::QueryParams params;
    if (q != std::string::npos) params = aws::FormDecode(req.target.substr(q + 1));
    if (req.method == "POST") {
      if (!req.body.empty() && !absl::StartsWith(ct, "application/x-www-form-urlencoded")) {
        res.status = 415;
        res.set_content(
            "Unsupported Media Type: the Query protocol takes application/x-www-form-urlencoded",
            "text/plain");
        return;
      }
      for (auto& kv : aws::FormDecode(req.body)) params.push_back(std::move(kv));
    }
    for (auto& [k, v] : params) ctx.params[k] = v;
    ctx.action = ctx.params["Action"];
  }

  std::string body;
  bool ok = false;
  bool to_sqs = false;
  {
    absl::MutexLock lock(&mu);
    ctx.request_id = NewRequestId();
    auto authed = Authenticate(req, ctx, &fault);
    if (early_fault) {
      if (authed.ok()) ctx = *authed;
      ctx.service = "sqs";
    } else if (authed.ok()) {
      ctx = *authed;
      const std::string want_version = ctx.service == "autoscaling" ? "2011-01-01"
                                       : ctx.service == "ec2"       ? "2016-11-15"
                                       : ctx.service == "sqs"       ? "2012-11-05"
                                                                    : "2011-06-15";
      auto inj = faults.find(ctx.action);
      if (json && ctx.service != "sqs") {
        fault = {"SignatureDoesNotMatch", 403,
                 absl::StrCat("Credential should be scoped to correct service: 'sqs'. ")};
        ctx.service = "sqs";
      } else if (ctx.action.empty()) {
        fault = {"MissingAction", 400, "The request must contain the parameter Action"};
      } else if (!json && !ctx.params.count("Version")) {
        fault = {"MissingParameter", 400, "The request must contain the parameter Version"};
      } else if (!json && ctx.params["Version"] != want_version) {
        fault = {"InvalidAction", 400,
                 absl::StrCat("Could not find operation ", ctx.action, " for version ",
                              ctx.params["Version"])};
      } else if (inj != faults.end() && inj->second.skip > 0) {
        --inj->second.skip;
        to_sqs = ctx.service == "sqs";
        if (!to_sqs) ok = Dispatch(ctx, &body, &fault);
      } else if (inj != faults.end() && inj->second.remaining > 0) {
        fault = {inj->second.code, inj->second.status, inj->second.message};
        if (--inj->second.remaining == 0) faults.erase(inj);
      } else {
        to_sqs = ctx.service == "sqs";
        if (!to_sqs) ok = Dispatch(ctx, &body, &fault);
      }
    } else if (ctx.service.empty()) {
      ctx.service = json ? "sqs" : "autoscaling";  // the error shape of the protocol
    }
    if (!to_sqs) {
      FakeCall call{ctx.service, ctx.action, ctx.params, ctx.access_key_id, ok ? "" : fault.code,
                    json ? "json" : "query"};
      calls.push_back(std::move(call));
    }
  }
  if (to_sqs) {
    // Outside mu: a long poll waits inside.
    SqsRequest r;
    r.json = json;
    r.action = ctx.action;
    r.input = json ? json_body : FakeSqs::QueryToJson(ctx.action, ctx.params);
    r.path = path;
    r.request_id = ctx.request_id;
    r.access_key_id = ctx.access_key_id;
    SqsAnswer a = sqs.Handle(r);
    {
      absl::MutexLock lock(&mu);
      calls.push_back({"sqs", ctx.action, ctx.params, ctx.access_key_id, a.error_code,
                       json ? "json" : "query"});
    }
    res.status = a.status;
    for (const auto& [k, v] : a.headers) res.set_header(k, v);
    res.set_content(a.body, a.content_type);
    return;
  }
  if (ok) {
    res.status = 200;
    res.set_header("x-amzn-RequestId", ctx.request_id);
    res.set_content(body, "text/xml");
    return;
  }
  if (ctx.service == "sqs") {
    SqsAnswer a = FakeSqs::ErrorAnswer(json, fault.code, fault.message, fault.status, ctx.request_id);
    res.status = a.status;
    for (const auto& [k, v] : a.headers) res.set_header(k, v);
    res.set_content(a.body, a.content_type);
    return;
  }
  pugi::xml_document doc;
  doc.append_child(pugi::node_declaration).append_attribute("version") = "1.0";
  if (ctx.service == "ec2") {
    pugi::xml_node r = doc.append_child("Response");
    pugi::xml_node e = r.append_child("Errors").append_child("Error");
    Add(e, "Code", fault.code);
    Add(e, "Message", fault.message);
    Add(r, "RequestID", ctx.request_id);
  } else {
    pugi::xml_node r = doc.append_child("ErrorResponse");
    r.append_attribute("xmlns") = ctx.service == "sts" ? kStsNs : kAsgNs;
    pugi::xml_node e = r.append_child("Error");
    Add(e, "Type", fault.status >= 500 ? "Receiver" : "Sender");
    Add(e, "Code", fault.code);
    Add(e, "Message", fault.message);
    Add(r, "RequestId", ctx.request_id);
  }
  res.status = fault.status;
  res.set_header("x-amzn-RequestId", ctx.request_id);
  res.set_content(ToString(doc), "text/xml");
}

nlohmann::json FakeAws::Impl::StateJson() {
  nlohmann::json out = {{"groups", nlohmann::json::array()}, {"instances", nlohmann::json::array()}};
  for (auto& [name, g] : groups) {
    out["groups"].push_back({{"name", g.name},
                             {"min_size", g.min_size},
                             {"max_size", g.max_size},
                             {"desired", g.desired},
                             {"azs", g.azs},
                             {"mixed_instance_types", g.mixed_instance_types},
                             {"instances", Members(name)}});
  }
  for (const std::string& id : order) {
    const FakeInstance& i = instances[id];
    out["instances"].push_back({{"id", i.id},
                                {"type", i.type},
                                {"az", i.az},
                                {"group", i.group},
                                {"lifecycle_state", i.lifecycle_state},
                                {"health", i.health},
                                {"state", i.state},
                                {"spot", i.spot},
                                {"tags", i.tags}});
  }
  return out;
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<FakeAws>> FakeAws::Start(const FakeAwsOptions& options) {
  std::unique_ptr<FakeAws> fake(new FakeAws());
  fake->options_ = options;
  fake->impl_ = std::make_unique<Impl>(options);
  fake->server_ = std::make_unique<httplib::Server>();
  // Enough workers for a few SQS long polls (up to 20 s each) beside other calls.
  http::ConfigureServer(*fake->server_, {.threads = 16});
  // Idle keep-alive connections must not hold up the fake's shutdown.
  fake->server_->set_keep_alive_timeout(1);
  Impl* impl = fake->impl_.get();
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) {
    impl->Handle(req, res);
  };
  fake->server_->Post("/", handler);
  fake->server_->Get("/", handler);
  // SQS Query requests may go to the queue's URL.
  fake->server_->Post(R"(/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?)", handler);
  fake->server_->Get(R"(/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?)", handler);
  // A long poll holds its request up to 20 s.
  auto serving = http::ServingThread::Start(*fake->server_, {options.host, options.port},
                                            {.request_timeout = absl::Seconds(40)});
  if (!serving.ok()) return serving.status();
  fake->serving_ = *std::move(serving);
  fake->impl_->sqs.SetEndpoint(fake->endpoint());
  return fake;
}

FakeAws::~FakeAws() {
  // Long polls return at once, so the server's workers can be joined.
  if (impl_) impl_->sqs.Shutdown();
  serving_.reset();
}

std::string FakeAws::endpoint() const { return absl::StrCat("http://", options_.host, ":", port()); }

void FakeAws::AddGroup(const FakeGroup& group) {
  absl::MutexLock lock(&impl_->mu);
  impl_->groups[group.name] = group;
}

void FakeAws::AddInstance(const FakeInstance& instance) {
  absl::MutexLock lock(&impl_->mu);
  FakeInstance i = instance;
  if (!i.group.empty()) i.tags.emplace("aws:autoscaling:groupName", i.group);
  if (!impl_->instances.count(i.id)) impl_->order.push_back(i.id);
  impl_->instances[i.id] = i;
}

std::optional<FakeGroup> FakeAws::Group(const std::string& name) {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->groups.find(name);
  if (it == impl_->groups.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeInstance> FakeAws::Instance(const std::string& id) {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  auto it = impl_->instances.find(id);
  if (it == impl_->instances.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> FakeAws::GroupInstances(const std::string& name) {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  return impl_->Members(name);
}

std::vector<std::string> FakeAws::Launched() {
  absl::MutexLock lock(&impl_->mu);
  return impl_->launched;
}

void FakeAws::InjectError(const std::string& action, const std::string& code, int http_status,
                          int count, const std::string& message) {
  absl::MutexLock lock(&impl_->mu);
  impl_->faults[action] = {code, http_status, count, message};
}

void FakeAws::InjectErrorAfter(const std::string& action, int skip, const std::string& code,
                               int http_status, int count) {
  absl::MutexLock lock(&impl_->mu);
  impl_->faults[action] = {code, http_status, count, "injected fault", skip};
}

void FakeAws::ExpireSessionTokens() {
  absl::MutexLock lock(&impl_->mu);
  for (auto& [k, v] : impl_->issued) v.expired = true;
}

absl::Status FakeAws::SetInstanceTags(const std::string& id,
                                     const std::map<std::string, std::string>& tags) {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->instances.find(id);
  if (it == impl_->instances.end()) return absl::NotFoundError(absl::StrCat("no instance ", id));
  it->second.tags = tags;
  return absl::OkStatus();
}

absl::Status FakeAws::PutLifecycleHook(const FakeLifecycleHook& hook) {
  absl::MutexLock lock(&impl_->mu);
  if (!impl_->groups.count(hook.group)) {
    return absl::NotFoundError(absl::StrCat("no group ", hook.group));
  }
  impl_->hooks[hook.group][hook.name] = hook;
  return absl::OkStatus();
}

std::vector<FakeLifecycleHook> FakeAws::LifecycleHooks(const std::string& group) {
  absl::MutexLock lock(&impl_->mu);
  std::vector<FakeLifecycleHook> out;
  auto it = impl_->hooks.find(group);
  if (it == impl_->hooks.end()) return out;
  for (const auto& [name, h] : it->second) out.push_back(h);
  return out;
}

absl::StatusOr<std::string> FakeAws::StartLifecycleAction(const std::string& instance_id,
                                                          LifecycleTransition transition,
                                                          const std::string& hook_name) {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  return impl_->StartAction(instance_id, transition, hook_name);
}

std::optional<FakeLifecycleAction> FakeAws::LifecycleAction(const std::string& token) {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  auto it = impl_->actions.find(token);
  if (it == impl_->actions.end()) return std::nullopt;
  return it->second;
}

std::vector<FakeLifecycleAction> FakeAws::LifecycleActions() {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  std::vector<FakeLifecycleAction> out;
  for (const std::string& t : impl_->action_order) out.push_back(impl_->actions[t]);
  return out;
}

void FakeAws::ExpireLifecycleActions() {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
}

std::string FakeAws::SqsQueueUrl(const std::string& name) const { return impl_->sqs.QueueUrl(name); }

std::string FakeAws::SqsQueueArn(const std::string& name) const { return impl_->sqs.QueueArn(name); }

absl::StatusOr<std::string> FakeAws::CreateSqsQueue(
    const std::string& name, const std::map<std::string, std::string>& attributes) {
  return impl_->sqs.CreateQueue(name, attributes);
}

absl::StatusOr<std::string> FakeAws::EnqueueSqsMessage(
    const std::string& queue, const std::string& body,
    const std::map<std::string, std::string>& string_attributes, absl::Duration delay) {
  return impl_->sqs.Enqueue(queue, body, string_attributes, delay);
}

absl::StatusOr<FakeSqsCounts> FakeAws::SqsCounts(const std::string& queue) {
  return impl_->sqs.Counts(queue);
}

std::vector<FakeSqsMessage> FakeAws::SqsMessages(const std::string& queue) {
  return impl_->sqs.Messages(queue);
}

std::vector<FakeSqsDeleted> FakeAws::SqsDeleted(const std::string& queue) {
  return impl_->sqs.Deleted(queue);
}

void FakeAws::InjectSqsThrottling(const std::string& action, int count) {
  InjectError(action, "RequestThrottled", 403, count, "Request is throttled.");
}

void FakeAws::InjectSqsServerError(const std::string& action, int count) {
  InjectError(action, "InternalFailure", 500, count,
              "The request processing has failed because of an unknown error, exception or "
              "failure.");
}

void FakeAws::AddCredentials(const std::string& access_key_id, const std::string& secret) {
  absl::MutexLock lock(&impl_->mu);
  impl_->credentials[access_key_id] = secret;
}

std::vector<FakeCall> FakeAws::Calls() {
  absl::MutexLock lock(&impl_->mu);
  return impl_->calls;
}

int FakeAws::CountCalls(const std::string& action, bool successful_only) {
  absl::MutexLock lock(&impl_->mu);
  int n = 0;
  for (const FakeCall& c : impl_->calls) {
    if (c.action == action && (!successful_only || c.error_code.empty())) ++n;
  }
  return n;
}

void FakeAws::ClearCalls() {
  absl::MutexLock lock(&impl_->mu);
  impl_->calls.clear();
}

nlohmann::json FakeAws::StateJson() {
  absl::MutexLock lock(&impl_->mu);
  impl_->ExpireActions();
  return impl_->StateJson();
}

absl::Status FakeAws::LoadStateJson(const nlohmann::json& state) {
  std::vector<FakeGroup> groups;
  std::vector<FakeInstance> instances;
  std::vector<FakeLifecycleHook> hooks;
  try {
    for (const auto& g : state.value("groups", nlohmann::json::array())) {
      FakeGroup fg;
      fg.name = g.at("name").get<std::string>();
      fg.min_size = g.value("min_size", 0);
      fg.max_size = g.value("max_size", 0);
      fg.desired = g.value("desired", 0);
      fg.azs = g.value("azs", std::vector<std::string>{"us-east-1a"});
      fg.mixed_instance_types = g.value("mixed_instance_types", std::vector<std::string>{});
      groups.push_back(fg);
      // {"name", "transition", "heartbeat_timeout_seconds", "default_result"}
      for (const auto& h : g.value("lifecycle_hooks", nlohmann::json::array())) {
        FakeLifecycleHook fh;
        fh.name = h.at("name").get<std::string>();
        fh.group = fg.name;
        fh.transition = h.value("transition", fh.transition);
        fh.heartbeat_timeout_seconds =
            h.value("heartbeat_timeout_seconds", fh.heartbeat_timeout_seconds);
        fh.default_result = h.value("default_result", fh.default_result);
        hooks.push_back(fh);
      }
    }
    for (const auto& i : state.value("instances", nlohmann::json::array())) {
      FakeInstance fi;
      fi.id = i.at("id").get<std::string>();
      fi.type = i.value("type", fi.type);
      fi.az = i.value("az", fi.az);
      fi.group = i.value("group", "");
      fi.lifecycle_state = i.value("lifecycle_state", fi.lifecycle_state);
      fi.health = i.value("health", fi.health);
      fi.state = i.value("state", fi.state);
      fi.spot = i.value("spot", true);
      fi.tags = i.value("tags", std::map<std::string, std::string>{});
      instances.push_back(fi);
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("fake AWS state: ", e.what()));
  }
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->groups.clear();
    impl_->instances.clear();
    impl_->order.clear();
  }
  for (const auto& g : groups) AddGroup(g);
  for (const auto& i : instances) AddInstance(i);
  for (const auto& h : hooks) {
    if (absl::Status s = PutLifecycleHook(h); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void FakeAws::EnableControlApi() {
  Impl* impl = impl_.get();
  FakeAws* self = this;
  server_->Get("/control/state", [self](const httplib::Request&, httplib::Response& res) {
    res.set_content(self->StateJson().dump(), "application/json");
  });
  server_->Post("/control/state", [self](const httplib::Request& req, httplib::Response& res) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    absl::Status s = j.is_discarded() ? absl::InvalidArgumentError("body is not JSON")
                                      : self->LoadStateJson(j);
    res.status = s.ok() ? 200 : 400;
    res.set_content(s.ok() ? "{}" : nlohmann::json({{"error", std::string(s.message())}}).dump(),
                    "application/json");
  });
  server_->Post("/control/fault", [self](const httplib::Request& req, httplib::Response& res) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("action") || !j.contains("code")) {
      res.status = 400;
      res.set_content(R"({"error":"want {\"action\",\"code\",\"status\",\"count\"}"})",
                      "application/json");
      return;
    }
    self->InjectError(j.value("action", ""), j.value("code", ""), j.value("status", 400),
                      j.value("count", 1));
    res.set_content("{}", "application/json");
  });
  auto reply = [](httplib::Response& res, const absl::Status& s, nlohmann::json ok) {
    res.status = s.ok() ? 200 : s.code() == absl::StatusCode::kNotFound ? 404 : 400;
    res.set_content(s.ok() ? ok.dump() : nlohmann::json({{"error", std::string(s.message())}}).dump(),
                    "application/json");
  };
  server_->Post("/control/sqs/queues", [self, reply](const httplib::Request& req,
                                                     httplib::Response& res) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) {
      return reply(res, absl::InvalidArgumentError("want {\"name\", \"attributes\"}"), {});
    }
    std::map<std::string, std::string> attrs;
    const nlohmann::json j_attributes = j.value("attributes", nlohmann::json::object());
    for (const auto& [k, v] : j_attributes.items()) {
      attrs[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
    auto url = self->CreateSqsQueue(j["name"].get<std::string>(), attrs);
    reply(res, url.status(), url.ok() ? nlohmann::json{{"url", *url}} : nlohmann::json{});
  });
  server_->Post("/control/sqs/send", [self, reply](const httplib::Request& req,
                                                   httplib::Response& res) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("queue") || !j.contains("body")) {
      return reply(res, absl::InvalidArgumentError("want {\"queue\", \"body\"}"), {});
    }
    auto id = self->EnqueueSqsMessage(j.value("queue", ""), j.value("body", ""));
    reply(res, id.status(), id.ok() ? nlohmann::json{{"message_id", *id}} : nlohmann::json{});
  });
  server_->Get("/control/sqs/counts", [self, reply](const httplib::Request& req,
                                                    httplib::Response& res) {
    auto c = self->SqsCounts(req.get_param_value("queue"));
    reply(res, c.status(),
          c.ok() ? nlohmann::json{{"visible", c->visible}, {"in_flight", c->in_flight},
                                  {"delayed", c->delayed}, {"deleted", c->deleted}}
                 : nlohmann::json{});
  });
  server_->Post("/control/lifecycle/start", [self, reply](const httplib::Request& req,
                                                          httplib::Response& res) {
    auto j = nlohmann::json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("instance_id")) {
      return reply(res, absl::InvalidArgumentError("want {\"instance_id\", \"transition\"}"), {});
    }
    const LifecycleTransition t = j.value("transition", "terminating") == "launching"
                                      ? LifecycleTransition::kLaunching
                                      : LifecycleTransition::kTerminating;
    auto token = self->StartLifecycleAction(j.value("instance_id", ""), t, j.value("hook", ""));
    reply(res, token.status(), token.ok() ? nlohmann::json{{"token", *token}} : nlohmann::json{});
  });
  server_->Get("/control/lifecycle/actions", [self](const httplib::Request&, httplib::Response& res) {
    nlohmann::json out = nlohmann::json::array();
    for (const FakeLifecycleAction& a : self->LifecycleActions()) {
      out.push_back({{"token", a.token}, {"group", a.group}, {"hook", a.hook},
                     {"instance_id", a.instance_id}, {"transition", a.transition},
                     {"completed", a.completed}, {"expired", a.expired}, {"result", a.result},
                     {"heartbeats", a.heartbeats}});
    }
    res.set_content(out.dump(), "application/json");
  });
  server_->Get("/control/calls", [impl](const httplib::Request&, httplib::Response& res) {
    absl::MutexLock lock(&impl->mu);
    nlohmann::json out = nlohmann::json::array();
    for (const FakeCall& c : impl->calls) {
      out.push_back({{"service", c.service}, {"action", c.action}, {"params", c.params},
                     {"error", c.error_code}, {"protocol", c.protocol}});
    }
    res.set_content(out.dump(), "application/json");
  });
}

}  // namespace hollowtrees::testing
