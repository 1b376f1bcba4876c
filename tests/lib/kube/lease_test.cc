// lib/kube/lease: LeaseRecord <-> JSON, the Lease API over HTTPS against the
// fake API server, two LeaderElectors racing there, and the fake's Leases
// (and ConfigMap size limit) proved against the real kubectl.

#include "lib/kube/lease.h"

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/deadline.h"
#include "lib/common/logging.h"
#include "lib/kube/kube_error.h"
#include "lib/kube/leader_election.h"
#include "tests/fakes/kube/kube_fixture.h"
#include "tests/testing/status_matchers.h"

namespace hollowtrees::kube {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kConflict[] =
    "Operation cannot be fulfilled on leases.coordination.k8s.io \"engine\": the object has been "
    "modified; please apply your changes to the latest version and try again";
const absl::Time kT = absl::FromUnixMicros(1796605323123456);  // 2026-12-07T01:02:03.123456Z

TEST(LeaseRecordTest, JsonBothWays) {
  LeaseRecord r{.holder_identity = "engine-0",
                .lease_duration_seconds = 4,
                .acquire_time = kT,
                .renew_time = kT + absl::Nanoseconds(1500),  // kept to the microsecond
                .lease_transitions = 3};
  const json spec = LeaseSpecToJson(r);
  EXPECT_EQ(spec, json::parse(R"({"holderIdentity":"engine-0","leaseDurationSeconds":4,
      "acquireTime":"2026-12-07T01:02:03.123456Z","renewTime":"2026-12-07T01:02:03.123457Z",
      "leaseTransitions":3})"));
  ASSERT_OK_AND_ASSIGN(
      LeaseRecord back,
      LeaseRecordFromJson({{"metadata", {{"resourceVersion", "77"}}}, {"spec", spec}}));
  EXPECT_EQ(back.holder_identity, "engine-0");
  EXPECT_EQ(back.lease_duration_seconds, 4);
  EXPECT_EQ(back.acquire_time, kT);
  EXPECT_EQ(back.renew_time, kT + absl::Microseconds(1));
  EXPECT_EQ(back.lease_transitions, 3);
  EXPECT_EQ(back.resource_version, "77");

  // Unset: nothing written that the API server would refuse.
  EXPECT_EQ(LeaseSpecToJson(LeaseRecord{}),
            json::parse(R"({"holderIdentity":"","leaseTransitions":0})"));
  ASSERT_OK_AND_ASSIGN(
      LeaseRecord empty,
      LeaseRecordFromJson(json::parse(R"({"spec":{"holderIdentity":null,"renewTime":null}})")));
  EXPECT_EQ(empty.holder_identity, "");
  EXPECT_EQ(empty.renew_time, absl::InfinitePast());
  ASSERT_OK_AND_ASSIGN(empty, LeaseRecordFromJson(json::object()));
  EXPECT_EQ(empty.lease_duration_seconds, 0);

  // Wrong types and formats name the field.
  const std::pair<const char*, const char*> bad[] = {
      {R"({"spec":{"leaseDurationSeconds":"4"}})",
       "spec.leaseDurationSeconds: want an integer, got a string"},
      {R"({"spec":{"leaseDurationSeconds":4.5}})", "spec.leaseDurationSeconds: want an integer"},
      {R"({"spec":{"leaseTransitions":2147483648}})",
       "spec.leaseTransitions: 2147483648 is out of int32 range"},
      {R"({"spec":{"holderIdentity":7}})", "spec.holderIdentity: want a string, got a number"},
      {R"({"spec":{"renewTime":"yesterday"}})", "spec.renewTime: \"yesterday\" is not an RFC 3339"},
      {R"({"spec":{"acquireTime":12}})", "spec.acquireTime: want an RFC 3339 time string"},
      {R"({"spec":[]})", "spec: want an object, got an array"},
      {R"({"metadata":{"resourceVersion":5}})", "metadata.resourceVersion: want a string"},
      {R"([])", "lease: want an object"},
  };
  for (const auto& [text, message] : bad) {
    EXPECT_THAT(LeaseRecordFromJson(json::parse(text)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << text;
  }
}

class LeaseApiTest : public testing::FakeKubeFixture {
 protected:
  std::unique_ptr<LeaseApi> Api() { return NewKubeLeaseApi(*client_, "ops", "engine"); }
  static LeaseRecord Held(const std::string& who, absl::Time at) {
    return {
        .holder_identity = who, .lease_duration_seconds = 4, .acquire_time = at, .renew_time = at};
  }
};

TEST_F(LeaseApiTest, CreateGetUpdateAndOptimisticConcurrency) {
  auto api = Api();
  EXPECT_EQ(api->Describe(), "ops/engine");
  EXPECT_THAT(api->Get(), StatusIs(absl::StatusCode::kNotFound,
                                   HasSubstr("leases.coordination.k8s.io \"engine\" not found")));
  ASSERT_OK_AND_ASSIGN(LeaseRecord created, api->Create(Held("a", kT)));
  EXPECT_EQ(created.holder_identity, "a");
  EXPECT_EQ(created.renew_time, kT);
  EXPECT_FALSE(created.resource_version.empty());
  auto again = api->Create(Held("b", kT));
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kAlreadyExists,
                              HasSubstr("leases.coordination.k8s.io \"engine\" already exists")));
  EXPECT_EQ(GetKubeError(again.status())->reason, "AlreadyExists");

  // What the API server stores, as kubectl would show it.
  std::optional<json> stored = api_->leases().Get("ops", "engine");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ((*stored)["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ((*stored)["kind"], "Lease");
  EXPECT_EQ((*stored)["spec"]["renewTime"], "2026-12-07T01:02:03.123456Z");

  // Someone labels it; an update keeps the label (PUT of the object read).
  api_->leases().Modify("ops", "engine", [](json& o) { o["metadata"]["labels"]["team"] = "ops"; });
  ASSERT_OK_AND_ASSIGN(LeaseRecord current, api->Get());
  EXPECT_NE(current.resource_version, created.resource_version);
  LeaseRecord renewed = current;
  renewed.renew_time = kT + absl::Seconds(1);
  ASSERT_OK_AND_ASSIGN(LeaseRecord updated, api->Update(renewed));
  EXPECT_EQ(updated.renew_time, kT + absl::Seconds(1));
  EXPECT_NE(updated.resource_version, current.resource_version);
  EXPECT_EQ((*api_->leases().Get("ops", "engine"))["metadata"]["labels"]["team"], "ops");

  // An update at a version that is no longer current: 409 Conflict.
  auto stale = api->Update(current);
  EXPECT_THAT(stale, StatusIs(absl::StatusCode::kAborted, HasSubstr(kConflict)));
  ASSERT_TRUE(GetKubeError(stale.status()).has_value());
  EXPECT_EQ(GetKubeError(stale.status())->reason, "Conflict");
  EXPECT_EQ(GetKubeError(stale.status())->code, 409);

  // The release client-go writes is valid; leaseDurationSeconds 0 is not.
  LeaseRecord released{.lease_duration_seconds = 1,
                       .acquire_time = kT,
                       .renew_time = kT,
                       .resource_version = updated.resource_version};
  ASSERT_OK_AND_ASSIGN(LeaseRecord after, api->Update(released));
  EXPECT_EQ(after.holder_identity, "");
  after.lease_duration_seconds = -1;
  EXPECT_THAT(
      api->Update(after),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("Lease.coordination.k8s.io \"engine\" is invalid: "
                         "spec.leaseDurationSeconds: Invalid value: -1: must be greater than 0")));

  // Faults and deadlines reach the caller as the client's errors.
  api_->leases().FailNextWrites(1, 503);
  EXPECT_THAT(api->Update(after), StatusIs(absl::StatusCode::kUnavailable));
  {
    ScopedDeadline passed(absl::Now() - absl::Seconds(1));
    EXPECT_THAT(api->Get(), StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("not sent")));
  }
}

// The fake refuses what the real API server refuses, with its messages.
TEST_F(LeaseApiTest, TheFakeValidatesLeasesAndConfigMapsLikeTheRealServer) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
  auto create = [&](const json& spec) {
    return client_->Create(leases, {{"apiVersion", "coordination.k8s.io/v1"},
                                    {"kind", "Lease"},
                                    {"metadata", {{"name", "x"}}},
                                    {"spec", spec}});
  };
  auto zero = create({{"leaseDurationSeconds", 0}});
  EXPECT_THAT(
      zero,
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("HTTP 422 Invalid: Lease.coordination.k8s.io \"x\" is invalid: "
                         "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0")));
  EXPECT_EQ(GetKubeError(zero.status())->cause_reason, "FieldValueInvalid");
  EXPECT_THAT(
      create({{"leaseDurationSeconds", 0}, {"leaseTransitions", -1}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("is invalid: [spec.leaseDurationSeconds: Invalid value: 0: must be "
                         "greater than 0, spec.leaseTransitions: Invalid value: -1: must be "
                         "greater than or equal to 0]")));
  EXPECT_THAT(
      create({{"holderIdentity", 5}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("HTTP 400 BadRequest: Lease in version \"v1\" cannot be handled as a "
                         "Lease: json: cannot unmarshal number into Go struct field "
                         "LeaseSpec.spec.holderIdentity of type string")));
  EXPECT_THAT(create({{"leaseDurationSeconds", "4"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("json: cannot unmarshal string into Go struct field "
                                 "LeaseSpec.spec.leaseDurationSeconds of type int32")));
  EXPECT_THAT(
      create({{"leaseTransitions", 1.5}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot unmarshal number 1.5")));
  // MicroTime wants exactly six fractional digits.
  EXPECT_THAT(create({{"renewTime", "2026-12-07T01:02:03Z"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("parsing time \"2026-12-07T01:02:03Z\" as "
                                 "\"2006-01-02T15:04:05.000000Z07:00\"")));
  EXPECT_THAT(create({{"acquireTime", 5}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("json: cannot unmarshal number into Go value of type string")));
  EXPECT_THAT(create({{"preferredHolder", "b"}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.preferredHolder: Forbidden: may only be specified if "
                                 "`strategy` is defined")));
  EXPECT_THAT(
      client_->Create(leases, {{"metadata", json::object()}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("Lease.coordination.k8s.io \"\" is invalid: metadata.name: Required "
                         "value: name or generateName is required")));
  EXPECT_THAT(create({{"holderIdentity", "a"},
                      {"leaseDurationSeconds", 15},
                      {"renewTime", "2026-12-07T01:02:03.123456+01:00"}}),
              IsOk());
  // The lease strategy: PUT needs a resourceVersion, and creates a missing
  // Lease; ConfigMaps take an unconditional PUT.
  const json put = {{"metadata", {{"name", "x"}}}, {"spec", {{"holderIdentity", "b"}}}};
  EXPECT_THAT(
      client_->Request("PUT", leases + "/x", put.dump(), "application/json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("leases.coordination.k8s.io \"x\" is invalid: "
                         "metadata.resourceVersion: Invalid value: 0: must be specified for "
                         "an update")));
  json put_new = put;
  put_new["metadata"]["name"] = "y";
  put_new["metadata"]["resourceVersion"] = "1";
  ASSERT_OK_AND_ASSIGN(
      json created, client_->Request("PUT", "/apis/coordination.k8s.io/v1/namespaces/dev/leases/y",
                                     put_new.dump(), "application/json"));
  EXPECT_EQ(created["spec"]["holderIdentity"], "b");
  EXPECT_NE(created["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(api_->leases().Get("dev", "y").has_value());
  api_->configmaps().Set("ops", "cm", {{"k", "v"}});
  EXPECT_THAT(
      client_->Request("PUT", "/api/v1/namespaces/ops/configmaps/cm",
                       R"({"metadata":{"name":"cm"},"data":{"k":"w"}})", "application/json"),
      IsOk());
  EXPECT_THAT(client_->Request("PUT", "/api/v1/namespaces/ops/configmaps/nope",
                               R"({"metadata":{"name":"nope"}})", "application/json"),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(json in_ops, client_->List(leases));
  EXPECT_EQ(in_ops["kind"], "LeaseList");
  ASSERT_EQ(in_ops["items"].size(), 1u);
  EXPECT_EQ(in_ops["items"][0]["metadata"]["name"], "x");
  ASSERT_OK_AND_ASSIGN(json all, client_->List("/apis/coordination.k8s.io/v1/leases"));
  EXPECT_EQ(all["items"].size(), 2u);

  // Discovery, so that kubectl finds leases.
  ASSERT_OK_AND_ASSIGN(json groups, client_->Get("/apis"));
  EXPECT_THAT(groups.dump(), HasSubstr(R"("name":"coordination.k8s.io")"));
  ASSERT_OK_AND_ASSIGN(json group, client_->Get("/apis/coordination.k8s.io"));
  EXPECT_EQ(group["preferredVersion"]["groupVersion"], "coordination.k8s.io/v1");
  ASSERT_OK_AND_ASSIGN(json resources, client_->Get("/apis/coordination.k8s.io/v1"));
  EXPECT_EQ(resources["kind"], "APIResourceList");
  EXPECT_EQ(resources["groupVersion"], "coordination.k8s.io/v1");
  ASSERT_EQ(resources["resources"].size(), 1u);
  EXPECT_EQ(resources["resources"][0]["name"], "leases");
  EXPECT_EQ(resources["resources"][0]["kind"], "Lease");
  EXPECT_EQ(resources["resources"][0]["namespaced"], true);
  ASSERT_OK_AND_ASSIGN(json core, client_->Get("/api/v1"));
  EXPECT_THAT(core.dump(), HasSubstr(R"("name":"configmaps")"));
  EXPECT_THAT(core.dump(), ::testing::Not(HasSubstr(R"("name":"leases")")));

  // ConfigMaps hold at most 1 MiB of data and binaryData (decoded) together.
  const std::string cms = "/api/v1/namespaces/ops/configmaps";
  auto configmap = [&](const std::string& name, size_t data, size_t binary) {
    json cm = {{"metadata", {{"name", name}}}, {"data", {{"a", std::string(data, 'x')}}}};
    if (binary > 0) cm["binaryData"] = {{"b", absl::Base64Escape(std::string(binary, 'y'))}};
    return client_->Create(cms, cm);
  };
  EXPECT_THAT(configmap("full", 1 << 20, 0), IsOk());
  auto big = configmap("big", (1 << 20) - 2, 3);
  EXPECT_THAT(big,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("HTTP 422 Invalid: ConfigMap \"big\" is invalid: []: Too long: "
                                 "must have at most 1048576 bytes")));
  EXPECT_EQ(GetKubeError(big.status())->cause_reason, "FieldValueTooLong");
  EXPECT_THAT(client_->Patch(cms + "/full", {{"data", {{"more", "z"}}}}, PatchType::kMerge),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("Too long")));
  EXPECT_THAT(
      client_->Create(cms, {{"metadata", {{"name", "n"}}}, {"data", {{"a", 1}}}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: "
                         "cannot unmarshal number into Go struct field ConfigMap.data of "
                         "type string")));
}

// Two engines with their own clients race for one Lease over HTTPS: exactly
// one leads at any time, and a release hands over at once.
TEST_F(LeaseApiTest, TwoElectorsOverHttpOneLeads) {
  auto logger = *MakeLogger("election-http-test", {.level = "off"});
  LeaderElectionConfig config{.lease_duration = absl::Seconds(2),
                              .renew_deadline = absl::Seconds(1),
                              .retry_period = absl::Milliseconds(100)};
  struct Engine {
    std::unique_ptr<KubeClient> client;
    std::unique_ptr<LeaseApi> api;
    std::unique_ptr<LeaderElector> elector;
    std::atomic<int> started{0};
  };
  Engine engines[2];
  for (int i = 0; i < 2; ++i) {
    Engine& e = engines[i];
    ASSERT_OK_AND_ASSIGN(e.client, KubeClient::Create(Config(), {.timeout = absl::Seconds(1)}));
    e.api = NewKubeLeaseApi(*e.client, "ops", "engine");
    config.identity = absl::StrCat("engine-", i);
    LeaderCallbacks cb;
    cb.on_started_leading = [&e] { ++e.started; };
    ASSERT_OK_AND_ASSIGN(e.elector,
                         LeaderElector::Create(*e.api, RealClock(), config, cb, *logger));
  }
  for (Engine& e : engines) e.elector->Start();
  ASSERT_TRUE(
      Eventually([&] { return engines[0].elector->IsLeader() || engines[1].elector->IsLeader(); }));
  const int leader = engines[0].elector->IsLeader() ? 0 : 1;
  // For a while (several renewals and follower rounds): one leader, always
  // the same, and the Lease names it.
  const absl::Time until = absl::Now() + absl::Milliseconds(800);
  while (absl::Now() < until) {
    EXPECT_FALSE(engines[0].elector->IsLeader() && engines[1].elector->IsLeader());
    EXPECT_TRUE(engines[leader].elector->IsLeader());
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(engines[1 - leader].started.load(), 0);
  std::optional<json> lease = api_->leases().Get("ops", "engine");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], absl::StrCat("engine-", leader));
  EXPECT_EQ((*lease)["spec"]["leaseDurationSeconds"], 2);
  EXPECT_EQ(engines[1 - leader].elector->leader_identity(), absl::StrCat("engine-", leader));

  // The leader steps down and releases: the other takes over well before
  // the lease would have expired.
  const absl::Time stopped = absl::Now();
  engines[leader].elector->Stop(/*release=*/true);
  ASSERT_TRUE(Eventually([&] { return engines[1 - leader].elector->IsLeader(); }));
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(1));
  lease = api_->leases().Get("ops", "engine");
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], absl::StrCat("engine-", 1 - leader));
  EXPECT_EQ((*lease)["spec"]["leaseTransitions"], 1);
  engines[1 - leader].elector->Stop(true);
}

// The fake's Leases and ConfigMap limit against the real kubectl.
TEST_F(LeaseApiTest, KubectlCreatesReadsAndReplacesLeases) {
  if (!KubectlInstalled()) GTEST_SKIP() << "kubectl is not installed";
  const std::string manifest = dir_ + "/lease.yaml";
  const std::string lease_yaml =
      "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: engine\n"
      "  namespace: ops\nRV\nspec:\n  holderIdentity: engine-0\n  leaseDurationSeconds: 15\n"
      "  acquireTime: \"2026-12-07T01:02:03.123456Z\"\n  renewTime: "
      "\"2026-12-07T01:02:03.123456Z\"\n"
      "  leaseTransitions: 0\n";
  auto write = [&](const std::string& rv_line) {
    ASSERT_THAT(hollowtrees::testing::WriteStringToFile(
                    manifest, absl::StrReplaceAll(lease_yaml, {{"RV\n", rv_line}})),
                IsOk());
  };
  write("");
  // The fake serves no OpenAPI document, so client-side validation is off.
  auto [code, out] = Kubectl({"create", "--validate=false", "-f", manifest});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("lease.coordination.k8s.io/engine created"));

  std::tie(code, out) = Kubectl({"get", "lease", "-n", "ops", "engine", "-o", "json"});
  ASSERT_EQ(code, 0) << out;
  json got = json::parse(out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << out;
  EXPECT_EQ(got["spec"]["holderIdentity"], "engine-0");
  EXPECT_EQ(got["spec"]["renewTime"], "2026-12-07T01:02:03.123456Z");
  const std::string old_version = got["metadata"]["resourceVersion"];
  std::tie(code, out) = Kubectl({"get", "leases", "-n", "ops"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("engine"));

  // The elector renews it: the manifest's version is now stale.
  auto api = NewKubeLeaseApi(*client_, "ops", "engine");
  ASSERT_OK_AND_ASSIGN(LeaseRecord current, api->Get());
  current.renew_time += absl::Seconds(1);
  ASSERT_OK_AND_ASSIGN(current, api->Update(current));
  write(absl::StrCat("  resourceVersion: \"", old_version, "\"\n"));
  std::tie(code, out) = Kubectl({"replace", "--validate=false", "-f", manifest});
  EXPECT_NE(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat("Error from server (Conflict)")));
  EXPECT_THAT(out, HasSubstr(kConflict));

  std::tie(code, out) = Kubectl({"create", "--validate=false", "-f", manifest});
  EXPECT_NE(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("Error from server (AlreadyExists)"));
  EXPECT_THAT(out, HasSubstr("leases.coordination.k8s.io \"engine\" already exists"));

  write(absl::StrCat("  resourceVersion: \"", current.resource_version, "\"\n"));
  std::tie(code, out) = Kubectl({"replace", "--validate=false", "-f", manifest});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr("lease.coordination.k8s.io/engine replaced"));
  ASSERT_OK_AND_ASSIGN(LeaseRecord replaced, api->Get());
  EXPECT_EQ(replaced.lease_duration_seconds, 15);
  EXPECT_EQ(replaced.renew_time, kT);

  // A ConfigMap over 1 MiB is refused, with the real server's words.
  const std::string big = dir_ + "/big.yaml";
  ASSERT_THAT(hollowtrees::testing::WriteStringToFile(
                  big, absl::StrCat("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n"
                                    "  namespace: ops\ndata:\n  blob: ",
                                    std::string((1 << 20) + 1, 'x'), "\n")),
              IsOk());
  std::tie(code, out) = Kubectl({"create", "--validate=false", "-f", big});
  EXPECT_NE(code, 0) << out.substr(0, 2000);
  EXPECT_THAT(out, HasSubstr("The ConfigMap \"big\" is invalid: []: Too long: must have at most "
                             "1048576 bytes"));
  EXPECT_FALSE(api_->configmaps().Get("ops", "big").has_value());
}

}  // namespace
}  // namespace hollowtrees::kube
