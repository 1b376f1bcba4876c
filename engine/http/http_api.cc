#include "engine/http/http_api.h"

#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/common/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {
namespace {

constexpr char kJson[] = "application/json";

void JsonError(httplib::Response& res, int status, absl::string_view message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", std::string(message)}}.dump(), kJson);
}

// Alert endpoints take JSON; a missing Content-Type is tolerated.
bool JsonContentType(const httplib::Request& req, httplib::Response& res) {
  const std::string ct = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  if (ct.empty() || absl::StartsWith(ct, "application/json")) return true;
  JsonError(res, 415,
            absl::StrCat("unsupported Content-Type \"", req.get_header_value("Content-Type"),
                         "\": send application/json"));
  return false;
}

void Reply(httplib::Response& res, const IntakeResult& result, int total) {
  if (!result.unavailable.ok()) {
    // 503: Alertmanager and CloudEvents senders retry it.
    res.status = 503;
    res.set_header("Retry-After", "1");
    res.set_content(result.ToJson(), kJson);
    return;
  }
  // Some valid items were taken: 200 (a Prometheus sender must not drop the
  // batch); every item refused: 400.
  res.status = (result.accepted + result.duplicates == 0 && !result.rejected.empty() && total > 0)
                   ? 400
                   : 200;
  res.set_content(result.ToJson(), kJson);
}

absl::string_view HandlerName(const std::string& path) {
  static constexpr absl::string_view kKnown[] = {
      "/api/v1/alerts", "/api/v2/alerts", "/api/v1/webhooks/alertmanager", "/api/v1/events",
      "/healthz",       "/readyz",        "/metrics",                      "/api/v1/flows",
      "/api/v1/rules"};
  for (absl::string_view k : kKnown) {
    if (path == k) return k;
  }
  return "other";
}

// --- Security hooks (engine/http_security.h) ---

bool AdmitIntake(HttpSecurity* security, const httplib::Request& req, httplib::Response& res,
                 Principal* principal) {
  return security == nullptr || security->Admit(req, res, EndpointClass::kIntake, principal);
}

// After Reply(): alerts refused by the per-cluster check are counted, and a
// request whose every item was refused that way is answered 403.
void FinishForbidden(HttpSecurity* security, httplib::Response& res, int forbidden, int total) {
  if (security == nullptr || forbidden == 0) return;
  security->CountForbidden(forbidden);
  if (forbidden == total && res.status != 503) res.status = 403;
}

}  // namespace

HttpApi::HttpApi(HttpApiDeps deps) : deps_(std::move(deps)), server_(std::make_unique<httplib::Server>()) {}

HttpApi::~HttpApi() = default;

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(const http::HostPort& listen,
                                                        const IntakeConfig& intake,
                                                        HttpApiDeps deps) {
  std::unique_ptr<HttpApi> api(new HttpApi(std::move(deps)));
  if (api->deps_.security != nullptr) {
    auto server = api->deps_.security->MakeServer();
    if (!server.ok()) return server.status();
    api->server_ = *std::move(server);
  }
  http::ConfigureServer(*api->server_, {.threads = intake.http_threads,
                                        .max_body_bytes = intake.max_body_bytes,
                                        .io_timeout = absl::Seconds(10)});
  api->Routes(intake);
  auto serving = http::ServingThread::Start(*api->server_, listen);
  if (!serving.ok()) return serving.status();
  api->serving_ = *std::move(serving);
  return api;
}

void HttpApi::Routes(const IntakeConfig& intake) {
  httplib::Server& s = *server_;
  Intake& in = deps_.intake;

  HttpSecurity* security = deps_.security;
  if (security != nullptr) {
    // Intake handlers admit their own requests (they need the principal).
    s.set_pre_routing_handler([security](const httplib::Request& req, httplib::Response& res) {
      const EndpointClass c = ClassifyPath(req.path);
      if (c == EndpointClass::kIntake || security->Admit(req, res, c, nullptr)) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      return httplib::Server::HandlerResponse::Handled;
    });
  }

  // Prometheus pushes and Alertmanager webhooks differ only in the parser
  // and the intake source.
  using AlertParser = absl::StatusOr<AlertBatch> (*)(absl::string_view, absl::Time);
  auto alert_handler = [&in, security](IntakeSource source, AlertParser parse) {
    return [&in, security, source, parse](const httplib::Request& req, httplib::Response& res) {
      Principal principal;
      if (!AdmitIntake(security, req, res, &principal)) return;
      if (!JsonContentType(req, res)) {
        in.CountRejected(source, 1);
        return;
      }
      const absl::Time now = absl::Now();
      auto batch = parse(req.body, now);
      if (!batch.ok()) {
        in.CountRejected(source, 1);
        JsonError(res, 400, batch.status().message());
        return;
      }
      const int total = static_cast<int>(batch->alerts.size() + batch->rejected.size());
      const int forbidden = FilterAlertsForPrincipal(principal, &*batch);
      Reply(res, in.AcceptAlerts(*std::move(batch), source, now), total);
      FinishForbidden(security, res, forbidden, total);
    };
  };
  s.Post("/api/v1/alerts", alert_handler(IntakeSource::kPrometheus, &ParsePrometheusAlerts));
  s.Post("/api/v2/alerts", alert_handler(IntakeSource::kPrometheus, &ParsePrometheusAlerts));
  s.Post("/api/v1/webhooks/alertmanager",
         alert_handler(IntakeSource::kAlertmanager, &ParseAlertmanagerWebhook));

  s.Post("/api/v1/events", [&in, security](const httplib::Request& req, httplib::Response& res) {
    Principal principal;
    if (!AdmitIntake(security, req, res, &principal)) return;
    const absl::Time now = absl::Now();
    const std::string ct = req.get_header_value("Content-Type");
    // Every mode yields a batch (a single event is a batch of one), so the
    // rest is shared.
    absl::StatusOr<CloudEventBatch> batch;
    auto one = [](absl::StatusOr<EventPtr> event) -> absl::StatusOr<CloudEventBatch> {
      if (!event.ok()) return event.status();
      return CloudEventBatch{{*std::move(event)}, {}};
    };
    switch (ModeForContentType(ct)) {
      case CloudEventsMode::kStructured:
        batch = one(ParseStructuredCloudEvent(req.body, now));
        break;
      case CloudEventsMode::kBatch:
        batch = ParseCloudEventBatch(req.body, now);
        break;
      case CloudEventsMode::kBinary: {
        std::vector<std::pair<std::string, std::string>> headers(req.headers.begin(),
                                                                 req.headers.end());
        batch = one(ParseBinaryCloudEvent(headers, ct, req.body, now));
        break;
      }
    }
    if (!batch.ok()) {
      in.CountRejected(IntakeSource::kCloudEvents, 1);
      JsonError(res, 400, batch.status().message());
      return;
    }
    const int total = static_cast<int>(batch->events.size() + batch->rejected.size());
    const int forbidden = FilterEventsForPrincipal(principal, &batch->events, &batch->rejected);
    Reply(res, in.AcceptEvents(std::move(batch->events), std::move(batch->rejected), now), total);
    FinishForbidden(security, res, forbidden, total);
  });

  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  s.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    if (deps_.ready()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready\n", "text/plain");
    }
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(deps_.metrics.registry.Expose(), std::string(metrics::Registry::kContentType));
  });
  s.Get("/api/v1/flows", [this](const httplib::Request& req, httplib::Response& res) {
    FlowFilter filter;
    filter.state = req.get_param_value("state");
    filter.rule = req.get_param_value("rule");
    if (!filter.state.empty() && filter.state != "queued" && filter.state != "running" &&
        filter.state != "retrying" && filter.state != "succeeded" && filter.state != "failed") {
      JsonError(res, 400, absl::StrCat("unknown state \"", filter.state,
                                       "\" (queued, running, retrying, succeeded, failed)"));
      return;
    }
    if (req.has_param("limit")) {
      int limit;
      if (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 1 || limit > 10000) {
        JsonError(res, 400, "limit must be a number from 1 to 10000");
        return;
      }
      filter.limit = static_cast<size_t>(limit);
    }
    res.set_content(FlowsToJson(deps_.flows.List(filter)), kJson);
  });
  s.Post(R"(/api/v1/flows/([0-9a-f]{1,64})/replay)",
         [this](const httplib::Request& req, httplib::Response& res) {
           const std::string id = req.matches[1];
           absl::Status st = deps_.replay(id);
           if (st.ok()) {
             res.status = 202;
             res.set_content(nlohmann::json{{"replayed", id}}.dump(), kJson);
             return;
           }
           const int code = st.code() == absl::StatusCode::kNotFound ? 404
                            : st.code() == absl::StatusCode::kFailedPrecondition ? 409
                                                                                  : 500;
           JsonError(res, code, st.message());
         });
  s.Get("/api/v1/rules", [this](const httplib::Request&, httplib::Response& res) {
    auto rs = deps_.ruleset();
    if (rs == nullptr) {
      JsonError(res, 503, "no rules loaded");
      return;
    }
    res.set_content(rs->ToJson(), kJson);
  });

  // Wrong methods on known paths: 405 with Allow, not a bare 404.
  auto method_not_allowed = [](const char* allow) {
    return [allow](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", allow);
      JsonError(res, 405, absl::StrCat("method ", req.method, " not allowed on ", req.path,
                                       " (use ", allow, ")"));
    };
  };
  for (const char* p : {"/api/v1/alerts", "/api/v2/alerts", "/api/v1/webhooks/alertmanager",
                        "/api/v1/events"}) {
    s.Get(p, method_not_allowed("POST"));
    s.Put(p, method_not_allowed("POST"));
    s.Delete(p, method_not_allowed("POST"));
  }
  for (const char* p : {"/healthz", "/readyz", "/metrics", "/api/v1/flows", "/api/v1/rules"}) {
    s.Post(p, method_not_allowed("GET"));
  }

  const size_t limit = intake.max_body_bytes;
  s.set_error_handler([limit](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      JsonError(res, 413, absl::StrCat("request body larger than ", limit, " bytes"));
    } else if (res.status == 404) {
      JsonError(res, 404, absl::StrCat("no such endpoint: ", req.method, " ", req.path));
    } else {
      JsonError(res, res.status, absl::StrCat("HTTP ", res.status));
    }
  });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                 std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    deps_.logger.error("{} {}: internal error: {}", req.method, req.path, what);
    JsonError(res, 500, "internal error");
  });
  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    deps_.metrics.http_requests
        .WithLabels({std::string(HandlerName(req.path)), std::to_string(res.status)})
        .Inc();
  });
}

}  // namespace hollowtrees::engine
