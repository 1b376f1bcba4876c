#include "lib/kube/kube_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "lib/common/deadline.h"
#include "lib/common/status_macros.h"
#include "lib/common/url.h"
#include "lib/kube/kube_error.h"

namespace hollowtrees::kube {

const char* PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

std::string ResourcePath(absl::string_view group, absl::string_view version,
                         absl::string_view resource, absl::string_view ns, absl::string_view name,
                         absl::string_view subresource) {
  std::string path = group.empty() ? absl::StrCat("/api/", version)
                                   : absl::StrCat("/apis/", group, "/", version);
  if (!ns.empty()) absl::StrAppend(&path, "/namespaces/", ns);
  absl::StrAppend(&path, "/", resource);
  if (!name.empty()) absl::StrAppend(&path, "/", name);
  if (!subresource.empty()) absl::StrAppend(&path, "/", subresource);
  return path;
}

absl::StatusOr<std::unique_ptr<KubeClient>> KubeClient::Create(const KubeConfig& config,
                                                               const KubeClientOptions& options) {
  http::HttpClientOptions http_options;
  http_options.base_url = config.server;
  http_options.tls = config.tls;
  http_options.timeout = options.timeout;
  http_options.connect_timeout = options.connect_timeout;
  http_options.max_idle_connections = options.max_idle_connections;
  auto http = http::NewHttpClient(http_options);
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat(config.description, ": ", http.status().message()));
  }
  HT_ASSIGN_OR_RETURN(auto credentials, NewCredentials(config, options.credentials));
  return std::make_unique<KubeClient>(std::move(*http), std::move(credentials), options);
}

KubeClient::KubeClient(std::unique_ptr<http::HttpClient> http,
                       std::unique_ptr<Credentials> credentials, KubeClientOptions options)
    : http_(std::move(http)), credentials_(std::move(credentials)), options_(std::move(options)) {}

absl::StatusOr<nlohmann::json> KubeClient::Request(absl::string_view method,
                                                   absl::string_view path,
                                                   const std::string& body,
                                                   absl::string_view content_type) {
  const std::string what = absl::StrCat(method, " ", path);
  const absl::Time deadline = ScopedDeadline::Current();
  for (int attempt = 0;; ++attempt) {
    http::HttpRequest req;
    req.method = std::string(method);
    req.path = std::string(path);
    req.body = body;
    req.content_type = std::string(content_type);
    req.timeout = options_.timeout;
    bool cut_by_deadline = false;
    if (deadline != absl::InfiniteFuture()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(
            absl::StrCat(what, ": not sent, the caller's deadline has passed"));
      }
      cut_by_deadline = left < req.timeout;
      req.timeout = std::min(req.timeout, left);
    }
    req.headers.emplace_back("Accept", "application/json");
    req.headers.emplace_back("User-Agent", options_.user_agent);
    auto auth = credentials_->Authorization();
    if (!auth.ok()) {
      return absl::Status(auth.status().code(), absl::StrCat(what, ": ", auth.status().message()));
    }
    if (!auth->empty()) req.headers.emplace_back("Authorization", *auth);
    requests_sent_.fetch_add(1);
    auto sent = http_->Send(req);
    if (!sent.ok() && cut_by_deadline && absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": no complete answer before the caller's deadline (",
                       absl::FormatDuration(req.timeout), " left when sent): ",
                       sent.status().message()));
    }
    HT_ASSIGN_OR_RETURN(http::HttpResponse resp, std::move(sent));
    if (resp.status == 401 && attempt == 0 && credentials_->Invalidate()) continue;
    if (resp.status < 200 || resp.status >= 300) {
      return KubeStatusError(resp.status, resp.body, what);
    }
    if (resp.body.empty()) return nlohmann::json();
    nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) {
      return absl::InternalError(absl::StrCat(what, ": the server answered HTTP ", resp.status,
                                              " with a body that is not JSON"));
    }
    return j;
  }
}

absl::StatusOr<nlohmann::json> KubeClient::Get(absl::string_view path) {
  return Request("GET", path);
}

absl::StatusOr<nlohmann::json> KubeClient::List(absl::string_view path,
                                                const ListOptions& options) {
  nlohmann::json result;
  nlohmann::json items = nlohmann::json::array();
  std::string cont;
  // Bounded: a server that keeps answering `continue` cannot loop us forever.
  for (int page = 0; page < 10000; ++page) {
    std::string query;
    auto add = [&query](absl::string_view k, absl::string_view v) {
      absl::StrAppend(&query, query.empty() ? "?" : "&", k, "=", PercentEncode(v));
    };
    if (!options.label_selector.empty()) add("labelSelector", options.label_selector);
    if (!options.field_selector.empty()) add("fieldSelector", options.field_selector);
    if (options.limit > 0) add("limit", absl::StrCat(options.limit));
    if (!cont.empty()) add("continue", cont);
    HT_ASSIGN_OR_RETURN(nlohmann::json page_json, Get(absl::StrCat(path, query)));
    if (!page_json.is_object()) {
      return absl::InternalError(absl::StrCat("GET ", path, ": the answer is not a list object"));
    }
    if (page_json.contains("items") && page_json["items"].is_array()) {
      for (auto& item : page_json["items"]) items.push_back(std::move(item));
    }
    cont.clear();
    if (page_json.contains("metadata") && page_json["metadata"].is_object()) {
      const nlohmann::json& md = page_json["metadata"];
      if (md.contains("continue") && md["continue"].is_string()) cont = md["continue"].get<std::string>();
    }
    if (cont.empty()) {
      result = std::move(page_json);
      result["items"] = std::move(items);
      if (result.contains("metadata") && result["metadata"].is_object()) {
        result["metadata"].erase("continue");
      }
      return result;
    }
  }
  return absl::InternalError(absl::StrCat("GET ", path, ": more than 10000 pages"));
}

absl::StatusOr<nlohmann::json> KubeClient::Create(absl::string_view path,
                                                  const nlohmann::json& body) {
  return Request("POST", path, body.dump(), "application/json");
}

absl::StatusOr<nlohmann::json> KubeClient::Patch(absl::string_view path,
                                                 const nlohmann::json& patch, PatchType type) {
  return Request("PATCH", path, patch.dump(), PatchContentType(type));
}

absl::StatusOr<nlohmann::json> KubeClient::Delete(absl::string_view path,
                                                  const nlohmann::json& options) {
  if (options.is_null()) return Request("DELETE", path);
  return Request("DELETE", path, options.dump(), "application/json");
}

absl::Status KubeClient::Stream(absl::string_view path, absl::Duration idle_timeout,
                                const std::function<bool(absl::string_view)>& on_data,
                                http::StreamCancel* cancel) {
  const std::string what = absl::StrCat("GET ", path);
  http::HttpRequest req;
  req.method = "GET";
  req.path = std::string(path);
  req.timeout = idle_timeout;
  req.headers.emplace_back("Accept", "application/json");
  req.headers.emplace_back("User-Agent", options_.user_agent);
  auto auth = credentials_->Authorization();
  if (!auth.ok()) {
    return absl::Status(auth.status().code(), absl::StrCat(what, ": ", auth.status().message()));
  }
  if (!auth->empty()) req.headers.emplace_back("Authorization", *auth);
  requests_sent_.fetch_add(1);
  HT_ASSIGN_OR_RETURN(http::HttpResponse resp, http_->SendStreaming(req, on_data, cancel));
  if (resp.status == 401) credentials_->Invalidate();
  if (resp.status < 200 || resp.status >= 300) {
    return KubeStatusError(resp.status, resp.body, what);
  }
  return absl::OkStatus();
}

}  // namespace hollowtrees::kube
