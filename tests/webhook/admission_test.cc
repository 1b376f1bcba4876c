#include "webhook/admission.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/logging.h"
#include "tests/testing/status_matchers.h"
#include "tests/webhook/fakes.h"

namespace hollowtrees::webhook {
namespace {

using ::hollowtrees::testing::IsOk;
using ::hollowtrees::testing::StatusIs;
using nlohmann::json;
using ::testing::HasSubstr;

std::shared_ptr<spdlog::logger> Logger() {
  static auto* l = new std::shared_ptr<spdlog::logger>(*MakeLogger("admission-test", {.level = "off"}));
  return *l;
}

json WorkloadObject(const std::string& kind, const std::string& name, json labels,
                    json template_metadata = json::object()) {
  json obj;
  obj["apiVersion"] = "apps/v1";
  obj["kind"] = kind;
  obj["metadata"] = {{"name", name}, {"namespace", "shop"}};
  obj["spec"]["replicas"] = 10;
  obj["spec"]["selector"]["matchLabels"] = {{"app", name}};
  obj["spec"]["template"]["spec"]["containers"] = json::array({{{"name", "c"}, {"image", "nginx"}}});
  if (!labels.is_null()) obj["metadata"]["labels"] = labels;
  if (!template_metadata.is_null()) obj["spec"]["template"]["metadata"] = template_metadata;
  return obj;
}

json Review(const std::string& version, const json& object, const std::string& operation = "CREATE",
            bool dry_run = false) {
  const std::string kind = object.value("kind", "");
  std::string resource = kind == "Deployment"    ? "deployments"
                         : kind == "StatefulSet" ? "statefulsets"
                         : kind == "ReplicaSet"  ? "replicasets"
                                                 : "pods";
  json req = {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
              {"kind", {{"group", kind == "Pod" ? "" : "apps"}, {"version", "v1"}, {"kind", kind}}},
              {"resource", {{"group", "apps"}, {"version", "v1"}, {"resource", resource}}},
              {"name", object["metadata"].value("name", "")},
              {"namespace", "shop"},
              {"operation", operation},
              {"userInfo", {{"username", "admin"}}},
              {"object", object},
              {"dryRun", dry_run}};
  return {{"apiVersion", "admission.k8s.io/" + version}, {"kind", "AdmissionReview"}, {"request", req}};
}

// Applies the response's patch (if any) to the object, as the API server does.
json Apply(const json& response, const json& object) {
  if (!response.contains("patch")) return object;
  EXPECT_EQ(response["patchType"], "JSONPatch");
  std::string decoded;
  EXPECT_TRUE(absl::Base64Unescape(response["patch"].get<std::string>(), &decoded));
  return object.patch(json::parse(decoded));
}

class AdmissionTest : public ::testing::Test {
 protected:
  testing::FakeShareSource source_;
  Admitter admitter_{source_, {}, Logger()};

  json Answer(const json& review) {
    auto out = admitter_.Review(review.dump());
    EXPECT_THAT(out, IsOk());
    if (!out.ok()) return json();
    EXPECT_EQ((*out)["apiVersion"], review["apiVersion"]);
    EXPECT_EQ((*out)["kind"], "AdmissionReview");
    EXPECT_EQ((*out)["response"]["uid"], review["request"]["uid"]);
    EXPECT_EQ((*out)["response"]["allowed"], true);  // never a rejection
    return (*out)["response"];
  }
};

TEST_F(AdmissionTest, EveryWorkloadKindIsPatchedInBothVersions) {
  for (const std::string kind : {"Deployment", "StatefulSet", "ReplicaSet"}) {
    for (const std::string version : {"v1", "v1beta1"}) {
      SCOPED_TRACE(kind + " " + version);
      std::string lower = kind;
      for (char& c : lower) c = static_cast<char>(tolower(c));
      source_.Set("shop." + lower + ".web", "30");
      const json object = WorkloadObject(kind, "web", {{"release", "shop"}});
      const json response = Answer(Review(version, object));
      ASSERT_TRUE(response.contains("patch")) << response.dump();
      const json patched = Apply(response, object);
      EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"],
                json({{"app.banzaicloud.io/odPercentage", "30"}}));
      EXPECT_EQ(patched["spec"]["template"]["spec"]["schedulerName"], "spot-scheduler");
      // Nothing else changed.
      json expected = object;
      expected["spec"]["template"]["metadata"]["annotations"] = {
          {"app.banzaicloud.io/odPercentage", "30"}};
      expected["spec"]["template"]["spec"]["schedulerName"] = "spot-scheduler";
      EXPECT_EQ(patched, expected);
    }
  }
  EXPECT_EQ(source_.consumed().size(), 6u);
  EXPECT_EQ(source_.consumed()[0], "shop.deployment.web=30");
}

TEST_F(AdmissionTest, ExistingAnnotationsAreKept) {
  source_.Set("shop.deployment.web", "50");
  const json object = WorkloadObject("Deployment", "web", {{"release", "shop"}},
                               {{"labels", {{"app", "web"}}},
                                {"annotations",
                                 {{"prometheus.io/scrape", "true"}, {"a~b/c", "x"}}}});
  const json response = Answer(Review("v1", object));
  const json patched = Apply(response, object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"],
            json({{"prometheus.io/scrape", "true"},
                  {"a~b/c", "x"},
                  {"app.banzaicloud.io/odPercentage", "50"}}));
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["labels"], json({{"app", "web"}}));
  // The key's '/' is escaped in the JSON pointer.
  std::string decoded;
  ASSERT_TRUE(absl::Base64Unescape(response["patch"].get<std::string>(), &decoded));
  EXPECT_THAT(decoded, HasSubstr("/spec/template/metadata/annotations/app.banzaicloud.io~1odPercentage"));
}

TEST_F(AdmissionTest, TemplateWithoutMetadataOrWithNullAnnotationsGetsThem) {
  source_.Set("shop.deployment.web", "100");
  json object = WorkloadObject("Deployment", "web", {{"release", "shop"}}, nullptr);
  ASSERT_FALSE(object["spec"]["template"].contains("metadata"));
  json patched = Apply(Answer(Review("v1", object)), object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"]["app.banzaicloud.io/odPercentage"], "100");

  object = WorkloadObject("Deployment", "web", {{"release", "shop"}}, {{"annotations", nullptr}});
  patched = Apply(Answer(Review("v1", object)), object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"],
            json({{"app.banzaicloud.io/odPercentage", "100"}}));
}

TEST_F(AdmissionTest, AnnotationAlreadySetByTheUserIsKeptAndSchedulerSet) {
  source_.Set("shop.deployment.web", "30");
  const json object = WorkloadObject("Deployment", "web", {{"release", "shop"}},
                               {{"annotations", {{"app.banzaicloud.io/odPercentage", "80"}}}});
  const json response = Answer(Review("v1", object));
  const json patched = Apply(response, object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"]["app.banzaicloud.io/odPercentage"], "80");
  EXPECT_EQ(patched["spec"]["template"]["spec"]["schedulerName"], "spot-scheduler");
  EXPECT_THAT(response["status"]["message"].get<std::string>(), HasSubstr("kept"));
}

TEST_F(AdmissionTest, AbsentEntryIsAllowedWithoutPatch) {
  source_.Set("shop.deployment.other", "30");
  const json response = Answer(Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}})));
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_FALSE(response.contains("patchType"));
  EXPECT_THAT(response["status"]["message"].get<std::string>(),
              HasSubstr("shop.deployment.web not found"));
  EXPECT_TRUE(source_.consumed().empty());
}

TEST_F(AdmissionTest, MalformedEntriesAreAllowedWithoutPatchAndWarned) {
  for (const std::string bad : {"abc", "101", "-5", "30%", "", "3.5", "1e2", "0x10"}) {
    SCOPED_TRACE(bad);
    source_.Set("shop.deployment.web", bad);
    const json response =
        Answer(Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}})));
    EXPECT_FALSE(response.contains("patch"));
    EXPECT_THAT(response["status"]["message"].get<std::string>(),
                HasSubstr("not an on-demand percentage"));
    ASSERT_TRUE(response.contains("warnings"));
    EXPECT_THAT(response["warnings"][0].get<std::string>(), HasSubstr("shop.deployment.web"));
  }
  EXPECT_TRUE(source_.consumed().empty());
}

TEST_F(AdmissionTest, BoundaryPercentagesAreAccepted) {
  for (const std::string good : {"0", "100", " 42 "}) {
    source_.Set("shop.deployment.web", good);
    const json object = WorkloadObject("Deployment", "web", {{"release", "shop"}});
    const json patched = Apply(Answer(Review("v1", object)), object);
    EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"]["app.banzaicloud.io/odPercentage"],
              good == " 42 " ? "42" : good);
  }
}

TEST_F(AdmissionTest, NotApplicableRequestsAreAllowedWithAReason) {
  source_.Set("shop.deployment.web", "30");
  // No release label.
  json response = Answer(Review("v1", WorkloadObject("Deployment", "web", nullptr)));
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_THAT(response["status"]["message"].get<std::string>(), HasSubstr("no release label"));
  // Another kind.
  json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", "web"}, {"labels", {{"release", "shop"}}}}}};
  response = Answer(Review("v1", pod));
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_THAT(response["status"]["message"].get<std::string>(), HasSubstr("not applicable"));
  // DELETE carries no object.
  json del = Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}}), "DELETE");
  del["request"]["object"] = nullptr;
  response = Answer(del);
  EXPECT_FALSE(response.contains("patch"));
  // A workload without a pod template spec.
  json broken = WorkloadObject("Deployment", "web", {{"release", "shop"}});
  broken["spec"].erase("template");
  response = Answer(Review("v1", broken));
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_THAT(response["status"]["message"].get<std::string>(), HasSubstr("spec.template.spec"));
  EXPECT_TRUE(source_.consumed().empty());
}

TEST_F(AdmissionTest, UpdatesArePatchedToo) {
  source_.Set("shop.statefulset.db", "30");
  const json object = WorkloadObject("StatefulSet", "db", {{"release", "shop"}});
  const json response = Answer(Review("v1", object, "UPDATE"));
  EXPECT_TRUE(response.contains("patch"));
}

TEST_F(AdmissionTest, DryRunPatchesButConsumesNothing) {
  source_.Set("shop.deployment.web", "30");
  const json response =
      Answer(Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}}), "CREATE", true));
  EXPECT_TRUE(response.contains("patch"));
  EXPECT_TRUE(source_.consumed().empty());
}

TEST_F(AdmissionTest, UnreadableConfigMapAllowsWithoutPatch) {
  source_.Set("shop.deployment.web", "30");
  source_.SetUnavailable(true);
  const json response = Answer(Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}})));
  EXPECT_FALSE(response.contains("patch"));
  EXPECT_THAT(response["status"]["message"].get<std::string>(), HasSubstr("not available"));
}

TEST_F(AdmissionTest, ConfiguredKeysAndNamesAreUsed) {
  testing::FakeShareSource source;
  Admitter admitter(source,
                    {.annotation_key = "example.com/od", .scheduler_name = "my-sched",
                     .release_label = "app.kubernetes.io/instance"},
                    Logger());
  source.Set("rel.deployment.web", "10");
  const json object = WorkloadObject("Deployment", "web", {{"app.kubernetes.io/instance", "rel"}});
  auto out = admitter.Review(Review("v1", object).dump());
  ASSERT_THAT(out, IsOk());
  const json patched = Apply((*out)["response"], object);
  EXPECT_EQ(patched["spec"]["template"]["metadata"]["annotations"]["example.com/od"], "10");
  EXPECT_EQ(patched["spec"]["template"]["spec"]["schedulerName"], "my-sched");
}

TEST_F(AdmissionTest, BodiesThatAreNotReviewsAreErrors) {
  EXPECT_THAT(admitter_.Review("not json"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(admitter_.Review("[]"), StatusIs(absl::StatusCode::kInvalidArgument));
  json r = Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}}));
  r["apiVersion"] = "admission.k8s.io/v2";
  EXPECT_THAT(admitter_.Review(r.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("admission.k8s.io/v2")));
  r = Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}}));
  r["request"].erase("uid");
  EXPECT_THAT(admitter_.Review(r.dump()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uid")));
  r = Review("v1", WorkloadObject("Deployment", "web", {{"release", "shop"}}));
  r["kind"] = "Pod";
  EXPECT_THAT(admitter_.Review(r.dump()), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParsePercentageTest, Table) {
  EXPECT_EQ(*ParsePercentage("0"), 0);
  EXPECT_EQ(*ParsePercentage("30"), 30);
  EXPECT_EQ(*ParsePercentage("100"), 100);
  EXPECT_EQ(*ParsePercentage(" 7\n"), 7);
  for (const char* bad : {"", " ", "101", "-1", "+5", "5%", "1.5", "abc", "0100", "1000"}) {
    EXPECT_THAT(ParsePercentage(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(EscapeJsonPointerTest, EscapesTildeAndSlash) {
  EXPECT_EQ(EscapeJsonPointer("a/b~c"), "a~1b~0c");
  EXPECT_EQ(EscapeJsonPointer("plain"), "plain");
}

}  // namespace
}  // namespace hollowtrees::webhook
