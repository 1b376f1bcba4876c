#pragma once

// A Kubernetes API client: JSON requests on any API path, authenticated per
// KubeConfig, with a timeout on every request and Kubernetes `Status` errors
// turned into absl::Status (kube_error.h). Knows no resource types: callers
// build paths (ResourcePath) and read the JSON they need.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "lib/http/http_client.h"
#include "lib/kube/credentials.h"
#include "lib/kube/kube_config.h"
#include "nlohmann/json.hpp"

namespace hollowtrees::kube {

enum class PatchType {
  kStrategicMerge,  // application/strategic-merge-patch+json
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902)
};
const char* PatchContentType(PatchType type);

struct ListOptions {
  std::string label_selector;  // e.g. "app=web,tier!=db"
  std::string field_selector;  // e.g. "spec.nodeName=node-1"
  // Page size; List() follows `continue` until the list is complete.
  int limit = 500;
};

struct KubeClientOptions {
  // Every request gives up after this long. Default 10 s.
  absl::Duration timeout = absl::Seconds(10);
  // Connecting gives up after this long. Default 5 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Keep-alive connections kept for reuse. Default 32.
  int max_idle_connections = 32;
  std::string user_agent = "hollowtrees/0.1";
  CredentialsOptions credentials;
};

// Thread-safe; requests may be made concurrently.
class KubeClient {
 public:
  // InvalidArgument for a bad server URL or unreadable TLS material.
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(const KubeConfig& config,
                                                            const KubeClientOptions& options = {});
  // For tests and custom transports. Takes ownership of both.
  KubeClient(std::unique_ptr<http::HttpClient> http, std::unique_ptr<Credentials> credentials,
             KubeClientOptions options);

  // GET a path; the decoded JSON object.
  absl::StatusOr<nlohmann::json> Get(absl::string_view path);
  // GET a collection, following `continue`: one list object whose `items`
  // hold every page's items.
  absl::StatusOr<nlohmann::json> List(absl::string_view path, const ListOptions& options = {});
  // POST `body`; the created object (or the response body).
  absl::StatusOr<nlohmann::json> Create(absl::string_view path, const nlohmann::json& body);
  absl::StatusOr<nlohmann::json> Patch(absl::string_view path, const nlohmann::json& patch,
                                       PatchType type);
  // DELETE with optional DeleteOptions (null: no body).
  absl::StatusOr<nlohmann::json> Delete(absl::string_view path,
                                        const nlohmann::json& options = nullptr);

  // Any request, under this thread's ScopedDeadline (lib/common/deadline.h)
  // when there is one. 2xx: the body as JSON (null when empty). Otherwise the
  // KubeStatusError. A 401 is retried once when the credentials can renew
  // (exec plugin, token file).
  absl::StatusOr<nlohmann::json> Request(absl::string_view method, absl::string_view path,
                                         const std::string& body = "",
                                         absl::string_view content_type = "");

  // A streaming GET (watches, `?watch=1`), authenticated like Request():
  // `on_data` gets the body as it arrives and may return false to end it.
  // `idle_timeout` bounds each wait for data. A non-2xx answer is its
  // KubeStatusError (a 401 also drops cached credentials for the next call);
  // Cancelled when `cancel` fires. Added for watch.h.
  absl::Status Stream(absl::string_view path, absl::Duration idle_timeout,
                      const std::function<bool(absl::string_view)>& on_data,
                      http::StreamCancel* cancel = nullptr);

  // Requests sent so far (retries included).
  int64_t requests_sent() const { return requests_sent_.load(); }

 private:
  std::unique_ptr<http::HttpClient> http_;
  std::unique_ptr<Credentials> credentials_;
  const KubeClientOptions options_;
  std::atomic<int64_t> requests_sent_{0};
};

// "/api/v1/namespaces/ns/pods/name" style paths: `group` "" is the core group
// (/api/v1), otherwise /apis/<group>/<version>. Empty namespace: cluster-scoped
// (or all namespaces for lists). Empty name: the collection.
std::string ResourcePath(absl::string_view group, absl::string_view version,
                         absl::string_view resource, absl::string_view ns = "",
                         absl::string_view name = "", absl::string_view subresource = "");

}  // namespace hollowtrees::kube
