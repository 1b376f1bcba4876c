#include "engine/http/http_api.h"

#include <httplib.h>

#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/common/logging.h"
#include "lib/common/status_macros.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hollowtrees::engine {
namespace {

constexpr char kJson[] = "application/json";

using http::JsonError;

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

// --- Security hooks (engine/http/http_security.h) ---

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

// --- Handlers ---

// Prometheus pushes and Alertmanager webhooks differ only in the parser and
// the intake source.
using AlertParser = absl::StatusOr<AlertBatch> (*)(absl::string_view, absl::Time,
                                                   const EventLimits&);

httplib::Server::Handler AlertHandler(Intake& in, HttpSecurity* security, IntakeSource source,
                                      AlertParser parse, const EventLimits& limits) {
  return [&in, security, source, parse, limits](const httplib::Request& req,
                                                httplib::Response& res) {
    Principal principal;
    if (!AdmitIntake(security, req, res, &principal)) return;
    if (!JsonContentType(req, res)) {
      in.CountRejected(source, 1);
      return;
    }
    const absl::Time now = absl::Now();
    auto batch = parse(req.body, now, limits);
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
}

// Every CloudEvents mode yields a batch (a single event is a batch of one),
// so the rest of the handler is shared.
absl::StatusOr<CloudEventBatch> ParseCloudEvents(const httplib::Request& req, absl::Time now,
                                                 const EventLimits& limits) {
  auto one = [](absl::StatusOr<EventPtr> event) -> absl::StatusOr<CloudEventBatch> {
    HT_ASSIGN_OR_RETURN(EventPtr e, std::move(event));
    return CloudEventBatch{{std::move(e)}, {}};
  };
  const std::string ct = req.get_header_value("Content-Type");
  switch (ModeForContentType(ct)) {
    case CloudEventsMode::kStructured:
      return one(ParseStructuredCloudEvent(req.body, now, limits));
    case CloudEventsMode::kBatch:
      return ParseCloudEventBatch(req.body, now, limits);
    case CloudEventsMode::kBinary: {
      std::vector<std::pair<std::string, std::string>> headers(req.headers.begin(),
                                                               req.headers.end());
      return one(ParseBinaryCloudEvent(headers, ct, req.body, now, limits));
    }
  }
  return absl::InternalError("unknown CloudEvents mode");
}

httplib::Server::Handler EventsHandler(Intake& in, HttpSecurity* security,
                                       const EventLimits& limits) {
  return [&in, security, limits](const httplib::Request& req, httplib::Response& res) {
    Principal principal;
    if (!AdmitIntake(security, req, res, &principal)) return;
    const absl::Time now = absl::Now();
    absl::StatusOr<CloudEventBatch> batch = ParseCloudEvents(req, now, limits);
    if (!batch.ok()) {
      in.CountRejected(IntakeSource::kCloudEvents, 1);
      JsonError(res, 400, batch.status().message());
      return;
    }
    const int total = static_cast<int>(batch->events.size() + batch->rejected.size());
    const int forbidden = FilterEventsForPrincipal(principal, &batch->events, &batch->rejected);
    Reply(res, in.AcceptEvents(std::move(batch->events), std::move(batch->rejected), now), total);
    FinishForbidden(security, res, forbidden, total);
  };
}

void Healthz(const httplib::Request&, httplib::Response& res) {
  res.set_content("ok\n", "text/plain");
}

httplib::Server::Handler ReadyzHandler(const std::function<absl::Status()>& ready) {
  return [&ready](const httplib::Request&, httplib::Response& res) {
    if (absl::Status s = ready(); s.ok()) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content(absl::StrCat("not ready: ", s.message(), "\n"), "text/plain");
    }
  };
}

httplib::Server::Handler MetricsHandler(EngineMetrics& engine_metrics) {
  return [&engine_metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine_metrics.registry.Expose(), std::string(metrics::Registry::kContentType));
  };
}

// GET /api/v1/flows?state=&rule=&limit=
absl::StatusOr<FlowFilter> ParseFlowFilter(const httplib::Request& req) {
  FlowFilter filter;
  filter.state = req.get_param_value("state");
  filter.rule = req.get_param_value("rule");
  if (!filter.state.empty() && filter.state != "queued" && filter.state != "running" &&
      filter.state != "retrying" && filter.state != "succeeded" && filter.state != "failed") {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown state \"", filter.state, "\" (queued, running, retrying, succeeded, failed)"));
  }
  if (req.has_param("limit")) {
    int limit;
    if (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 1 || limit > 10000) {
      return absl::InvalidArgumentError("limit must be a number from 1 to 10000");
    }
    filter.limit = static_cast<size_t>(limit);
  }
  return filter;
}

httplib::Server::Handler FlowsHandler(FlowStore& flows) {
  return [&flows](const httplib::Request& req, httplib::Response& res) {
    absl::StatusOr<FlowFilter> filter = ParseFlowFilter(req);
    if (!filter.ok()) {
      JsonError(res, 400, filter.status().message());
      return;
    }
    res.set_content(FlowsToJson(flows.List(*filter)), kJson);
  };
}

httplib::Server::Handler ReplayHandler(
    const std::function<absl::Status(const std::string&)>& replay) {
  return [&replay](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    absl::Status st = replay(id);
    if (st.ok()) {
      res.status = 202;
      res.set_content(nlohmann::json{{"replayed", id}}.dump(), kJson);
      return;
    }
    const int code = st.code() == absl::StatusCode::kNotFound             ? 404
                     : st.code() == absl::StatusCode::kFailedPrecondition ? 409
                                                                          : 500;
    JsonError(res, code, st.message());
  };
}

httplib::Server::Handler RulesHandler(
    const std::function<std::shared_ptr<const Ruleset>()>& ruleset) {
  return [&ruleset](const httplib::Request&, httplib::Response& res) {
    auto rs = ruleset();
    if (rs == nullptr) {
      JsonError(res, 503, "no rules loaded");
      return;
    }
    res.set_content(rs->ToJson(), kJson);
  };
}

httplib::Server::Handler StatusHandler(const std::function<std::string()>& status) {
  return [&status](const httplib::Request&, httplib::Response& res) {
    res.set_content(status(), kJson);
  };
}

// --- The route table ---

enum Method : unsigned { kGet = 1, kPost = 2, kPut = 4, kDelete = 8 };

using AddHandler = httplib::Server& (httplib::Server::*)(const std::string&,
                                                          httplib::Server::Handler);
struct MethodInfo {
  Method bit;
  const char* name;
  AddHandler add;  // registers a handler for it
};
const MethodInfo kMethods[] = {{kGet, "GET", &httplib::Server::Get},
                               {kPost, "POST", &httplib::Server::Post},
                               {kPut, "PUT", &httplib::Server::Put},
                               {kDelete, "DELETE", &httplib::Server::Delete}};

}  // namespace

// One route of the API. The handler names in the metrics, the 405 answers
// and the authentication classes all come from this table.
struct HttpApi::Route {
  unsigned methods;  // served (Method bits)
  unsigned refused;  // answered 405 with Allow: the served methods
  std::string path;  // a literal path, or a regex when `pattern`
  bool pattern;
  std::string metrics_name;  // the handler label of hollowtrees_http_requests_total
  EndpointClass auth;        // checked before routing; intake handlers admit their own
  httplib::Server::Handler handler;
  std::regex regex = std::regex();  // `path` compiled, when `pattern`
};

std::vector<HttpApi::Route> HttpApi::RouteTable(const EventLimits& limits) {
  Intake& in = deps_.intake;
  HttpSecurity* sec = deps_.security;
  constexpr unsigned kNotPost = kGet | kPut | kDelete;
  constexpr bool kLiteral = false;
  using C = EndpointClass;
  // methods, 405 for, path, pattern?, metrics handler name, auth class, handler
  return {
      {kPost, kNotPost, "/api/v1/alerts", kLiteral, "/api/v1/alerts", C::kIntake,
       AlertHandler(in, sec, IntakeSource::kPrometheus, &ParsePrometheusAlerts, limits)},
      {kPost, kNotPost, "/api/v2/alerts", kLiteral, "/api/v2/alerts", C::kIntake,
       AlertHandler(in, sec, IntakeSource::kPrometheus, &ParsePrometheusAlerts, limits)},
      {kPost, kNotPost, "/api/v1/webhooks/alertmanager", kLiteral, "/api/v1/webhooks/alertmanager",
       C::kIntake, AlertHandler(in, sec, IntakeSource::kAlertmanager, &ParseAlertmanagerWebhook, limits)},
      {kPost, kNotPost, "/api/v1/events", kLiteral, "/api/v1/events", C::kIntake,
       EventsHandler(in, sec, limits)},
      {kGet, kPost, "/healthz", kLiteral, "/healthz", C::kOpen, &Healthz},
      {kGet, kPost, "/readyz", kLiteral, "/readyz", C::kOpen, ReadyzHandler(deps_.ready)},
      {kGet, kPost, "/metrics", kLiteral, "/metrics", C::kMetrics, MetricsHandler(deps_.metrics)},
      {kGet, kPost, "/api/v1/flows", kLiteral, "/api/v1/flows", C::kApi, FlowsHandler(deps_.flows)},
      // Counted as "other", as before the table.
      {kPost, 0, R"(/api/v1/flows/([0-9a-f]{1,64})/replay)", /*pattern=*/true, "other", C::kApi,
       ReplayHandler(deps_.replay)},
      {kGet, kPost, "/api/v1/rules", kLiteral, "/api/v1/rules", C::kApi,
       RulesHandler(deps_.ruleset)},
      {kGet, kPost, "/api/v1/status", kLiteral, "/api/v1/status", C::kApi,
       StatusHandler(deps_.status)},
  };
}

const HttpApi::Route* HttpApi::FindRoute(const std::string& path) const {
  for (const Route& r : routes_) {
    if (!r.pattern && r.path == path) return &r;
  }
  for (const Route& r : routes_) {
    if (r.pattern && std::regex_match(path, r.regex)) return &r;
  }
  return nullptr;
}

HttpApi::HttpApi(HttpApiDeps deps)
    : deps_(std::move(deps)), server_(std::make_unique<httplib::Server>()) {}

HttpApi::~HttpApi() = default;

absl::StatusOr<std::unique_ptr<HttpApi>> HttpApi::Start(const http::HostPort& listen,
                                                        const IntakeConfig& intake,
                                                        HttpApiDeps deps) {
  std::unique_ptr<HttpApi> api(new HttpApi(std::move(deps)));
  if (api->deps_.security != nullptr) {
    HT_ASSIGN_OR_RETURN(api->server_, api->deps_.security->MakeServer());
  }
  http::ConfigureServer(*api->server_, {.threads = intake.http_threads,
                                        .max_body_bytes = intake.max_body_bytes,
                                        .io_timeout = absl::Seconds(10)});
  api->Routes(intake);
  HttpApi* raw = api.get();
  HT_ASSIGN_OR_RETURN(
      api->serving_,
      http::ServingThread::Start(
          *api->server_, listen,
          {.request_timeout = absl::Seconds(10), .on_cut = [raw](const http::CutConnection& c) {
             raw->deps_.metrics.http_requests_cut.Inc();
             raw->deps_.logger.warn(
                 "cut the connection from {}: its request was not complete after {} (a slow or "
                 "stalled sender)",
                 c.peer, absl::FormatDuration(c.open));
           }}));
  return api;
}

void HttpApi::Routes(const IntakeConfig& intake) {
  routes_ = RouteTable(intake.limits);
  for (Route& r : routes_) {
    if (r.pattern) r.regex = std::regex(r.path);
  }
  if (deps_.security != nullptr) AdmitBeforeRouting();
  for (const Route& r : routes_) Serve(r);
  AnswerErrorsInJson(intake.max_body_bytes);
  CountRequests();
}

void HttpApi::AdmitBeforeRouting() {
  HttpSecurity* security = deps_.security;
  server_->set_pre_routing_handler(
      [this, security](const httplib::Request& req, httplib::Response& res) {
        // Paths no route serves are classed by their prefix (ClassifyPath).
        const Route* route = FindRoute(req.path);
        const EndpointClass c = route != nullptr ? route->auth : ClassifyPath(req.path);
        // Intake handlers admit their own requests (they need the principal).
        if (c == EndpointClass::kIntake || security->Admit(req, res, c, nullptr)) {
          return httplib::Server::HandlerResponse::Unhandled;
        }
        return httplib::Server::HandlerResponse::Handled;
      });
}

// The route's handler for its methods; 405 with Allow for the refused ones
// (a wrong method on a known path is not a bare 404).
void HttpApi::Serve(const Route& route) {
  std::vector<std::string> allowed;
  for (const MethodInfo& m : kMethods) {
    if (route.methods & m.bit) allowed.push_back(m.name);
  }
  const std::string allow = absl::StrJoin(allowed, ", ");
  httplib::Server& s = *server_;
  for (const MethodInfo& m : kMethods) {
    if (route.methods & m.bit) (s.*m.add)(route.path, route.handler);
    if (route.refused & m.bit) {
      (s.*m.add)(route.path, [allow](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Allow", allow);
        JsonError(res, 405, absl::StrCat("method ", req.method, " not allowed on ", req.path,
                                         " (use ", allow, ")"));
      });
    }
  }
}

void HttpApi::AnswerErrorsInJson(size_t max_body_bytes) {
  http::AnswerServerErrorsInJson(*server_, max_body_bytes);
  server_->set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
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
}

void HttpApi::CountRequests() {
  server_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const Route* route = FindRoute(req.path);
    deps_.metrics.http_requests
        .WithLabels({route != nullptr ? route->metrics_name : "other", std::to_string(res.status)})
        .Inc();
  });
}

}  // namespace hollowtrees::engine
