#pragma once

// The mutating admission webhook of spot-config-webhook: for Deployments,
// StatefulSets and ReplicaSets listed in the spot ConfigMap, a JSON patch that
// puts the on-demand percentage on the pod template as an annotation and
// hands the pods to the spot scheduler (spec.template.spec.schedulerName).
//
// Behaviour kept from banzaicloud/spot-config-webhook:
// - the key is `<metadata.labels.release>.<kind, lower case>.<metadata.name>`;
//   an object without the release label is left alone;
// - an annotation already on the pod template under the same key is kept (the
//   user's explicit value wins); the scheduler name is set in any case;
// - after a patch the entry is consumed (ShareSource::Consumed, which removes
//   it from the ConfigMap unless configured to keep it).
// Differences: existing pod template annotations are never replaced (the
// original replaced the whole map); values are validated (an integer 0-100);
// dry-run requests consume nothing; the ConfigMap is read from a watched
// cache, not fetched per request.
//
// Never a rejection: anything not applicable, not found or malformed is
// answered allowed=true without a patch, with the reason in status.message
// (and a warning for a malformed entry), so the webhook can never block a
// user's deployment.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "spdlog/logger.h"

namespace hollowtrees::webhook {

// Where the on-demand percentages come from: the ConfigMap in production
// (configmap_shares.h), a map in tests. Implementations are thread-safe.
class ShareSource {
 public:
  virtual ~ShareSource() = default;
  // The raw value stored under `key`, nullopt when there is none.
  // Unavailable when the source has not been read yet.
  virtual absl::StatusOr<std::optional<std::string>> Lookup(const std::string& key) = 0;
  // `key` (holding `value`) was applied to an admitted object.
  virtual void Consumed(const std::string& key, const std::string& value) = 0;
};

struct AdmissionOptions {
  // Pod template annotation that carries the percentage.
  std::string annotation_key = "app.banzaicloud.io/odPercentage";
  // Set as spec.template.spec.schedulerName.
  std::string scheduler_name = "spot-scheduler";
  // The object label whose value starts the ConfigMap key.
  std::string release_label = "release";
};

// The outcome for one AdmissionRequest.
struct AdmissionDecision {
  // The ConfigMap key looked up ("" when it could not be built).
  std::string key;
  // The JSON patch (an array), empty when nothing is to change.
  nlohmann::json patch = nlohmann::json::array();
  // Why there is no patch, or what was done; goes to status.message.
  std::string message;
  // Shown to the user by kubectl (malformed entries).
  std::string warning;
  // Short outcome for metrics: patched, not_applicable, no_release_label,
  // not_found, malformed_entry, malformed_object, source_unavailable.
  std::string result;
};

// Thread-safe; `source` must outlive it.
class Admitter {
 public:
  Admitter(ShareSource& source, AdmissionOptions options, std::shared_ptr<spdlog::logger> logger);

  // Answers an AdmissionReview request body (admission.k8s.io/v1 or v1beta1)
  // with an AdmissionReview response of the same apiVersion and the request's
  // uid. InvalidArgument (to be answered with HTTP 400) only when the body is
  // not an AdmissionReview with a request uid: there is no one to answer.
  // `result` (optional) gets AdmissionDecision::result.
  absl::StatusOr<nlohmann::json> Review(absl::string_view body, std::string* result = nullptr);

  // The decision for one AdmissionRequest (`request` of the review).
  AdmissionDecision Decide(const nlohmann::json& request);

 private:
  ShareSource& source_;
  const AdmissionOptions options_;
  std::shared_ptr<spdlog::logger> logger_;
};

// An on-demand percentage: an integer from 0 to 100 (spaces around allowed).
// InvalidArgument naming the value otherwise.
absl::StatusOr<int> ParsePercentage(absl::string_view text);

// Escapes one JSON Pointer reference token (RFC 6901): "~" -> "~0", "/" -> "~1".
std::string EscapeJsonPointer(absl::string_view token);

}  // namespace hollowtrees::webhook
